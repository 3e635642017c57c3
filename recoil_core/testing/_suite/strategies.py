"""Test doubles for grouping strategies and the ``recoil`` commands that call them: a
strategy built from parts, a one-shot plan, and ``recoil group``/``recoil run --dry-run``
run against throwaway distributions. For test code only."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from recoil_core.contracts.grouping import GroupingContext
from recoil_core.model import CanonicalShot, Group, GroupIdentity, RenderUnit, Segment
from recoil_core.registry import Registry, build_registry
from recoil_core.settings import PluginSelection
from recoil_core.testing.distributions import run_with_distributions, write_distribution
from recoil_core.testing.doubles import make_plugin
from recoil_core.testing.grouping import grouping_context
from recoil_core.testing.pytest_plugin import recoil_executable

RECOIL = recoil_executable()

PLAN = {
    "project": "demo",
    "episode": "EP001",
    "sequences": {
        "SEQ01": {
            "location": "LOC_A",
            "shots": [
                {"shot_id": f"EP001_SH0{n}", "duration_s": 2, "prompt": f"shot {n}"}
                for n in range(1, 5)
            ],
        }
    },
}
"""Four two-second shots of one sequence at one location."""

COMMANDS = {
    "group": ("group", "plan.json", "--json"),
    "run": ("run", "plan.json", "--dry-run", "--json"),
}
"""The two commands that call a strategy, as a test runs them (``--json``, nothing written)."""


def install(work: Path, name: str, version: str, plugin: str, source: str) -> None:
    """Install distribution ``name`` (plugin ``plugin``, module ``source``) in ``work/site``
    and write the plan to ``work/plan.json``."""
    module = name.replace("-", "_") + ".plugin"
    write_distribution(
        work / "site",
        name,
        version=version,
        entry_points={plugin: module},
        modules={module: source},
    )
    (work / "plan.json").write_text(json.dumps(PLAN), encoding="utf-8")


def recoil(work: Path, command: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``recoil <command> ...`` (see :data:`COMMANDS`) in ``work`` with ``work/site`` installed."""
    settings = {
        "RECOIL_PROJECTS_ROOT": str(work / "projects"),
        "RECOIL_ANIMATIC_CACHE": str(work / "animatic-cache"),
    }
    return run_with_distributions(
        [RECOIL, *COMMANDS[command], *args], work / "site", cwd=work, settings=settings
    )


def refused(result: subprocess.CompletedProcess[str], code: int, message: str) -> None:
    """Assert ``result`` exited ``code`` with ``message`` on stderr and no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    if result.stdout.strip():  # --json: the error is also the report
        assert json.loads(result.stdout)["message"] in result.stderr


class Strategy:
    """A strategy built from parts: its options (left out when ``None``) and ``assemble``."""

    description = "test strategy"

    def __init__(self, name: str, options: Any = None, assemble: Any = None) -> None:
        self.name = name
        if options is not None:
            self.options = options
        self._assemble: Any = assemble or (lambda shots, ctx: [])
        self.seen: list[GroupingContext] = []

    def assemble(self, shots: Sequence[CanonicalShot], ctx: GroupingContext) -> list[Group]:
        self.seen.append(ctx)
        result: list[Group] = self._assemble(shots, ctx)
        return result


SHOTS = [CanonicalShot("EP001_SH01", "SEQ01", 1, "LOC_A", 2.0, order=1)]
PLAN_OF_ONE = grouping_context(SHOTS).plan


def one_group(shots: Sequence[CanonicalShot], ctx: GroupingContext) -> list[Group]:
    """An ``assemble`` giving one scene ``S_001`` of the first shot."""
    identity = GroupIdentity("s", 1, [shots[0].shot_id])
    segment = Segment(shots[0].shot_id, 2.0)
    return [Group("S_001", identity, [RenderUnit("S_001", identity, "video_i2v", [segment])])]


def registry_with(*strategies: Strategy, plugin: str = "mine") -> Registry:
    """A registry of only the in-process plugin ``plugin`` registering ``strategies``."""
    extra = [(plugin, make_plugin(strategies=strategies))]
    return build_registry(PluginSelection(load_only=(plugin,)), extra=extra)
