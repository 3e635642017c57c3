"""A requested retake: one more take of a beat that succeeded, on the next run, within
``--max-takes`` and the budget; the request is used up once that take starts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from recoil_core.errors import BudgetExhaustedError
from recoil_core.model import Beat, TakeState
from recoil_core.selection import (
    Verdict,
    approve,
    cut_take,
    load_marks,
    pending_retakes,
    request_retake,
    select_take,
)
from recoil_core.testing.doubles import Outcome, ScriptedProvider
from recoil_core.testing.harness import RunHarness
from recoil_core.testing.plans import canonical_plan, canonical_shot

P, E = "p", "EP001"
PLAN = canonical_plan([canonical_shot("EP001_SH01", 1), canonical_shot("EP001_SH02", 2)])


@pytest.fixture
def harness(tmp_path: Path) -> RunHarness:
    harness = RunHarness(tmp_path, provider=ScriptedProvider(Outcome(cost_usd=1.0)), estimate=1.0)
    harness.run(PLAN, strategy="solo", max_takes=3)
    assert harness.provider.created == 2
    return harness


def beats(harness: RunHarness) -> list[tuple[str, Beat]]:
    out = []
    for scene_id in harness.backend.list_scenes(P, E):
        found = harness.backend.load_active(P, E, scene_id)
        assert found is not None
        out += [(scene_id, beat) for beat in found[0].beats]
    return out


def test_a_retake_adds_one_take_once(harness: RunHarness) -> None:
    (scene_a, beat_a), _ = beats(harness)
    request_retake(harness.backend, P, E, scene_a, beat_a.beat_id, by="ana")

    harness.run(PLAN, strategy="solo", max_takes=3)
    assert harness.provider.created == 3
    (_, beat_a), (_, beat_b) = beats(harness)
    assert [t.state for t in beat_a.takes] == [TakeState.SUCCEEDED, TakeState.SUCCEEDED]
    assert len(beat_b.takes) == 1
    mark = load_marks(harness.backend, P, E)[(scene_a, beat_a.beat_id)]
    assert pending_retakes(mark, beat_a) == 0

    harness.run(PLAN, strategy="solo", max_takes=3)  # the request was used up
    assert harness.provider.created == 3


def test_two_requests_add_two_takes(harness: RunHarness) -> None:
    (scene_a, beat_a), _ = beats(harness)
    request_retake(harness.backend, P, E, scene_a, beat_a.beat_id, by="ana")
    request_retake(harness.backend, P, E, scene_a, beat_a.beat_id, by="ben")
    harness.run(PLAN, strategy="solo", max_takes=3)
    (_, beat_a), _ = beats(harness)
    assert len(beat_a.takes) == 3 and harness.provider.created == 4


def test_a_retake_waits_when_max_takes_is_reached(harness: RunHarness) -> None:
    (scene_a, beat_a), _ = beats(harness)
    request_retake(harness.backend, P, E, scene_a, beat_a.beat_id, by="ana")
    harness.run(PLAN, strategy="solo", max_takes=1)
    assert harness.provider.created == 2
    (_, beat_a), _ = beats(harness)
    mark = load_marks(harness.backend, P, E)[(scene_a, beat_a.beat_id)]
    assert pending_retakes(mark, beat_a) == 1  # still owed: a run with --max-takes 2 makes it


def test_a_retake_stays_within_the_budget(harness: RunHarness) -> None:
    (scene_a, beat_a), _ = beats(harness)
    request_retake(harness.backend, P, E, scene_a, beat_a.beat_id, by="ana")
    with pytest.raises(BudgetExhaustedError):
        harness.run(PLAN, strategy="solo", max_takes=3, budget_usd=2.5)  # 2 spent already
    assert harness.provider.created == 2
    (_, beat_a), _ = beats(harness)
    mark = load_marks(harness.backend, P, E)[(scene_a, beat_a.beat_id)]
    assert pending_retakes(mark, beat_a) == 1


def test_the_selected_take_stays_in_the_cut_after_a_retake(harness: RunHarness) -> None:
    (scene_a, beat_a), _ = beats(harness)
    first = beat_a.takes[0].take_id
    approve(harness.backend, P, E, scene_a, beat_a.beat_id, by="ana")
    request_retake(harness.backend, P, E, scene_a, beat_a.beat_id, by="ana")
    harness.run(PLAN, strategy="solo", max_takes=3)
    (_, beat_a), _ = beats(harness)
    marks = load_marks(harness.backend, P, E)
    mark = marks[(scene_a, beat_a.beat_id)]
    taken = cut_take(beat_a, mark)
    assert taken is not None and taken.take_id == first
    assert cut_take(beat_a, None) == beat_a.takes[-1]  # unmarked: the newest succeeded

    newer = beat_a.takes[-1].take_id
    mark = select_take(harness.backend, P, E, scene_a, beat_a.beat_id, newer, by="ben")
    assert (mark.selected_take, mark.verdict) == (newer, None)  # the verdict was about `first`
    mark = approve(harness.backend, P, E, scene_a, beat_a.beat_id, by="ben")
    assert mark.verdict is Verdict.APPROVED


def test_reconcile_starts_no_retake_and_does_not_read_the_marks(harness: RunHarness) -> None:
    (scene_a, beat_a), _ = beats(harness)
    request_retake(harness.backend, P, E, scene_a, beat_a.beat_id, by="ana")
    marks = harness.projects_root / P / E / "review" / "marks.json"
    marks.write_text("not json")  # a run would report it; following jobs does not need it
    asyncio.run(harness.runner(PLAN, strategy="solo", max_takes=3).follow())
    assert harness.provider.created == 2


def test_a_dry_run_shows_the_requested_retake_and_starts_nothing(harness: RunHarness) -> None:
    (scene_a, beat_a), _ = beats(harness)
    before = harness.run(PLAN, strategy="solo", max_takes=3, dry_run=True)
    assert before.planned == []
    request_retake(harness.backend, P, E, scene_a, beat_a.beat_id, by="ana")

    report = harness.run(PLAN, strategy="solo", max_takes=3, dry_run=True)

    assert [(p.scene_id, p.beat_id) for p in report.planned] == [(scene_a, beat_a.beat_id)]
    assert harness.provider.created == 2
    mark = load_marks(harness.backend, P, E)[(scene_a, beat_a.beat_id)]
    assert pending_retakes(mark, beat_a) == 1
