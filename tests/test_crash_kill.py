"""SIGKILL the real ``recoil run`` CLI at random moments of real Ark traffic, resume, repeat.

A fake Ark server (in this process, on 127.0.0.1) counts creates and billed tokens and
tells the test what the CLI is doing. Kill moments are synchronised on that traffic:

- ``create``: the server has made a task and holds its answer; the CLI dies before it
  can save the job id (recovery must go through the provider's task list);
- ``poll``: after the CLI's n-th task GET, plus a random delay;
- ``media``: after a video download started, plus a random delay (download, rename,
  charge and save windows);
- ``anytime``: a random delay after start.

The seed and every kill (mode, delay) are printed for reproduction. After each kill
``recoil status --json`` must list every unfinished take under attention; when the episode
completes, ``check_money`` asserts at most one create per fingerprint, one server task per
take step, every render and sidecar on disk with matching sha256, and ledger == billed.
``bench/soak_kill.py`` runs the same campaign with more kills.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
import pytest
from _money import MoneyCounts, check_money, cli_env, run_recoil

from recoil_core.model import TakeState
from recoil_core.persistence.filesystem import FilesystemBackend
from recoil_core.testing.fake_ark import TASKS_PATH, FakeArkServer
from recoil_core.testing.pytest_plugin import recoil_executable

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_PLAN = REPO / "examples" / "ep001" / "plan.json"
PROJECT, EPISODE = "nightshift", "EP001"
SENTINEL_KEY = "SENTINEL-ark-key-kill-3b8e41d0"
MODES = ("create", "create", "poll", "media", "anytime")
HOLD_LIMIT_S = 30.0


class WatchedArk(FakeArkServer):
    """The fake Ark server, announcing every answered request and able to hold creates."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.changed = threading.Condition()
        self.hold_creates = False
        self.release = threading.Event()

    def handle(
        self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        answer = super().handle(method, raw_path, headers, body)
        is_create = method == "POST" and urlsplit(raw_path).path.rstrip("/") == TASKS_PATH
        with self.changed:
            self.changed.notify_all()
        if is_create and self.hold_creates:
            self.release.wait(HOLD_LIMIT_S)
        return answer

    def counters(self) -> tuple[int, int, int]:
        stats = self.stats()
        requests = stats["requests"]
        return stats["creates_total"], requests.get("get", 0), requests.get("media", 0)


@attrs.define
class CampaignCounts(MoneyCounts):
    """The money counts of all the campaign's episodes, and what the campaign did."""

    episodes: int = 0
    runs: int = 0
    kills: int = 0
    unknown_resolved: int = 0
    kills_by_mode: dict[str, int] = attrs.field(factory=dict)


def start_run(env: Mapping[str, str], cwd: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [recoil_executable(), "run", str(EXAMPLE_PLAN), "--provider", "seeddance", *extra],
        env=dict(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(ark: WatchedArk, proc: subprocess.Popen[str], ready: Callable[[], bool]) -> bool:
    """Wait until ``ready()`` (re-checked on every request the server answers) or the run
    exits; True when ready while the run is still alive."""
    with ark.changed:
        while not ready():
            if proc.poll() is not None:
                return False
            ark.changed.wait(0.05)
    return proc.poll() is None


def status_json(env: Mapping[str, str], cwd: Path) -> dict[str, Any]:
    done = run_recoil(
        env, cwd, "status", "--json", "--project", PROJECT, "--episode", EPISODE, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def assert_unfinished_takes_need_attention(env: Mapping[str, str], cwd: Path) -> None:
    """No take is left mid-flight without ``recoil status --json`` saying so."""
    if not (Path(env["RECOIL_PROJECTS_ROOT"]) / PROJECT / EPISODE / "scenes").exists():
        return
    (episode,) = status_json(env, cwd)["episodes"]
    final = {s.value for s in TakeState} - {
        "planned",
        "reserved",
        "submitting",
        "submitted",
        "unknown",
    }
    for scene in episode["scenes"]:
        for beat in scene["beats"]:
            for take in beat["takes"]:
                if take["state"] not in final:
                    assert any(line.startswith(take["take_id"]) for line in episode["attention"]), (
                        f"{take['take_id']} is {take['state']} but not under attention"
                    )


def kill_once(
    ark: WatchedArk,
    env: Mapping[str, str],
    cwd: Path,
    rng: random.Random,
    log: Callable[[str], None],
) -> str | None:
    """Start a run and SIGKILL it at a moment drawn from ``rng``; the mode used, or None
    when the run finished first (its exit code is then checked by the caller's resume)."""
    mode = rng.choice(MODES)
    delay = rng.uniform(0.0, 0.03) if mode != "anytime" else rng.uniform(0.0, 1.5)
    creates0, gets0, media0 = ark.counters()
    nth_get = rng.randint(1, 6)
    ark.release.clear()
    ark.hold_creates = mode == "create"
    proc = start_run(env, cwd)
    try:
        if mode == "create":
            alive = wait_for(ark, proc, lambda: ark.counters()[0] > creates0)
        elif mode == "poll":
            alive = wait_for(ark, proc, lambda: ark.counters()[1] >= gets0 + nth_get)
        elif mode == "media":
            alive = wait_for(ark, proc, lambda: ark.counters()[2] > media0)
        else:
            alive = True
        if alive:
            try:
                proc.wait(delay)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=120)
    finally:
        ark.hold_creates = False
        ark.release.set()
    killed = proc.returncode == -signal.SIGKILL
    log(f"  run: mode={mode} delay={delay:.4f}s nth_get={nth_get} -> rc={proc.returncode}")
    return mode if killed else None


def run_to_end(env: Mapping[str, str], cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_recoil(
        env, cwd, "run", str(EXAMPLE_PLAN), "--provider", "seeddance", "--json", *extra
    )


def finish(
    ark: WatchedArk, env: Mapping[str, str], cwd: Path, counts: CampaignCounts
) -> subprocess.CompletedProcess[str]:
    """Resume until complete; unknown takes (killed after saving ``submitting`` but before
    the create reached Ark) are checked at the server, then resubmitted, as a user would."""
    for _ in range(3):
        counts.runs += 1
        done = run_to_end(env, cwd)
        assert "Traceback" not in done.stderr, done.stderr
        if done.returncode == 0:
            return done
        report = json.loads(done.stdout)
        assert report["take_counts"].get("unknown"), done.stdout
        backend = FilesystemBackend(Path(env["RECOIL_PROJECTS_ROOT"]))
        seeds = {ark.task(tid)["seed"] for tid in ark.task_ids()}
        for scene_id in backend.list_scenes(PROJECT, EPISODE):
            scene = backend.load_scene(PROJECT, EPISODE, scene_id)
            assert scene is not None
            for beat in scene.beats:
                for take in beat.takes:
                    if take.state == TakeState.UNKNOWN:
                        for step in take.workflow.steps:
                            assert step.job_id is not None or step.seed not in seeds
                        counts.unknown_resolved += 1
        counts.runs += 1
        resubmitted = run_to_end(env, cwd, "--resubmit-unknown")
        if resubmitted.returncode == 0:
            return resubmitted
    raise AssertionError(f"episode did not complete: {done.stdout}\n{done.stderr}")


def run_campaign(
    workdir: Path,
    *,
    seed: int,
    kills: int,
    kills_per_episode: int,
    log: Callable[[str], None] = print,
) -> CampaignCounts:
    """Kill ``kills`` runs in total over as many fresh episodes as it takes."""
    rng = random.Random(seed)
    counts = CampaignCounts()
    log(f"kill campaign seed={seed} kills={kills} per_episode={kills_per_episode}")
    while counts.kills < kills:
        root = workdir / f"episode{counts.episodes}"
        root.mkdir(parents=True)
        counts.episodes += 1
        log(f"episode {counts.episodes} in {root}")
        with WatchedArk(api_key=SENTINEL_KEY, queue_s=0.15) as ark:
            env = cli_env(ark, root)
            budget = min(kills_per_episode, kills - counts.kills)
            for _ in range(budget):
                counts.runs += 1
                mode = kill_once(ark, env, root, rng, log)
                if mode is None:
                    break
                counts.kills += 1
                counts.kills_by_mode[mode] = counts.kills_by_mode.get(mode, 0) + 1
                assert_unfinished_takes_need_attention(env, root)
            finish(ark, env, root, counts)
            backend = FilesystemBackend(Path(env["RECOIL_PROJECTS_ROOT"]))
            money = check_money(ark, backend, PROJECT, EPISODE)
            assert money.succeeded == 7
            counts.add(money)
            log(f"  complete: {money}")
    return counts


def test_sigkill_at_random_moments_never_pays_twice_never_loses_a_render(
    tmp_path: Path,
) -> None:
    seed = int(os.environ.get("RECOIL_KILL_SEED") or time.time_ns() % 1_000_000)
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        print(line, file=sys.stderr)

    counts = run_campaign(tmp_path, seed=seed, kills=20, kills_per_episode=7, log=log)

    print(f"seed={seed} {counts}")
    assert counts.kills >= 20, "\n".join(lines)
    assert counts.kills_by_mode.get("create", 0) >= 1
    assert counts.duplicates == 0
    assert counts.lost_renders == 0
    assert counts.ledger_usd == pytest.approx(counts.billed_usd)
