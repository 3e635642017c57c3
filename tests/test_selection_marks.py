"""Selection as data: selecting, approving, rejecting a beat's take and asking for a
retake, on a real episode run into a real filesystem backend."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from recoil_core.model import Scene
from recoil_core.selection import (
    MarkAction,
    SelectionError,
    Verdict,
    approve,
    cut_take,
    describe_mark,
    load_marks,
    mark_lines,
    pending_retakes,
    reject,
    request_retake,
    select_take,
)
from recoil_core.testing.doubles import Outcome, ScriptedProvider
from recoil_core.testing.harness import RunHarness
from recoil_core.testing.plans import canonical_plan, canonical_shot

P, E = "p", "EP001"


def two_shots():  # type: ignore[no-untyped-def]
    return canonical_plan([canonical_shot("EP001_SH01", 1), canonical_shot("EP001_SH02", 1)])


@pytest.fixture
def harness(tmp_path: Path) -> RunHarness:
    harness = RunHarness(tmp_path, provider=ScriptedProvider(Outcome(cost_usd=0.5)))
    harness.run(two_shots(), strategy="solo", max_takes=2)
    return harness


def nth_scene(harness: RunHarness, index: int = 0) -> Scene:
    """The episode's ``index``-th scene (solo: one scene of one beat per shot)."""
    scene_id = harness.backend.list_scenes(P, E)[index]
    found = harness.backend.load_active(P, E, scene_id)
    assert found is not None
    return found[0]


def digests(harness: RunHarness) -> dict[str, str]:
    """Every file of the episode but the review marks, with its content digest."""
    return {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in harness.files()
        if "review" not in path.parts
    }


def test_select_approve_reject_and_retake_are_recorded_with_who_and_when(
    harness: RunHarness,
) -> None:
    scene = nth_scene(harness)
    beat = scene.beats[0]
    take = beat.takes[0]
    before = digests(harness)

    selected = select_take(
        harness.backend, P, E, scene.scene_id, beat.beat_id, take.take_id, by="ana"
    )
    assert (selected.selected_take, selected.by, selected.revision) == (take.take_id, "ana", 1)
    approved = approve(harness.backend, P, E, scene.scene_id, beat.beat_id, by="ben", note="ok")
    assert (approved.verdict, approved.note, approved.by) == ("approved", "ok", "ben")
    rejected = reject(harness.backend, P, E, scene.scene_id, beat.beat_id, by="ana", note="soft")
    assert rejected.verdict is Verdict.REJECTED and rejected.note == "soft"
    retake = request_retake(harness.backend, P, E, scene.scene_id, beat.beat_id, by="ana")
    assert retake.retakes_requested == 1

    mark = load_marks(harness.new_backend(), P, E)[(scene.scene_id, beat.beat_id)]
    assert [e.action for e in mark.history] == [
        MarkAction.SELECT,
        MarkAction.APPROVE,
        MarkAction.REJECT,
        MarkAction.RETAKE,
    ]
    assert all(e.at.endswith("+00:00") for e in mark.history)
    assert mark.at == mark.history[-1].at and mark.by == "ana"
    assert pending_retakes(mark, beat) == 1
    assert describe_mark(mark, beat) == (
        f"selected {take.take_id}, rejected by ana: soft, 1 retake(s) pending"
    )
    assert mark_lines(harness.backend, P, E, [scene]) == {
        (scene.scene_id, beat.beat_id): describe_mark(mark, beat)
    }
    assert digests(harness) == before  # takes, ledger and renders untouched
    assert nth_scene(harness) == scene


def test_selecting_the_approved_take_again_keeps_the_verdict(harness: RunHarness) -> None:
    scene = nth_scene(harness)
    beat = scene.beats[0]
    approve(harness.backend, P, E, scene.scene_id, beat.beat_id, by="ana")
    mark = select_take(
        harness.backend, P, E, scene.scene_id, beat.beat_id, beat.takes[0].take_id, by="ana"
    )
    assert mark.verdict is Verdict.APPROVED  # same take: the verdict stands
    assert cut_take(beat, mark) == beat.takes[0]


def test_approving_without_a_selection_pins_the_newest_succeeded_take(
    harness: RunHarness,
) -> None:
    scene = nth_scene(harness, 1)
    beat = scene.beats[0]
    mark = approve(harness.backend, P, E, scene.scene_id, beat.beat_id, by="ana")
    assert mark.selected_take == beat.takes[-1].take_id


def test_unknown_or_unfinished_takes_are_refused_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    provider = ScriptedProvider(Outcome(state="failed"))
    harness = RunHarness(tmp_path, provider=provider)
    harness.run(two_shots(), strategy="solo")
    scene = nth_scene(harness)
    beat = scene.beats[0]
    with pytest.raises(SelectionError, match="not succeeded"):
        select_take(
            harness.backend, P, E, scene.scene_id, beat.beat_id, beat.takes[0].take_id, by="a"
        )
    with pytest.raises(SelectionError, match="has no take 'nope'"):
        select_take(harness.backend, P, E, scene.scene_id, beat.beat_id, "nope", by="a")
    with pytest.raises(SelectionError, match="has no beat"):
        request_retake(harness.backend, P, E, scene.scene_id, "NOPE", by="a")
    with pytest.raises(SelectionError, match="has no scene"):
        request_retake(harness.backend, P, E, "NOPE", beat.beat_id, by="a")
    with pytest.raises(SelectionError, match="no succeeded take"):
        approve(harness.backend, P, E, scene.scene_id, beat.beat_id, by="a")
    with pytest.raises(SelectionError, match="note"):
        reject(harness.backend, P, E, scene.scene_id, beat.beat_id, by="a", note=" ")
    assert load_marks(harness.backend, P, E) == {}


def test_two_writers_keep_both_changes(harness: RunHarness) -> None:
    scene = nth_scene(harness)
    beat = scene.beats[0]
    one, two = harness.backend, harness.new_backend()
    request_retake(one, P, E, scene.scene_id, beat.beat_id, by="ana")
    request_retake(two, P, E, scene.scene_id, beat.beat_id, by="ben")
    approve(one, P, E, scene.scene_id, beat.beat_id, by="ana")
    mark = load_marks(two, P, E)[(scene.scene_id, beat.beat_id)]
    assert mark.retakes_requested == 2 and mark.verdict is Verdict.APPROVED
    assert mark.revision == 3


def test_a_stored_mark_of_another_kind_is_reported_not_used(harness: RunHarness) -> None:
    from recoil_core.errors import CorruptDocumentError

    scene = nth_scene(harness)
    beat_id = scene.beats[0].beat_id
    harness.backend.save_mark(
        P,
        E,
        scene.scene_id,
        beat_id,
        {"schema_version": 2, "document": "scene"},
        expected_revision=0,
    )
    with pytest.raises(CorruptDocumentError, match=f"mark of {P}/{E}/{scene.scene_id}/{beat_id}"):
        load_marks(harness.backend, P, E)
