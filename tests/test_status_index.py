"""The filesystem backend's status index (``.status-index.json``): ``recoil status`` keeps
what it read of each scene, keyed by the signatures of the scene's manifest and active
version document, and reads a scene again whenever one of them changed: by a write, a
hand edit that keeps the file's size and mtime, a deleted scene, a conform. A damaged
index is ignored, and a file changed just before a reading is never indexed ("racily
clean", as git's index).

The tests move the index's clock ten seconds ahead, as if status ran ten seconds after
the episode was written, so that the scenes are indexed without waiting."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from recoil_core.cli.status import _print_status
from recoil_core.model import StepState, TakeState
from recoil_core.persistence import status_index
from recoil_core.persistence.filesystem import FilesystemBackend
from recoil_core.persistence.status_index import STATUS_INDEX_FILE
from recoil_core.runner import queries
from recoil_core.testing.conformance import EPISODE, PROJECT, coverage_scene, solo_scene
from recoil_core.testing.doubles import Without

LATER_NS = 10_000_000_000


@pytest.fixture
def later(monkeypatch: pytest.MonkeyPatch) -> None:
    """Status runs ten seconds after the episode's files were written."""
    monkeypatch.setattr(status_index, "_clock_ns", lambda: time.time_ns() + LATER_NS)


class Counting(FilesystemBackend):
    """Counts the scenes status reads from their documents."""

    reads = 0

    def _status_documents(self, *args: Any, **kwargs: Any) -> Any:
        Counting.reads += 1
        return super()._status_documents(*args, **kwargs)


def episode(backend: FilesystemBackend) -> None:
    """Three scenes, takes in several states (one billable, one needing attention)."""
    scene = coverage_scene("PASS_A")
    beat = scene.beats[0]
    done = beat.takes[0]
    for state, step_state, extra in (
        (TakeState.SUBMITTED, StepState.SUBMITTED, {}),
        (TakeState.UNKNOWN, StepState.UNKNOWN, {"attention": "create may have reached Ark"}),
        (TakeState.FAILED, StepState.FAILED, {"error": "content filter"}),
    ):
        take = beat.new_take(done.workflow.copy())
        take.state = state
        take.workflow.steps[0].state = step_state
        take.workflow.steps[0].job_id = f"job-{state}"
        take.render_path = None
        for name, value in extra.items():
            setattr(take, name, value)
    backend.create_scene(PROJECT, EPISODE, scene)
    backend.create_scene(PROJECT, EPISODE, solo_scene("SOLO_1", ["EP001_SH03", "EP001_SH04"]))
    backend.create_scene(PROJECT, EPISODE, coverage_scene("PASS_B"))


def status(backend: Any) -> tuple[dict[str, Any], str]:
    """The report as JSON and as the text ``recoil status`` prints."""
    report = queries.status(backend, PROJECT, [EPISODE])
    return report.to_dict(), text_of(report)


def text_of(report: queries.StatusReport) -> str:
    import io
    from contextlib import redirect_stdout

    out = io.StringIO()
    with redirect_stdout(out):
        _print_status(report)
    return out.getvalue()


def truth(root: Path) -> tuple[dict[str, Any], str]:
    """What status says reading every document (a fresh backend, no index)."""
    return status(Without(FilesystemBackend(root), "status_index"))


def index_path(root: Path) -> Path:
    return root / PROJECT / EPISODE / STATUS_INDEX_FILE


def scene_document(root: Path, scene_id: str, version: int = 1) -> Path:
    return root / PROJECT / EPISODE / "scenes" / scene_id / f"v{version:04d}.json"


def test_an_unchanged_episode_is_answered_from_the_index(tmp_path: Path, later: None) -> None:
    episode(FilesystemBackend(tmp_path))
    first = status(Counting(tmp_path))
    assert index_path(tmp_path).is_file()
    Counting.reads = 0

    again = status(Counting(tmp_path))

    assert Counting.reads == 0  # every scene from the index
    assert again == first == truth(tmp_path)
    assert json.dumps(again[0]) == json.dumps(truth(tmp_path)[0])


