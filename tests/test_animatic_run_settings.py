"""The animatic provider's settings through a real ``recoil run`` of the example plan (with
the grouping and video plugins): a bad cache limit stops the run before anything is
reserved."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("value", ["lots", "-1", "nan"])
def test_a_bad_cache_limit_stops_the_run_before_anything_is_reserved(
    value: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "RECOIL_ANIMATIC_CACHE_MB": value,
        "RECOIL_ANIMATIC_CACHE": str(tmp_path / "cache"),
        "RECOIL_PROJECTS_ROOT": str(tmp_path / "projects"),
    }
    plan = Path(__file__).resolve().parents[1] / "examples" / "ep001" / "plan.json"
    recoil = Path(sys.executable).with_name("recoil")
    done = subprocess.run(
        [str(recoil), "run", str(plan)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 8, done.stderr
    assert "RECOIL_ANIMATIC_CACHE_MB" in done.stderr
    assert "Traceback" not in done.stderr
    assert not list((tmp_path / "projects").rglob("*.json*"))  # no scene, no ledger
    assert not (tmp_path / "cache").exists()
