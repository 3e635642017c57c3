"""The typed run report, the progress events and the read-side queries: what ``--json``
prints keeps its keys, events convert to JSON one way, status and budget come from
``recoil_core.runner.queries``, and a command's module is imported only when it runs."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from recoil_core.events import (
    BeatFinished,
    Notice,
    RunStarted,
    SceneEventKind,
    event_to_dict,
)
from recoil_core.model import TakeState
from recoil_core.runner import queries
from recoil_core.runner.reconcile import Action
from recoil_core.runner.report import RunReport, SceneSummary
from recoil_core.testing.harness import RunHarness
from recoil_core.testing.plans import canonical_plan, canonical_shot

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ep001" / "plan.json"

REPORT_KEYS = [
    "ok",
    "project",
    "episode",
    "strategy",
    "provider",
    "dry_run",
    "cap_usd",
    "spent_before_usd",
    "charged_usd",
    "scenes",
    "planned",
    "notices",
    "rendered_shot_ids",
    "halted",
    "take_counts",
    "attention",
    "complete",
    "estimated_usd",
]
SCENE_KEYS = ["scene_id", "version", "action", "beats"]
BEAT_KEYS = ["beat_id", "modality", "shot_ids", "succeeded", "primary_take_id", "takes"]
TAKE_KEYS = ["take_id", "state", "job_ids", "render", "cost_usd", "error", "attention"]
PLANNED_KEYS = ["scene_id", "beat_id", "modality", "shot_ids", "steps", "estimate_usd"]
STEP_KEYS = ["step_id", "modality", "provider", "model", "estimate_usd", "estimate_source"]


def _json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _assert_scene_keys(scene: dict[str, Any], extra: tuple[str, ...] = ()) -> None:
    assert list(scene) == SCENE_KEYS + list(extra)
    for beat in scene["beats"]:
        assert list(beat) == BEAT_KEYS
        for take in beat["takes"]:
            assert list(take) == TAKE_KEYS
            assert isinstance(take["state"], str) and isinstance(take["job_ids"], list)


def test_every_json_report_keeps_its_keys_in_order(recoil_cli: Any) -> None:
    dry = _json(recoil_cli("run", str(EXAMPLE), "--dry-run", "--json"))
    assert list(dry) == REPORT_KEYS
    assert dry["planned"], "a fresh episode plans takes"
    for planned in dry["planned"]:
        assert list(planned) == PLANNED_KEYS
        assert all(list(step) == STEP_KEYS for step in planned["steps"])

    run = _json(recoil_cli("run", str(EXAMPLE), "--json"))
    assert list(run) == REPORT_KEYS
    assert run["scenes"] and run["take_counts"] == {"succeeded": 7}
    for scene in run["scenes"]:
        _assert_scene_keys(scene)

    status = _json(recoil_cli("status", "--json"))
    assert list(status) == ["project", "episodes"]
    (episode,) = status["episodes"]
    # "marks" and "stale" (before billable_estimate_usd) appear only when there is something
    # to show: tests/test_status_read_paths.py pins "stale"
    assert list(episode) == ["episode", "scenes", "attention", "billable", "billable_estimate_usd"]
    for scene in episode["scenes"]:
        _assert_scene_keys(scene, extra=("candidates",))

    budget = _json(recoil_cli("budget", "--by", "scene", "--json"))
    assert list(budget) == ["project", "episode", "by", "groups", "total_usd", "entries"]
    assert budget["by"] == "scene" and budget["entries"] > 0

    followed = _json(recoil_cli("reconcile", "--json"))
    assert list(followed) == ["ok", "episodes"]
    assert [list(report) for report in followed["episodes"]] == [REPORT_KEYS[1:]]


def test_a_budget_grouping_that_does_not_exist_is_refused_with_the_names(
    recoil_cli: Any,
) -> None:
    result = recoil_cli("budget", "--by", "colour")

    assert result.returncode == 2
    assert "--by must be one of model, scene, kind, provider, episode, price-table" in (
        result.stderr
    )


def test_progress_events_become_json_through_one_path() -> None:
    assert event_to_dict(Notice("waiting")) == {"kind": "notice", "message": "waiting"}
    assert event_to_dict(RunStarted(beats=3, scenes=2, cap_usd=None, spent_usd=0.5)) == {
        "kind": "start",
        "beats": 3,
        "scenes": 2,
        "cap_usd": None,
        "spent_usd": 0.5,
    }
    beat = event_to_dict(
        BeatFinished(
            beat_id="B1", succeeded=False, takes=("failed", "succeeded"), spent_usd=1, cap_usd=2
        )
    )
    assert beat["kind"] == "beat" and list(beat["takes"]) == ["failed", "succeeded"]
    json.dumps(beat)


def test_every_reconciliation_action_is_a_scene_event_kind() -> None:
    assert {SceneEventKind(action.value) for action in Action} | {SceneEventKind.FINISHED} == set(
        SceneEventKind
    )
    assert SceneEventKind.CREATED == "created"


def test_a_run_reports_typed_summaries_and_the_queries_read_the_same_takes(
    recoil_harness: RunHarness,
) -> None:
    plan = canonical_plan([canonical_shot("EP001_SH01"), canonical_shot("EP001_SH02")])
    events: list[Any] = []

    runner = recoil_harness.runner(plan)
    runner.progress = events.append
    import asyncio

    report = asyncio.run(runner.run())

    assert isinstance(report, RunReport) and report.complete
    assert all(isinstance(scene, SceneSummary) for scene in report.scenes)
    assert {take.state for take in report.takes()} == {TakeState.SUCCEEDED}
    assert report.scenes[0].action == "created"
    kinds = [type(event) for event in events]
    assert kinds[0] is RunStarted and kinds.count(BeatFinished) == events[0].beats

    backend = recoil_harness.backend
    status = queries.status(backend, plan.project, [plan.episode_id])
    (episode,) = status.episodes
    assert [t.take_id for s in episode.scenes for b in s.beats for t in b.takes] == [
        t.take_id for t in report.takes()
    ]
    assert episode.attention == [] and episode.billable == []
    assert status.to_dict()["episodes"][0]["billable_estimate_usd"] == 0

    spend = queries.spend(backend, plan.project, plan.episode_id, by="kind")
    assert spend.entries == len(report.takes())
    assert spend.total_usd == Decimal(0) and spend.to_dict()["total_usd"] == 0.0


def test_the_old_runner_episode_names_still_import() -> None:
    from recoil_core.runner.episode import (  # noqa: F401
        DEFAULT_PROVIDER,
        EpisodeRunner,
        PlannedTake,
        RunOptions,
        RunReport,
        billable_takes,
        needs_attention,
        scene_summary,
        take_attention,
        worker_count,
    )

    assert DEFAULT_PROVIDER == "animatic" and worker_count(4) == 8


def _modules_after(code: str) -> set[str]:
    script = f"import sys\n{code}\nprint('\\n'.join(sorted(sys.modules)))\n"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    return set(result.stdout.split())


def test_importing_the_cli_imports_no_command_module() -> None:
    loaded = _modules_after("import recoil_core.cli")

    commands = {"run", "status", "budget", "reconcile", "rederive", "group", "plan", "plugins"}
    assert not {f"recoil_core.cli.{name}" for name in commands} & loaded
    assert not {"recoil_core.runner", "recoil_core.plan", "recoil_core.model"} & loaded


def test_a_command_imports_its_own_module_only() -> None:
    loaded = _modules_after(
        "from recoil_core.cli import app\n"
        "try:\n"
        "    app(['--load-plugins', '', 'plugins', 'list', '--json'])\n"
        "except SystemExit:\n"
        "    pass"
    )

    assert "recoil_core.cli.plugins" in loaded
    assert not {"recoil_core.cli.run", "recoil_core.cli.group", "recoil_core.runner"} & loaded


def test_help_lists_every_command_with_its_help(recoil_cli: Any) -> None:
    from recoil_core.cli._app import COMMANDS, load_command

    result = recoil_cli("--help")

    assert result.returncode == 0, result.stderr
    for name in COMMANDS:
        summary = (load_command(name).help or "").split(".")[0].split()[:3]
        assert name in result.stdout and " ".join(summary) in " ".join(result.stdout.split())
