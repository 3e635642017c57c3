"""``recoil group`` as a user runs it: a real plan file and a real ``recoil`` subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from recoil_core.hashing import shotset_hash

RECOIL = shutil.which("recoil", path=str(Path(sys.executable).parent)) or "recoil"

PLAN = {
    "project": "demo",
    "episode": "EP001",
    "sequences": {
        "SEQ01": {
            "location": "LOC_A",
            "shots": [
                {"shot_id": "EP001_SH01", "duration_s": 3, "prompt": "a"},
                {"shot_id": "EP001_SH02", "duration_s": 4, "prompt": "b"},
                {"shot_id": "EP001_SH03", "duration_s": 2, "prompt": "c", "location": "LOC_B"},
            ],
        },
        "SEQ02": {
            "location": "LOC_B",
            "shots": [{"shot_id": "EP001_SH04", "duration_s": 5, "prompt": "d"}],
        },
    },
    "coverage_passes": [
        {
            "pass_id": "EP001_PASS_011_SH01_02_A_ENV",
            "shot_range": ["EP001_SH01", "EP001_SH02"],
            "segments": [
                {"shot_id": "EP001_SH01", "duration_s": 2, "prompt": "a"},
                {"shot_id": "wildcard", "duration_s": 1.5, "prompt": "insert"},
                {"shot_id": "EP001_SH02", "duration_s": 2, "prompt": "b"},
            ],
            "generation_config": {"tier": "pro"},
        },
        {
            "pass_id": "EP001_PASS_012_SH03_04_B_ENV",
            "shot_range": ["EP001_SH03", "EP001_SH04"],
            "segments": [
                {"shot_id": "EP001_SH03", "duration_s": 2},
                {"shot_id": "EP001_SH04", "duration_s": 2},
            ],
        },
    ],
}


@pytest.fixture
def plan_file(tmp_path: Path) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(PLAN), encoding="utf-8")
    return path


def recoil(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RECOIL, *args], capture_output=True, text=True, cwd=cwd, timeout=60, check=False
    )


def units(result: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is True
    return list(data["units"])


def test_group_lists_continuity_units_with_identity_modality_and_duration(
    plan_file: Path,
) -> None:
    result = recoil(
        "group", str(plan_file), "--strategy", "continuity", "--json", cwd=plan_file.parent
    )
    assert units(result) == [
        {
            "scene_id": "BATCH_001",
            "unit_id": "BATCH_001__cont",
            "strategy": "continuity",
            "ordinal": 1,
            "modality": "r2v_multi",
            "shot_ids": ["EP001_SH01", "EP001_SH02"],
            "duration_s": 7.0,
            "estimate_usd": 0.0,
        },
        {
            "scene_id": "BATCH_002",
            "unit_id": "EP001_SH03",
            "strategy": "solo",
            "ordinal": 0,
            "modality": "video_i2v",
            "shot_ids": ["EP001_SH03"],
            "duration_s": 2.0,
            "estimate_usd": 0.0,
        },
        {
            "scene_id": "BATCH_003",
            "unit_id": "EP001_SH04",
            "strategy": "solo",
            "ordinal": 0,
            "modality": "video_i2v",
            "shot_ids": ["EP001_SH04"],
            "duration_s": 5.0,
            "estimate_usd": 0.0,
        },
    ]


def test_group_human_output_is_a_table_with_a_summary(plan_file: Path) -> None:
    result = recoil("group", str(plan_file), "--strategy", "oner", cwd=plan_file.parent)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "scene",
        "unit",
        "strategy",
        "ordinal",
        "modality",
        "shots",
        "duration",
        "est_usd",
    ]
    assert lines[1].split() == [
        "ONER_001",
        "ONER_001__oner",
        "oner",
        "1",
        "r2v_multi",
        "EP001_SH01,EP001_SH02,EP001_SH03",
        "9s",
        "0.0000",
    ]
    assert lines[2].split()[:2] == ["ONER_002", "ONER_002__oner"]
    assert lines[-1] == "2 scene(s), 2 unit(s), 14s with 'oner'; estimated $0.0000 on animatic"


def test_group_estimates_cost_per_unit_on_the_chosen_provider(plan_file: Path) -> None:
    result = recoil(
        "group", str(plan_file), "--provider", "seeddance", "--json", cwd=plan_file.parent
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    estimates = [unit["estimate_usd"] for unit in data["units"]]
    assert data["provider"] == "seeddance"
    assert all(e > 0 for e in estimates)
    assert data["estimated_usd"] == pytest.approx(sum(estimates))
    longer, shorter = estimates[2], estimates[1]
    assert longer > shorter, "a 5 s unit costs more than a 2 s one"


def test_group_options_reach_the_strategy(plan_file: Path) -> None:
    result = recoil(
        "group",
        str(plan_file),
        "-s",
        "continuity",
        "--option",
        "min_multi_shots=3",
        "--json",
        cwd=plan_file.parent,
    )
    assert [u["unit_id"] for u in units(result)] == [
        "EP001_SH01",
        "EP001_SH02",
        "EP001_SH03",
        "EP001_SH04",
    ]


def test_group_selected_coverage_pass_only(plan_file: Path) -> None:
    result = recoil(
        "group",
        str(plan_file),
        "--strategy",
        "coverage",
        "--pass",
        "EP001_PASS_012_SH03_04_B_ENV",
        "--json",
        cwd=plan_file.parent,
    )
    [unit] = units(result)
    assert unit["scene_id"] == "EP001_PASS_012_SH03_04_B_ENV"
    assert unit["ordinal"] == 12


def test_group_coverage_without_selection_lists_every_pass_and_skips_wildcards(
    plan_file: Path,
) -> None:
    result = recoil(
        "group", str(plan_file), "--strategy", "coverage", "--json", cwd=plan_file.parent
    )
    first, second = units(result)
    assert first["unit_id"] == "EP001_PASS_011_SH01_02_A_ENV__cov"
    assert first["shot_ids"] == ["EP001_SH01", "EP001_SH02"]
    assert first["duration_s"] == 5.5
    assert second["ordinal"] == 12
    assert shotset_hash(first["shot_ids"]) == shotset_hash(["EP001_SH02", "EP001_SH01"])  # type: ignore[arg-type]


def test_unknown_strategy_lists_available_ones_without_traceback(plan_file: Path) -> None:
    result = recoil("group", str(plan_file), "--strategy", "nope", cwd=plan_file.parent)
    assert result.returncode == 2
    assert "unknown grouping strategy 'nope'; available: continuity, coverage, oner, solo" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr + result.stdout


def test_unknown_pass_names_it_and_the_plan_passes(plan_file: Path) -> None:
    result = recoil(
        "group",
        str(plan_file),
        "--strategy",
        "coverage",
        "--pass",
        "EP001_PASS_099",
        cwd=plan_file.parent,
    )
    assert result.returncode == 2
    assert "no coverage pass 'EP001_PASS_099'" in result.stderr
    assert "EP001_PASS_011_SH01_02_A_ENV, EP001_PASS_012_SH03_04_B_ENV" in result.stderr
    assert "plan.json" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--option", "max_shots"], "--option 'max_shots': expected key=value"),
        (["--option", "max_shot=2"], "unknown option 'max_shot' (did you mean 'max_shots'?)"),
    ],
)
def test_bad_options_are_user_errors(plan_file: Path, args: list[str], message: str) -> None:
    result = recoil("group", str(plan_file), *args, cwd=plan_file.parent)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_plan_reports_the_plan_problem(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json", encoding="utf-8")
    result = recoil("group", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert "broken.json" in result.stderr
    assert "Traceback" not in result.stderr
