"""A take owns exactly its own provider job, on the paths a studio walks every week: jobs
that outlive ``--job-timeout``, re-derived versions, many episodes of the same shape, and
creates whose answers are lost. Each runs the real ``recoil`` CLI against a fake Ark that
follows Ark's rules (a running task cannot be cancelled; list items are thin)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ark_money import (
    billed_usd,
    check_money,
    cli_env,
    filesystem,
    persisted_scenes,
    run_recoil,
)
from recoil_seeddance.testing.fake_ark import FakeArkServer

from recoil_core.registry import build_registry
from recoil_core.settings import PluginSelection

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ep001" / "plan.json"
PROJECT = "nightshift"


@pytest.fixture
def ark() -> Iterator[FakeArkServer]:
    with FakeArkServer(api_key="identity-key") as server:
        yield server


def plan_file(tmp_path: Path, episode: str = "EP001", **changes: Any) -> Path:
    """The example plan as ``episode``, its coverage pass on Seedance's default tier."""
    plan = json.loads(EXAMPLE.read_text())
    plan["episode"] = episode
    plan["coverage_passes"][0]["generation_config"] = {"tier": "default"}
    plan.update(changes)
    path = tmp_path / f"{episode}.json"
    path.write_text(json.dumps(plan))
    return path


def env_for(ark: FakeArkServer, tmp_path: Path) -> dict[str, str]:
    return cli_env(ark, tmp_path)


def recoil(env: dict[str, str], tmp_path: Path, *args: str) -> Any:
    return run_recoil(env, tmp_path, *args)


def backend_at(tmp_path: Path) -> Any:
    registry = build_registry(PluginSelection(load_only=("filesystem",)))
    return filesystem(registry, tmp_path / "projects")


def test_jobs_outliving_their_timeout_hold_the_cap_and_are_charged_when_followed(
    ark: FakeArkServer, tmp_path: Path
) -> None:
    """Cap at 40% of the episode's estimate, every job still running at its timeout: no
    reservation is released for a job that will bill, so Ark never bills past the cap;
    ``recoil reconcile`` then charges each job and keeps its video, and a later run
    renders the rest without creating any take's job twice."""
    env, plan = env_for(ark, tmp_path), plan_file(tmp_path)
    dry = recoil(env, tmp_path, "run", str(plan), "--provider", "seeddance", "--dry-run", "--json")
    demand = json.loads(dry.stdout)["estimated_usd"]
    cap = round(0.4 * demand, 4)
    ark.set(never_finish=True)

    first = recoil(
        env, tmp_path, "run", str(plan), "--provider", "seeddance", "--budget", str(cap),
        "--job-timeout", "0.5", "--json",
    )  # fmt: skip

    assert first.returncode == 6, first.stderr  # the cap stopped new takes
    started = ark.creates_total
    assert 0 < started < 7
    stats = ark.stats()
    assert set(stats["tasks"].values()) == {"running"} and stats.get("cancels_refused", 0) == 0
    status = json.loads(recoil(env, tmp_path, "status", "--json").stdout)
    (episode,) = status["episodes"]
    assert len(episode["billable"]) == started and episode["billable_estimate_usd"] <= cap

    ark.set(never_finish=False)
    followed = recoil(env, tmp_path, "reconcile", "--json")
    assert followed.returncode == 0, followed.stderr + followed.stdout
    assert ark.creates_total == started, "reconcile never creates"
    assert sum(billed_usd(ark).values()) <= cap + 1e-9
    counts = check_money(ark, backend_at(tmp_path), PROJECT, "EP001")
    assert counts.succeeded == started and counts.ledger_usd == pytest.approx(counts.billed_usd)

    rest = recoil(env, tmp_path, "run", str(plan), "--provider", "seeddance", "--json")
    assert rest.returncode == 0, rest.stderr
    counts = check_money(ark, backend_at(tmp_path), PROJECT, "EP001")
    assert counts.succeeded == counts.creates == 7


def test_a_rederived_version_is_charged_and_rendered_apart_from_the_first(
    ark: FakeArkServer, tmp_path: Path
) -> None:
    env, plan = env_for(ark, tmp_path), plan_file(tmp_path)
    args = ("--provider", "seeddance", "--strategy", "coverage", "--budget", "5")
    assert recoil(env, tmp_path, "run", str(plan), *args).returncode == 0

    changed = json.loads(plan.read_text())
    changed["coverage_passes"][0]["generation_config"] = {"tier": "default", "camera_fixed": True}
    plan.write_text(json.dumps(changed))
    staged = recoil(env, tmp_path, "run", str(plan), *args)
    assert "appended candidate version v2" in staged.stdout, staged.stderr
    pass_id = changed["coverage_passes"][0]["pass_id"]
    assert recoil(env, tmp_path, "rederive", "--conform", pass_id).returncode == 0
    final = recoil(env, tmp_path, "run", str(plan), *args, "--json")
    assert final.returncode == 0, final.stderr

    backend = backend_at(tmp_path)
    ledger = backend.read_ledger(PROJECT, "EP001")
    assert len(ledger) == 2 and len({e.take_id for e in ledger}) == 2
    assert ark.creates_total == 2
    renders = sorted((tmp_path / "projects" / PROJECT / "EP001" / "renders").glob("*.mp4"))
    assert len(renders) == 2 and any("_v2_" in r.name for r in renders)
    assert len({r.read_bytes() for r in renders}) == 2, "the first version's render is kept"
    check_money(ark, backend, PROJECT, "EP001")