def test_a_hand_edit_keeping_size_and_mtime_is_seen(tmp_path: Path, later: None) -> None:
    episode(FilesystemBackend(tmp_path))
    status(FilesystemBackend(tmp_path))  # indexes every scene
    path = scene_document(tmp_path, "PASS_B")
    before = os.stat(path)
    raw = path.read_bytes()
    edited = raw.replace(b'"state":"succeeded"', b'"state":"submitted"')
    assert edited != raw and len(edited) == len(raw)
    with open(path, "r+b") as file:  # in place: same inode, same size
        file.write(edited)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the mtime put back
    after = os.stat(path)
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )

    found = status(Counting(tmp_path))

    assert found == truth(tmp_path)
    (edited_scene,) = [s for s in found[0]["episodes"][0]["scenes"] if s["scene_id"] == "PASS_B"]
    assert edited_scene["beats"][0]["takes"][0]["state"] == "submitted"


def test_a_change_in_the_second_of_the_index_write_is_seen(tmp_path: Path) -> None:
    """Without the clock moved: every file is younger than the racily-clean margin, so
    nothing is indexed and an edit at once after the reading is read."""
    episode(FilesystemBackend(tmp_path))
    first = status(FilesystemBackend(tmp_path))
    assert not index_path(tmp_path).exists()  # nothing old enough to index
    backend = FilesystemBackend(tmp_path)
    scene = backend.load_scene(PROJECT, EPISODE, "PASS_B")
    assert scene is not None
    scene.beats[0].takes[0].state = TakeState.FAILED
    scene.beats[0].takes[0].error = "edited"
    backend.save_scene(PROJECT, EPISODE, scene, expected_version=1)

    found = status(FilesystemBackend(tmp_path))

    assert found != first and found == truth(tmp_path)
    (edited,) = [s for s in found[0]["episodes"][0]["scenes"] if s["scene_id"] == "PASS_B"]
    assert edited["beats"][0]["takes"][0]["error"] == "edited"


def test_racily_clean_files_are_not_indexed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    episode(FilesystemBackend(tmp_path))
    # status 1.5 s after the writes: within the margin, nothing indexed
    monkeypatch.setattr(status_index, "_clock_ns", lambda: time.time_ns() + 1_500_000_000)
    status(FilesystemBackend(tmp_path))
    assert not index_path(tmp_path).exists()
    monkeypatch.setattr(status_index, "_clock_ns", lambda: time.time_ns() + LATER_NS)
    status(FilesystemBackend(tmp_path))
    Counting.reads = 0
    status(Counting(tmp_path))
    assert Counting.reads == 0


def test_a_write_a_new_version_and_a_deleted_scene_are_followed(
    tmp_path: Path, later: None
) -> None:
    backend = FilesystemBackend(tmp_path)
    episode(backend)
    status(FilesystemBackend(tmp_path))
    # a run's write (new version of the document), a conform and a removed scene
    scene = backend.load_scene(PROJECT, EPISODE, "PASS_A")
    assert scene is not None
    scene.beats[0].takes[1].state = TakeState.SUCCEEDED
    scene.beats[0].takes[1].workflow.steps[0].state = StepState.SUCCEEDED
    backend.save_scene(PROJECT, EPISODE, scene, expected_version=1)
    changed = coverage_scene("PASS_B", with_take=False)
    changed.beats[0].generation_config["seed"] = 99
    backend.stage_candidate(PROJECT, EPISODE, changed, note="inputs changed")
    backend.conform(PROJECT, EPISODE, "PASS_B")
    solo = tmp_path / PROJECT / EPISODE / "scenes" / "SOLO_1"
    for path in solo.iterdir():
        path.unlink()
    solo.rmdir()

    found = status(FilesystemBackend(tmp_path))

    assert found == truth(tmp_path)
    scenes = {s["scene_id"]: s for s in found[0]["episodes"][0]["scenes"]}
    assert set(scenes) == {"PASS_A", "PASS_B"} and scenes["PASS_B"]["version"] == 2
    assert scenes["PASS_A"]["beats"][0]["takes"][1]["state"] == "succeeded"
    assert status(FilesystemBackend(tmp_path)) == found  # and the index that followed


