"""``recoil select``, ``approve``, ``reject`` and ``retake`` as a user runs them, and
``recoil status`` showing the marks: real subprocesses on the example episode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ep001" / "plan.json"


def _json(result: Any) -> dict[str, Any]:
    assert result.stdout, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.fixture
def rendered(recoil_cli: Any) -> dict[str, Any]:
    """The example episode rendered with the animatic; its run report."""
    result = recoil_cli("run", str(EXAMPLE), "--json")
    assert result.returncode == 0, result.stderr
    return _json(result)


def test_marks_from_the_command_line_show_in_status(recoil_cli: Any, rendered: Any) -> None:
    scene = rendered["scenes"][0]
    beat = scene["beats"][0]
    take = beat["takes"][0]["take_id"]
    target = f"{scene['scene_id']}/{beat['beat_id']}"

    selected = recoil_cli("select", str(EXAMPLE), target, take, "--by", "ana", "--json")
    assert selected.returncode == 0, selected.stderr
    assert _json(selected)["mark"]["selected_take"] == take
    approved = recoil_cli("approve", str(EXAMPLE), beat["beat_id"], "--by", "ben", "--json")
    assert approved.returncode == 0, approved.stderr
    assert _json(approved)["mark"]["verdict"] == "approved"
    retake = recoil_cli("retake", str(EXAMPLE), target, "--by", "ana")
    assert retake.returncode == 0, retake.stderr
    assert "1 retake(s) pending" in retake.stdout

    status = recoil_cli("status")
    assert status.returncode == 0, status.stderr
    assert f"review: selected {take}, approved by ben, 1 retake(s) pending" in status.stdout
    data = _json(recoil_cli("status", "--json"))
    (episode,) = data["episodes"]
    assert episode["marks"] == {target: f"selected {take}, approved by ben, 1 retake(s) pending"}


def test_refusals_say_what_to_do_and_exit_2(recoil_cli: Any, rendered: Any) -> None:
    scene = rendered["scenes"][0]
    target = f"{scene['scene_id']}/{scene['beats'][0]['beat_id']}"

    no_note = recoil_cli("reject", str(EXAMPLE), target, "--note", "", "--json")
    assert no_note.returncode == 2
    assert _json(no_note) == {
        "ok": False,
        "error": "SelectionError",
        "message": "say why the take is rejected (a note; the CLI takes --note)",
    }
    unknown = recoil_cli("select", str(EXAMPLE), target, "nope")
    assert unknown.returncode == 2 and "has no take 'nope'" in unknown.stderr
    missing = recoil_cli("approve", str(EXAMPLE), "NO_SUCH_BEAT")
    assert missing.returncode == 2 and "recoil status" in missing.stderr
    assert "review:" not in recoil_cli("status").stdout
