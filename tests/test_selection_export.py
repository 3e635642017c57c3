"""The cut ``recoil export`` writes, as data (selection.episode_cut), and the command's
answer when the recoil-otio distribution is missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from recoil_core.selection import episode_cut, select_take
from recoil_core.testing.doubles import Outcome, ScriptedProvider
from recoil_core.testing.harness import RunHarness
from recoil_core.testing.plans import canonical_plan, canonical_shot, write_plan

P, E = "p", "EP001"


def plan_of(*durations: float):  # type: ignore[no-untyped-def]
    return canonical_plan(
        [canonical_shot(f"EP001_SH{n:02d}", n, duration_s=d) for n, d in enumerate(durations, 1)]
    )


def test_the_cut_follows_plan_order_and_a_shot_without_a_render_is_missing(
    tmp_path: Path,
) -> None:
    plan = plan_of(2.0, 3.0, 4.0)
    provider = ScriptedProvider(
        lambda request: Outcome(state="failed" if "SH02" in request.take_id else "succeeded")
    )
    harness = RunHarness(tmp_path, provider=provider)
    harness.run(plan, strategy="solo")

    cut = episode_cut(harness.backend, plan)
    assert [e.shot_id for e in cut.events] == ["EP001_SH01", "EP001_SH02", "EP001_SH03"]
    assert [e.duration_s for e in cut.events] == [2.0, 3.0, 4.0]
    assert [e.missing for e in cut.events] == ["", "no succeeded take", ""]
    assert cut.events[1].render_path is None
    first = cut.events[0]
    assert first.render_path is not None and Path(first.render_path).is_file()
    assert first.metadata["take_id"] == first.take_id and first.metadata["selected"] is False

    Path(first.render_path).unlink()
    gone = episode_cut(harness.backend, plan).events[0]
    assert gone.render_path is None and gone.missing == f"render of {first.take_id} not found"


def test_a_shot_never_run_is_missing_and_the_selected_take_is_cut(tmp_path: Path) -> None:
    harness = RunHarness(tmp_path)
    harness.run(plan_of(2.0), strategy="solo", max_takes=1)
    longer = plan_of(2.0, 5.0)
    cut = episode_cut(harness.backend, longer)
    assert [(e.shot_id, e.missing) for e in cut.events] == [
        ("EP001_SH01", ""),
        ("EP001_SH02", "not rendered"),
    ]
    event = cut.events[0]
    assert event.scene_id is not None and event.beat_id is not None and event.take_id is not None
    select_take(harness.backend, P, E, event.scene_id, event.beat_id, event.take_id, by="ana")
    marked = episode_cut(harness.backend, longer).events[0]
    assert marked.metadata["selected"] is True


def test_export_without_recoil_otio_says_how_to_install_it(tmp_path: Path) -> None:
    plan = write_plan(tmp_path)
    script = (
        "import sys\n"
        "sys.modules['recoil_otio'] = None  # as if it were not installed\n"
        "from recoil_core.cli import app\n"
        f"app(['export', {str(plan)!r}, '--format', 'edl'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"RECOIL_PROJECTS_ROOT": str(tmp_path / "projects"), "PATH": "/usr/bin:/bin"},
        check=False,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "pip install recoil-otio" in result.stderr
    assert "pip install -e plugins/recoil-otio" in result.stderr