@pytest.mark.parametrize(
    "damage",
    ["garbage", "truncated", "empty", "digest", "entries", "other-tag"],
)
def test_a_damaged_index_is_ignored(tmp_path: Path, later: None, damage: str) -> None:
    episode(FilesystemBackend(tmp_path))
    expected = status(FilesystemBackend(tmp_path))
    path = index_path(tmp_path)
    raw = path.read_bytes()
    head, _, body = raw.partition(b"\n")
    if damage == "garbage":
        raw = b"\x00\xff not an index"
    elif damage == "truncated":
        raw = raw[: len(raw) // 2]
    elif damage == "empty":
        raw = b""
    elif damage == "digest":  # an entry edited by hand: its state changed, digest kept
        raw = head + b"\n" + body.replace(b'"succeeded"', b'"failed"', 1)
    elif damage == "entries":  # a well-formed header over entries of the wrong shape
        body = json.dumps({"SOLO_1": [1, 2], "PASS_A": "x"}).encode()
        header = status_index.StatusIndex(FilesystemBackend(tmp_path), PROJECT, EPISODE, "t")
        header._tag = queries.STATUS_FIELDS
        raw = json.dumps(header._header(body)).encode() + b"\n" + body
    else:
        raw = raw.replace(queries.STATUS_FIELDS.encode(), b"status-fields-0", 1)
    path.write_bytes(raw)

    assert status(FilesystemBackend(tmp_path)) == expected == truth(tmp_path)
    Counting.reads = 0
    status(Counting(tmp_path))
    assert Counting.reads == 0  # the index was written anew


def test_the_index_keeps_what_the_report_needs(tmp_path: Path) -> None:
    """``status_fields`` of each scene's documents give the documents' summaries."""
    backend = FilesystemBackend(tmp_path)
    episode(backend)
    for scene_id in backend.list_scenes(PROJECT, EPISODE):
        documents = backend.load_status_documents(PROJECT, EPISODE, scene_id)
        assert documents is not None
        kept = json.loads(json.dumps(queries.status_fields(*documents)))
        assert queries._from_documents(kept) == queries._from_documents(documents)


def test_no_index_is_written_inside_a_write_batch(tmp_path: Path, later: None) -> None:
    backend = FilesystemBackend(tmp_path)
    episode(backend)
    with backend.write_batch():
        assert backend.status_index(PROJECT, EPISODE, queries.STATUS_FIELDS) is None
        found = status(backend)
    assert not index_path(tmp_path).exists()
    assert found == truth(tmp_path)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "123456789012345678901234567890"])
def test_a_value_json_would_not_read_back_is_not_indexed(
    tmp_path: Path, later: None, value: str
) -> None:
    """orjson writes NaN as null and refuses integers wider than 64 bits: such a scene is
    read every time, the others are still indexed."""
    episode(FilesystemBackend(tmp_path))
    path = scene_document(tmp_path, "PASS_B")
    raw = path.read_bytes()
    assert b'"cost_usd":' in raw
    path.write_bytes(re.sub(rb'"cost_usd":[^,}]+', b'"cost_usd":' + value.encode(), raw))

    first = status(Counting(tmp_path))
    Counting.reads = 0
    again = status(Counting(tmp_path))

    assert Counting.reads == 1  # PASS_B only
    expected = truth(tmp_path)
    assert json.dumps(again[0]) == json.dumps(first[0]) == json.dumps(expected[0])
    assert again[1] == expected[1]
