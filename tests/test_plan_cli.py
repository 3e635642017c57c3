"""`recoil plan validate` through the real CLI executable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from recoil_core.testing.plans import plan_dict, write_plan

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "ep001" / "plan.json"
RECOIL = str(Path(sys.executable).with_name("recoil"))


def recoil(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RECOIL, *args], capture_output=True, text=True, timeout=60, check=False)


def test_valid_plan_exits_zero_with_a_summary() -> None:
    result = recoil("plan", "validate", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout
    assert "3 sequence(s), 12 shot(s), 1 coverage pass(es), 44 s in total" in result.stdout


def test_valid_plan_json_output(tmp_path: Path) -> None:
    path = write_plan(tmp_path)
    result = recoil("plan", "validate", str(path), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is True
    assert data["source"] == str(path)
    assert data["issues"] == []
    assert data["summary"] == {
        "project": "p",
        "episode": "EP001",
        "sequences": 1,
        "shots": 2,
        "coverage_passes": 0,
        "total_duration_s": 10.0,
    }


def test_invalid_plan_lists_every_problem_and_exits_one(tmp_path: Path) -> None:
    path = write_plan(
        tmp_path,
        plan_dict(
            {"SEQ11": ["A", "B", "C", {"shot_id": "D", "duration_s": -1, "lcation": "X"}]},
            project="../up",
        ),
    )
    result = recoil("plan", "validate", str(path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"{path}: 3 problem(s)" in result.stderr
    assert "sequences.SEQ11.shots[3].duration_s: must be more than 0" in result.stderr
    assert "sequences.SEQ11.shots[3].lcation: unknown field" in result.stderr
    assert "project: project '../up' must not contain" in result.stderr


def test_invalid_plan_json_output(tmp_path: Path) -> None:
    path = write_plan(tmp_path, plan_dict({"SEQ11": [{"shot_id": "A", "resolution": "8k"}]}))
    result = recoil("plan", "validate", str(path), "--json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["summary"] is None
    assert data["source"] == str(path)
    assert data["issues"] == [
        {
            "location": "sequences.SEQ11.shots[0].resolution",
            "message": "resolution '8k' is not one of 480p, 720p, 1080p",
        }
    ]


def test_missing_file_is_a_clear_error_without_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    result = recoil("plan", "validate", str(missing))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"{missing}: 1 problem(s)" in result.stderr
    assert "file not found" in result.stderr


def test_syntax_error_reports_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text('{\n  "sequences": {\n    "SEQ1": {"shots": [}\n  }\n}\n')
    result = recoil("plan", "validate", str(path), "--json")
    assert result.returncode == 1
    (issue,) = json.loads(result.stdout)["issues"]
    assert "line 3, column" in issue["message"]


def test_undecodable_strings_are_printed_without_crashing(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text('{"sequences": {"S\\ud800": {"shots": [{"shot_id": "\\udc80"}]}}}')
    result = recoil("plan", "validate", str(path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "problem(s)" in result.stderr
