"""Two (or more) ``recoil run`` processes on one episode at once: the second stops with a
clear message (or waits with ``--wait``); nothing is corrupted or submitted twice."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from ark_money import check_money, cli_env
from kill_campaign import EPISODE, PROJECT, start_run
from recoil_seeddance.testing.watched import WatchedArk, wait_for

from recoil_core.persistence.filesystem import FilesystemBackend


@pytest.fixture
def ark() -> Iterator[WatchedArk]:
    with WatchedArk(api_key="SENTINEL-concurrent-key", queue_s=0.3) as server:
        yield server


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def test_second_run_of_a_busy_episode_stops_with_a_clear_message(
    ark: WatchedArk, tmp_path: Path
) -> None:
    env = cli_env(ark, tmp_path)
    ark.hold_creates = True  # the first run waits in its first create, holding the lock
    first = start_run(env, tmp_path)
    assert wait_for(ark, first, lambda: ark.creates_total > 0)

    second = start_run(env, tmp_path)
    code, _out, err = finish(second)
    ark.hold_creates = False
    ark.release.set()

    assert code != 0
    assert "is locked by another recoil process" in err and "--wait" in err
    assert "Traceback" not in err
    first_code, _, first_err = finish(first)
    assert first_code == 0, first_err
    backend = FilesystemBackend(Path(env["RECOIL_PROJECTS_ROOT"]))
    counts = check_money(ark, backend, PROJECT, EPISODE)
    assert (counts.succeeded, counts.creates, counts.duplicates) == (7, 7, 0)


def test_runs_started_together_with_wait_render_each_take_once(
    ark: WatchedArk, tmp_path: Path
) -> None:
    env = cli_env(ark, tmp_path)
    procs = [start_run(env, tmp_path, "--wait", "--json") for _ in range(4)]

    results = [finish(p) for p in procs]

    for code, out, err in results:
        assert code == 0, err
        assert "Traceback" not in err
        assert json.loads(out)["complete"]
    charged = sorted(json.loads(out)["charged_usd"] for _, out, _ in results)
    assert charged[:3] == [0.0, 0.0, 0.0] and charged[3] > 0  # one run paid; the rest reused
    backend = FilesystemBackend(Path(env["RECOIL_PROJECTS_ROOT"]))
    counts = check_money(ark, backend, PROJECT, EPISODE)
    assert (counts.succeeded, counts.creates, counts.duplicates) == (7, 7, 0)
    assert counts.ledger_usd == pytest.approx(charged[3])
