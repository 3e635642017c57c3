"""The Ark API key never leaves the environment: not into any file Recoil writes (scenes,
ledger, renders, sidecars, locks, animatic cache), not into logs, not into CLI output,
including the error paths (a refused key, faults, moderation)."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from ark_money import (
    PLUGINS,
    check_money,
    cli_env,
    filesystem,
    run_episode,
    run_recoil,
    small_plan,
)
from recoil_seeddance.testing.fake_ark import FakeArkServer

from recoil_core.errors import AuthenticationFailed
from recoil_core.registry import build_registry
from recoil_core.settings import PluginSelection

SENTINEL = "SENTINEL-secret-ark-key-0d9c2a71e5"
EXAMPLE_PLAN = Path(__file__).resolve().parents[1] / "examples" / "ep001" / "plan.json"


@pytest.fixture
def ark() -> Iterator[FakeArkServer]:
    with FakeArkServer(api_key=SENTINEL, queue_s=0.05) as server:
        yield server


def env_for(ark: FakeArkServer, root: Path) -> dict[str, str]:
    """The CLI's environment sending SENTINEL as the key, whatever key ``ark`` expects."""
    return cli_env(ark, root, key=SENTINEL, poll_s="0.01")


def files_holding(root: Path, secret: str) -> list[Path]:
    needle = secret.encode()
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def assert_clean(result: subprocess.CompletedProcess[str]) -> None:
    assert SENTINEL not in result.stdout
    assert SENTINEL not in result.stderr
    assert "Traceback" not in result.stderr


def test_full_episode_with_faults_leaves_the_key_in_no_file_and_no_output(
    ark: FakeArkServer, tmp_path: Path
) -> None:
    env = env_for(ark, tmp_path)
    ark.inject("create", "status", status_code=500)  # ambiguous create: looked up
    ark.inject("create", "status", status_code=429, retry_after=0)
    ark.inject("get", "malformed")
    ark.set(expired_media_urls=1)
    outputs = [
        run_recoil(env, tmp_path, "run", str(EXAMPLE_PLAN), "--provider", "seeddance"),
        run_recoil(env, tmp_path, "run", str(EXAMPLE_PLAN), "--provider", "seeddance", "--json"),
        run_recoil(env, tmp_path, "status", "--json"),
        run_recoil(env, tmp_path, "status"),
        run_recoil(env, tmp_path, "budget", "--json", "--by", "model"),
        run_recoil(env, tmp_path, "run", str(EXAMPLE_PLAN), "--provider", "seeddance", "--dry-run"),
    ]
    assert outputs[0].returncode == 0, outputs[0].stderr
    assert "episode complete" in outputs[0].stdout
    for result in outputs:
        assert_clean(result)
    assert ark.stats()["media_requests_with_auth"] == 0  # the media host never sees the key
    renders = list((tmp_path / "projects").rglob("*.mp4"))
    assert len(renders) == 7 and len(list((tmp_path / "projects").rglob("*.mp4.json"))) == 7
    assert files_holding(tmp_path, SENTINEL) == []


def test_moderated_and_timed_out_takes_keep_the_key_out_of_errors(
    ark: FakeArkServer, tmp_path: Path
) -> None:
    env = env_for(ark, tmp_path)
    ark.set(output_moderation=True, moderation_billed=True)
    moderated = run_recoil(env, tmp_path, "run", str(EXAMPLE_PLAN), "--provider", "seeddance")
    assert moderated.returncode != 0
    assert "OutputVideoSensitiveContentDetected" in (
        run_recoil(env, tmp_path, "status", "--json").stdout
    )
    assert_clean(moderated)
    assert files_holding(tmp_path, SENTINEL) == []


def test_a_refused_key_is_a_clear_error_that_does_not_echo_the_key(tmp_path: Path) -> None:
    with FakeArkServer(api_key="the-real-key") as ark:
        env = env_for(ark, tmp_path)  # sends SENTINEL, which the server refuses: 401
        plain = run_recoil(env, tmp_path, "run", str(EXAMPLE_PLAN), "--provider", "seeddance")
        as_json = run_recoil(
            env, tmp_path, "run", str(EXAMPLE_PLAN), "--provider", "seeddance", "--json"
        )
        status = run_recoil(env, tmp_path, "status", "--json")
    assert plain.returncode == 9 and as_json.returncode == 9
    assert "the API key was refused; check ARK_API_KEY" in plain.stderr
    assert "nothing more was submitted" in plain.stderr
    assert "the API key was refused; check ARK_API_KEY" in as_json.stdout
    assert "401" in status.stdout
    for result in (plain, as_json, status):
        assert_clean(result)
    assert ark.creates_total == 0
    assert files_holding(tmp_path, SENTINEL) == []


def test_missing_key_stops_the_run_before_anything_is_written(tmp_path: Path) -> None:
    with FakeArkServer() as ark:
        env = env_for(ark, tmp_path)
        env.pop("ARK_API_KEY")
        result = run_recoil(env, tmp_path, "run", str(EXAMPLE_PLAN), "--provider", "seeddance")
    assert result.returncode != 0
    assert "ARK_API_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr
    assert ark.stats()["requests"] == {}


def test_debug_logs_of_a_faulty_episode_never_contain_the_key(
    ark: FakeArkServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = build_registry(PluginSelection(load_only=PLUGINS))
    backend = filesystem(registry, tmp_path / "projects")
    ark.inject("create", "drop")
    ark.inject("get", "status", status_code=503)
    ark.inject("list", "malformed")
    env = {"ARK_API_KEY": SENTINEL, "ARK_BASE_URL": ark.base_url}
    with caplog.at_level(logging.DEBUG):
        report = run_episode(small_plan(2), registry, backend, env)
        with FakeArkServer(api_key="another-key") as refusing:
            bad_env = {"ARK_API_KEY": SENTINEL, "ARK_BASE_URL": refusing.base_url}
            with pytest.raises(AuthenticationFailed) as refused:
                run_episode(small_plan(1, episode="EP002"), registry, backend, bad_env)
    assert report.complete
    assert caplog.records, "nothing was logged: the check would prove nothing"
    assert SENTINEL not in caplog.text
    assert all(SENTINEL not in repr(r.args) for r in caplog.records)
    assert SENTINEL not in repr(refused.value) and SENTINEL not in str(refused.value)
    check_money(ark, backend, "p", "EP001")
    assert files_holding(tmp_path, SENTINEL) == []
