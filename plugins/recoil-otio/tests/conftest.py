"""A rendered episode for the export tests: the repository's example plan run once per
session with the offline animatic (real H.264 MP4s), copied into each test's folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from recoil_core.testing.pytest_plugin import recoil_executable

# The example episode is rendered by a real `recoil run`: it needs the standard strategies,
# the video runners and the animatic (installed beside recoil-otio by `make setup`; not
# dependencies of recoil-otio itself, so `make test-isolated` skips these tests).
RENDERING_NEEDS = (
    ("recoil_plugins_grouping", "the continuity strategy"),
    ("recoil_plugins_video", "the keyframe runner"),
    ("recoil_i2v", "the video_i2v runner"),
    ("recoil_r2v_multi", "the r2v_multi runner"),
    ("recoil_animatic", "the offline renderer"),
)


def _require_renderers() -> None:
    """Skip the asking test (only it: the cut-as-data tests need none of these)."""
    for module, what in RENDERING_NEEDS:
        pytest.importorskip(module, reason=f"rendering the example episode needs {what}")


EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "ep001" / "plan.json"

Recoil = Callable[..., subprocess.CompletedProcess[str]]


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOIL_")}
    env.pop("ARK_API_KEY", None)
    env["RECOIL_PROJECTS_ROOT"] = str(root / "projects")
    env["RECOIL_ANIMATIC_CACHE"] = str(root / "animatic-cache")
    return env


def _runner(root: Path) -> Recoil:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [recoil_executable(), *args],
            env=_env(root),
            cwd=root,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    return run


def _render(root: Path) -> Episode:
    _require_renderers()
    if not EXAMPLE.is_file():
        pytest.skip(f"the example plan is not here ({EXAMPLE}): run from the repository")
    shutil.copy(EXAMPLE, root / "plan.json")
    result = _runner(root)("run", "plan.json", "--json")
    assert result.returncode == 0, result.stderr
    (root / "report.json").write_text(result.stdout)
    return Episode(root)


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Episode:
    """The example episode rendered once, for tests that only read it (exports go to
    their own file names)."""
    return _render(tmp_path_factory.mktemp("rendered"))


@pytest.fixture
def episode(tmp_path: Path) -> Episode:
    """The example episode rendered for this test alone (it may change it)."""
    return _render(tmp_path)


class Episode:
    """The copy's folder, its plan, its run report and a ``recoil`` runner inside it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.plan = root / "plan.json"
        self.report: dict[str, Any] = json.loads((root / "report.json").read_text())
        self.recoil = _runner(root)

    def plan_shots(self) -> list[tuple[str, float]]:
        """(shot id, duration) of every plan shot, in plan order."""
        data = json.loads(self.plan.read_text())
        default = data.get("defaults", {}).get("duration_s")
        return [
            (shot["shot_id"], float(shot.get("duration_s", default)))
            for sequence in data["sequences"].values()
            for shot in sequence["shots"]
        ]

    def status(self) -> dict[str, Any]:
        result = self.recoil("status", "--json")
        assert result.returncode == 0, result.stderr
        data: dict[str, Any] = json.loads(result.stdout)
        return data