def test_episodes_of_the_same_shape_never_adopt_each_others_jobs(
    ark: FakeArkServer, tmp_path: Path
) -> None:
    """The same take ids in two episodes; the second's creates answer 5xx after Ark made
    the task, so each is found by a search, which must find that take's own task."""
    env = env_for(ark, tmp_path)
    first = recoil(
        env, tmp_path, "run", str(plan_file(tmp_path, "EP001")), "--provider", "seeddance"
    )
    assert first.returncode == 0, first.stderr
    ark.inject("create", "status", status_code=502, times=4)
    second = recoil(
        env, tmp_path, "run", str(plan_file(tmp_path, "EP002")), "--provider", "seeddance"
    )
    assert second.returncode == 0, second.stderr

    backend = backend_at(tmp_path)
    owners: dict[str, str] = {}
    for episode in ("EP001", "EP002"):
        for scene in persisted_scenes(backend, PROJECT, episode):
            for beat in scene.beats:
                for take in beat.takes:
                    for step in take.workflow.steps:
                        assert step.job_id not in owners, f"{step.job_id} adopted by {episode}"
                        owners[str(step.job_id)] = episode
    assert set(owners) == set(ark.stats()["tasks"]) and ark.creates_total == 14
    billed = billed_usd(ark)
    for episode in ("EP001", "EP002"):
        ledger = backend.read_ledger(PROJECT, episode)
        assert {e.job_id for e in ledger} == {j for j, ep in owners.items() if ep == episode}
        for entry in ledger:
            assert entry.amount_usd == pytest.approx(billed[str(entry.job_id)])


def test_a_lost_create_that_made_nothing_is_sent_again_with_no_person(
    ark: FakeArkServer, tmp_path: Path
) -> None:
    env = env_for(ark, tmp_path)
    ark.inject("create", "status", status_code=500, before_create=True)
    result = recoil(
        env, tmp_path, "run", str(plan_file(tmp_path)), "--provider", "seeddance", "--json"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["complete"] and report["attention"] == []
    counts = check_money(ark, backend_at(tmp_path), PROJECT, "EP001")
    assert counts.creates == counts.succeeded == 7
    assert ark.stats()["requests"]["create"] == 8


def test_no_auto_resubmit_leaves_a_lost_create_for_a_person(
    ark: FakeArkServer, tmp_path: Path
) -> None:
    env = env_for(ark, tmp_path)
    plan = str(plan_file(tmp_path))
    ark.inject("create", "status", status_code=500, before_create=True)
    result = recoil(env, tmp_path, "run", plan, "--provider", "seeddance", "--no-auto-resubmit")
    assert result.returncode == 1 and "--resubmit-unknown" in result.stdout
    assert ark.creates_total == 6
    again = recoil(env, tmp_path, "run", plan, "--provider", "seeddance", "--resubmit-unknown")
    assert again.returncode == 0, again.stderr
    assert check_money(ark, backend_at(tmp_path), PROJECT, "EP001").creates == 7


def test_conform_is_refused_while_the_active_version_still_has_a_job_at_the_provider(
    ark: FakeArkServer, tmp_path: Path
) -> None:
    env, plan = env_for(ark, tmp_path), plan_file(tmp_path)
    args = ("--provider", "seeddance", "--strategy", "coverage")
    ark.set(never_finish=True)
    assert recoil(env, tmp_path, "run", str(plan), *args, "--job-timeout", "0.3").returncode == 1
    changed = json.loads(plan.read_text())
    changed["coverage_passes"][0]["generation_config"] = {"tier": "default", "camera_fixed": True}
    plan.write_text(json.dumps(changed))
    recoil(env, tmp_path, "run", str(plan), *args, "--job-timeout", "0.3")
    pass_id = changed["coverage_passes"][0]["pass_id"]

    refused = recoil(env, tmp_path, "rederive", "--conform", pass_id)
    assert refused.returncode == 2 and "still has take(s) at the provider" in refused.stderr
    ark.set(never_finish=False)
    assert recoil(env, tmp_path, "reconcile").returncode == 0
    assert recoil(env, tmp_path, "rederive", "--conform", pass_id).returncode == 0
    check_money(ark, backend_at(tmp_path), PROJECT, "EP001")
    shutil.rmtree(tmp_path / "projects")
