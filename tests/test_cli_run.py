"""The ``recoil run`` / ``status`` / ``budget`` / ``rederive`` commands as a user runs them:
real subprocesses on the example episode with the offline animatic default."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ep001" / "plan.json"


def _json(result) -> dict:
    assert result.stdout, result.stderr
    return json.loads(result.stdout)


def run_on_fake_ark(recoil_cli, *args, key="k", server_key="k", env=None):
    """``recoil run EXAMPLE --provider seeddance ARGS`` against a fake Ark server that
    accepts ``server_key``; returns the result and how many creates the server was sent."""
    from recoil_seeddance.testing.fake_ark import FakeArkServer

    with FakeArkServer(api_key=server_key) as server:
        run_env = {"ARK_API_KEY": key, "ARK_BASE_URL": server.base_url, **(env or {})}
        result = recoil_cli("run", str(EXAMPLE), "--provider", "seeddance", *args, env=run_env)
        creates = server.stats()["requests"].get("create", 0)
    return result, creates


def test_main_job_renders_example_episode_offline_and_resumes_as_noop(recoil_cli, tmp_path):
    first = recoil_cli("run", str(EXAMPLE), "--json")
    assert first.returncode == 0, first.stderr
    report = _json(first)
    assert report["complete"] and report["provider"] == "animatic"
    beats = [b for s in report["scenes"] for b in s["beats"]]
    assert report["take_counts"] == {"succeeded": len(beats)}

    renders = tmp_path / "projects" / "nightshift" / "EP001" / "renders"
    videos = sorted(renders.glob("*.mp4"))
    assert videos, "the main job must write renders"
    for video in videos:
        sidecar = json.loads(video.with_name(video.name + ".json").read_text())
        assert sidecar["sha256"] == hashlib.sha256(video.read_bytes()).hexdigest()
        assert sidecar["provenance"]["provider"] == "animatic"
        assert sidecar["provenance"]["grouping"]["shot_ids"]
    assert (tmp_path / "projects" / "nightshift" / "EP001" / "ledger.jsonl").exists()

    status = recoil_cli("status", "--json")
    assert status.returncode == 0, status.stderr
    (episode,) = _json(status)["episodes"]
    states = {t["state"] for s in episode["scenes"] for b in s["beats"] for t in b["takes"]}
    assert states == {"succeeded"} and episode["attention"] == []

    again = recoil_cli("run", str(EXAMPLE), "--json")
    assert again.returncode == 0, again.stderr
    rerun = _json(again)
    assert rerun["charged_usd"] == 0 and rerun["complete"]
    assert {s["action"] for s in rerun["scenes"]} == {"reused"}
    total_takes = sum(len(b["takes"]) for s in rerun["scenes"] for b in s["beats"])
    assert total_takes == sum(report["take_counts"].values()), "a resumed run adds no takes"


def test_s02_cli_dry_run_prints_plan_and_writes_nothing(recoil_cli, tmp_path):
    result = recoil_cli("run", str(EXAMPLE), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "would be dispatched" in result.stdout and "estimated cost" in result.stdout
    assert not (tmp_path / "projects").exists()
    assert not (tmp_path / "animatic-cache").exists()


def test_budget_command_reports_spend_by_group(recoil_cli):
    assert recoil_cli("run", str(EXAMPLE)).returncode == 0
    result = recoil_cli("budget", "--by", "model", "--json")
    assert result.returncode == 0, result.stderr
    data = _json(result)
    assert data["project"] == "nightshift" and data["entries"] > 0
    assert data["total_usd"] == 0.0 and set(data["groups"]) >= {"seeddance-2.0"}
    bad = recoil_cli("budget", "--by", "colour")
    assert bad.returncode == 2 and "--by must be one of" in bad.stderr


def test_changed_pass_config_stages_candidate_then_conform_renders_it(recoil_cli, tmp_path):
    plan_path = tmp_path / "plan.json"
    shutil.copy(EXAMPLE, plan_path)
    first = recoil_cli("run", str(plan_path), "--strategy", "coverage")
    assert first.returncode == 0, first.stderr + first.stdout

    plan = json.loads(plan_path.read_text())
    plan["coverage_passes"][0]["generation_config"] = {"tier": "pro", "seed": 1234}
    plan_path.write_text(json.dumps(plan))
    pass_id = plan["coverage_passes"][0]["pass_id"]

    staged = recoil_cli("run", str(plan_path), "--strategy", "coverage")
    out = staged.stdout
    assert "appended candidate version v2" in out and "active remains v1" in out
    assert f"rederive --conform {pass_id}" in out
    status = _json(recoil_cli("status", "--json"))
    (scene,) = status["episodes"][0]["scenes"]
    assert scene["candidates"] == [2] and scene["version"] == 1

    again = recoil_cli("run", str(plan_path), "--strategy", "coverage")
    assert "candidate already exists" in again.stdout

    conform = recoil_cli("rederive", "--conform", pass_id)
    assert conform.returncode == 0, conform.stderr
    assert "v2 is now active" in conform.stdout
    final = recoil_cli("run", str(plan_path), "--strategy", "coverage", "--json")
    assert final.returncode == 0, final.stderr
    (scene,) = _json(final)["scenes"]
    assert scene["version"] == 2 and scene["beats"][0]["succeeded"]


def test_unknown_strategy_and_provider_are_clear_errors(recoil_cli):
    strategy = recoil_cli("run", str(EXAMPLE), "--strategy", "nope")
    assert strategy.returncode == 2
    assert "unknown grouping strategy 'nope'" in strategy.stderr
    assert "continuity" in strategy.stderr and "Traceback" not in strategy.stderr

    provider = recoil_cli("run", str(EXAMPLE), "--provider", "nope")
    assert provider.returncode == 8
    assert "unknown provider 'nope'" in provider.stderr and "animatic" in provider.stderr


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--budget", "nan", "finite number of USD"),  # NaN passes every cap check: no cap
        ("--budget", "inf", "finite number of USD"),
        ("--job-timeout", "nan", "seconds > 0"),
        ("--job-timeout", "0", "seconds > 0"),
        ("--job-timeout", "-5", "seconds > 0"),
    ],
)
def test_a_budget_or_timeout_that_is_no_number_is_refused_before_anything_is_written(
    recoil_cli, tmp_path, flag, value, says
):
    result = recoil_cli("run", str(EXAMPLE), flag, value)
    assert result.returncode == 2
    assert f"error: {flag} " in result.stderr and says in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "projects").exists()


def test_missing_ark_key_stops_before_anything_is_reserved(recoil_cli, tmp_path):
    result = recoil_cli("run", str(EXAMPLE), "--provider", "seeddance")
    assert result.returncode == 8
    assert "ARK_API_KEY" in result.stderr and "Traceback" not in result.stderr
    ledger = tmp_path / "projects" / "nightshift" / "EP001" / "ledger.jsonl"
    assert not ledger.exists() or ledger.read_text() == ""


def test_budget_halt_exits_6_and_reports_rendered_shots(recoil_cli, tmp_path):
    result, _creates = run_on_fake_ark(
        recoil_cli,
        "--budget",
        "0.5",
        "--concurrency",
        "1",
        "--json",
        env={"RECOIL_SEEDDANCE_POLL_S": "0.01"},
    )
    assert result.returncode == 6, result.stderr
    data = _json(result)
    assert data["error"] == "BudgetExhaustedError"
    assert isinstance(data["rendered_shot_ids"], list)
    ledger = tmp_path / "projects" / "nightshift" / "EP001" / "ledger.jsonl"
    spent = (
        sum(json.loads(line)["amount_usd"] for line in ledger.read_text().splitlines())
        if ledger.exists()
        else 0.0
    )
    assert spent <= 0.5


def test_second_run_on_a_locked_episode_stops_with_a_clear_message(recoil_cli, tmp_path):
    import filelock

    assert recoil_cli("run", str(EXAMPLE), "--dry-run").returncode == 0
    episode_dir = tmp_path / "projects" / "nightshift" / "EP001"
    episode_dir.mkdir(parents=True)
    with filelock.FileLock(episode_dir / ".lock"):
        result = recoil_cli("run", str(EXAMPLE))
    assert result.returncode == 5
    assert "locked by another recoil process" in result.stderr and "--wait" in result.stderr


def test_refused_key_stops_the_run_after_the_first_create_and_says_why(recoil_cli):
    result, creates_attempted = run_on_fake_ark(
        recoil_cli, "--concurrency", "1", key="a-wrong-key", server_key="the-right-key"
    )
    assert result.returncode == 9, result.stderr
    assert "API key was refused" in result.stderr and "nothing more was submitted" in result.stderr
    assert "a-wrong-key" not in result.stderr + result.stdout
    assert creates_attempted == 1
    status = _json(recoil_cli("status", "--json"))
    takes = [t for s in status["episodes"][0]["scenes"] for b in s["beats"] for t in b["takes"]]
    assert [t["state"] for t in takes] == ["cancelled"], "nothing was created: no attempt used"

    fixed, creates = run_on_fake_ark(recoil_cli, key="the-right-key", server_key="the-right-key")
    assert fixed.returncode == 0, fixed.stderr  # the same command, --max-takes 1, resumes
    assert creates == 7


def test_status_and_budget_before_any_run_say_what_to_do(recoil_cli):
    for command in (("status",), ("budget",)):
        result = recoil_cli(*command)
        assert result.returncode == 2
        assert "nothing recorded under" in result.stderr and "recoil run PLAN" in result.stderr
        assert "Traceback" not in result.stderr


def test_a_tier_seeddance_would_refuse_stops_the_run_before_anything_is_reserved(recoil_cli):
    """The example's coverage pass asks for tier 2: with Seedance that is refused in
    preflight (exit 8), naming the pass, with nothing created at Ark and nothing written."""
    result, creates = run_on_fake_ark(recoil_cli, "--strategy", "coverage")
    assert result.returncode == 8, result.stderr
    pass_id = json.loads(EXAMPLE.read_text())["coverage_passes"][0]["pass_id"]
    assert f"coverage pass {pass_id} generation_config.tier is 2" in result.stderr
    assert "nothing was reserved or submitted" in result.stderr
    assert "Traceback" not in result.stderr
    assert creates == 0
    status = recoil_cli("status", "--json")
    assert all(not episode["scenes"] for episode in _json(status)["episodes"])


def test_a_rerun_that_changes_nothing_writes_nothing(recoil_cli, tmp_path):
    assert recoil_cli("run", str(EXAMPLE)).returncode == 0
    root = tmp_path / "projects"

    def snapshot() -> dict[str, tuple[bytes, int]]:
        return {
            str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in root.rglob("*")
            if p.is_file() and p.name != ".lock"
        }

    before = snapshot()
    again = recoil_cli("run", str(EXAMPLE))
    assert again.returncode == 0, again.stderr
    assert snapshot() == before
