"""The kill campaign of ``tests/test_crash_kill.py`` and ``bench/soak_kill.py``: SIGKILL the
real ``recoil run`` CLI at random moments of real Ark traffic, resume, repeat.

An integration-test support module of this repository (the example plan, the seeddance,
grouping and coverage plugins together), not part of any distribution.

Each campaign folder hosts two episodes of the same shape (the example plan as ``EP001``
and as ``EP002``: the same scene, beat and take ids) on one fake Ark server, so a lost
create searched for at the provider always has the other episode's tasks beside its own.
A fake Ark server (in this process, on 127.0.0.1) counts creates and billed tokens and
tells the test what the CLI is doing. Kill moments are synchronised on that traffic:

- ``create``: the server has made a task and holds its answer; the CLI dies before it
  can save the job id (recovery must go through the provider's task list);
- ``poll``: after the CLI's n-th task GET, plus a random delay;
- ``media``: after a video download started, plus a random delay (download, rename,
  charge and save windows);
- ``anytime``: a random delay after start.

Between kills the campaign also walks the other paths a studio walks:

- a run with ``--job-timeout`` shorter than the fake's ``queue_s``, so its jobs outlive it
  while running (Ark cannot cancel them); each such job must be followed to its end and
  charged, by ``recoil reconcile`` or by the next run;
- creates answered 5xx, after Ark made the task (found again by a search) or before it
  made anything (``before_create``: sent again with a fresh identity);
- a conform: the coverage pass rendered under ``--strategy coverage``, its
  ``generation_config`` changed (a staged candidate v2), ``recoil rederive --conform``
  (refused while v1 still has a job at Ark: ``recoil reconcile``, then again), and v2
  rendered beside v1.

The seed and every kill (mode, delay) are printed for reproduction. After each kill
``recoil status --json`` must list every unfinished take under attention.

Two phases put the budget and the key under the same kills:

- capped ``--wait`` runs: a folder's first runs of a fresh episode are 2-3 ``recoil run
  --budget CAP --wait`` started at once (CAP 40-70% of the dry run's estimate); once one
  said it waits, the run holding the episode lock (``/proc/locks``) is killed in a create
  held by the server or after a poll (the bench kills more, and any run at any moment).
  After every run's exit and at the end, what Ark billed for the tasks made while capped
  runs ran, plus what those still queued or running will bill, is at most CAP. Later
  runs raise the budget (the bench may add a second wave with a higher cap; then no
  cap) and finish;
- a refused key: runs of a pending episode with a wrong ``ARK_API_KEY`` (to their end:
  exit 9, or 1 when only searches for lost creates were refused; or killed after the
  server refused them): no create reaches the server, a take it refused is cancelled
  without using an attempt (the episode completes at the default ``--max-takes 1``),
  and neither key appears in their output nor in any file under the projects folder.

When both episodes are complete: no create fingerprint reached the server twice; every
server task belongs to exactly one take step across both episodes and all scene versions
(none adopted, none unowned) and is final; every take succeeded but those a refused
create cancelled with nothing sent; and ``check_money`` holds for each episode on its
own share of the server (renders and sidecars on disk with matching sha256, ledger ==
billed job by job). A take left ``unknown`` by a plain run is a take left for a person:
counted (the fake can always list, so the target is 0), then resubmitted.
``bench/soak_kill.py`` runs the same campaign with more kills.

``run_provider_campaign`` runs the provider-neutral part of it against any fake provider
of :data:`PROVIDERS` (seeddance: the fake Ark in this process; fal and replicate: their
fakes in their own processes, driven over ``/_fake/*``) through a small adapter
(:class:`FakeProvider`: the ``--provider`` name and video model, the CLI's environment,
the fake's creates by take identity and bill by job id, a lost create answer): runs of two
episodes killed just after a create, at any moment or after a create whose answer was
lost, restarted until both complete; then no take identity created twice, no job in two
takes or in none, the ledger equal to the fake's bill job by job, every render kept, the
key in no file.
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

import attrs
import httpx
import pytest
from ark_money import (
    MoneyCounts,
    billed_usd,
    check_money,
    cli_env,
    every_version,
    run_recoil,
)
from recoil_seeddance.models import model_info
from recoil_seeddance.pricing import price_table
from recoil_seeddance.testing.fake_ark import (
    SAFETY_IDENTIFIER_MAX,
    billed_tokens,
)
from recoil_seeddance.testing.watched import HOLD_LIMIT_S, WatchedArk, wait_for, wait_for_any

from recoil_core.model import StepState, Take, TakeState
from recoil_core.persistence.filesystem import LOCK_FILE, FilesystemBackend
from recoil_core.testing.pytest_plugin import recoil_executable

__all__ = [
    "EPISODE",
    "PROJECT",
    "PROVIDERS",
    "CampaignCounts",
    "WatchedArk",
    "cli_env",
    "run_asset_campaign",
    "run_campaign",
    "run_provider_campaign",
    "start_run",
    "wait_for",
]

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_PLAN = REPO / "examples" / "ep001" / "plan.json"
PROJECT, EPISODE = "nightshift", "EP001"
EPISODES = ("EP001", "EP002")
PASS_ID = json.loads(EXAMPLE_PLAN.read_text())["coverage_passes"][0]["pass_id"]
CONTINUITY: tuple[str, ...] = ()
COVERAGE = ("--strategy", "coverage")
SENTINEL_KEY = "SENTINEL-ark-key-kill-3b8e41d0"
MODES = ("create", "create", "poll", "media", "anytime")
QUEUE_S = 0.15
"""The fake's task time: a task runs from ``QUEUE_S / 2`` and finishes at ``QUEUE_S``."""
JOB_TIMEOUT_S = (0.08, 0.11)
"""``--job-timeout`` drawn in this range: past ``QUEUE_S / 2`` (a job is running, so Ark
cannot cancel it) and short of ``QUEUE_S`` (it has not finished), so it outlives the run."""
FAULT_P = 0.25
"""Chance that a run after the first two of a folder gets a 5xx create injected."""
KILL_CONCURRENCY = (1, 2, 4)
"""A killed run's ``--concurrency``: fewer jobs at once leave more of the episode to kill."""
EPISODE_TAKES = 7
CONFORM_TAKES = 2  # the coverage scene's v1 take and its v2 take
CAP_SHARE = (0.4, 0.7)
"""A capped wave's ``--budget``: this share of the episode's dry-run estimate."""
CAP_RAISE = (0.1, 0.25)
"""A second wave's cap: the first's plus this share of the estimate (still short of it)."""
WAIT_RUNS = (2, 3)
"""``recoil run --budget CAP --wait`` runs of one episode started at once in a wave."""
CAPPED_MODES = ("create", "poll")
"""Kill moments of a capped wave: they hit the run holding the episode lock, once the others
wait for it (the heavy mix adds ``anytime``, which hits any run, maybe one still waiting)."""
CAPPED_EXITS = (0, 1, 6)
"""A capped run's own exits: complete, incomplete, budget exhausted."""


def fingerprint_counts(ark: WatchedArk, task_ids: set[str] | frozenset[str]) -> dict[str, int]:
    """How many of ``task_ids`` each create fingerprint made."""
    counts: dict[str, int] = {}
    for task_id in task_ids:
        fingerprint = ark.fingerprints[task_id]
        counts[fingerprint] = counts.get(fingerprint, 0) + 1
    return counts


def committed_usd(ark: WatchedArk, task_ids: set[str] | frozenset[str]) -> float:
    """What Ark billed for ``task_ids``, plus what each one still queued or running bills
    when it finishes (the fake bills a task when a look finds it done, and a job that runs
    cannot be taken back): the provider's spend on those tasks at this moment."""
    billed = billed_usd(ark)
    table = price_table()
    total = 0.0
    for task_id in task_ids:
        if task_id in billed:
            total += billed[task_id]
            continue
        task = ark.task(task_id)
        if task["status"] not in ("queued", "running"):
            continue
        info = model_info(task["model"])
        audio = task.get("generate_audio") if info.supports_audio else None
        price = table.usd_per_mtok(
            info.family,
            resolution=task.get("resolution"),
            generate_audio=audio if isinstance(audio, bool) else None,
        )
        tokens = billed_tokens(task["resolution"], task["ratio"], task["duration"])
        total += table.cost_usd(tokens, price)
    return total


def lock_holder(lock: Path) -> int | None:
    """The pid holding the filesystem backend's episode lock (an ``flock``) on ``lock``, read
    from ``/proc/locks``; None where that cannot be told."""
    try:
        inode = lock.stat().st_ino
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        # "1: FLOCK  ADVISORY  WRITE 4242 fe:00:1474578 0 EOF" (a blocked waiter: "1: -> FLOCK")
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5].endswith(f":{inode}"):
            return int(fields[4])
    return None


@attrs.define
class EpisodeShare:
    """The fake Ark as one episode's ``check_money`` sees it: only the tasks that episode's
    takes own (the other episode's tasks share the server)."""

    ark: WatchedArk
    task_ids: frozenset[str]

    def stats(self) -> dict[str, Any]:
        stats = self.ark.stats()
        stats["creates_total"] = len(self.task_ids)
        stats["creates_by_fingerprint"] = fingerprint_counts(self.ark, self.task_ids)
        stats["tasks"] = {t: s for t, s in stats["tasks"].items() if t in self.task_ids}
        stats["tokens_by_task"] = {
            t: n for t, n in stats["tokens_by_task"].items() if t in self.task_ids
        }
        return stats

    def task(self, task_id: str) -> dict[str, Any]:
        return self.ark.task(task_id)


@attrs.define
class CampaignCounts(MoneyCounts):
    """The money counts of all the campaign's episodes, and what the campaign did."""

    folders: int = 0
    episodes: int = 0
    runs: int = 0
    kills: int = 0
    kills_by_mode: dict[str, int] = attrs.field(factory=dict)
    adopted_jobs: int = 0
    """Server tasks held by more than one take step (either episode, any version)."""
    unowned_jobs: int = 0
    """Server tasks no take step holds."""
    unsettled_jobs: int = 0
    """Server tasks still queued or running when both episodes were complete."""
    ledger_mismatched_jobs: int = 0
    """Jobs whose ledger charges differ from what the server billed for them."""
    left_for_person: int = 0
    """Takes a plain run left ``unknown`` (each resubmitted with ``--resubmit-unknown``)."""
    left_for_person_findable: int = 0
    """Of those, takes whose request key a server task carries (a search could find it)."""
    timeout_runs: int = 0
    timeouts: int = 0
    """Jobs a ``--job-timeout`` run left running at the provider (in folders checked)."""
    timeouts_followed: int = 0
    """Of those, jobs followed to their end and charged by a later run or reconcile."""
    reconciles: int = 0
    faults_5xx: dict[str, int] = attrs.field(factory=dict)
    """5xx create faults injected, by kind (``after_create``, ``before_create``)."""
    creates_5xx: int = 0
    """Creates the server answered 5xx."""
    conforms: int = 0
    conforms_refused: int = 0
    capped_waves: int = 0
    """Waves of ``recoil run --budget CAP --wait`` runs started at once."""
    capped_runs: int = 0
    capped_kills: int = 0
    capped_halts: int = 0
    """Capped runs that stopped with exit 6 (budget exhausted)."""
    capped_waited: int = 0
    """Capped runs that said they were waiting for another run of the episode."""
    cap_checks: int = 0
    """Samples of the provider's spend against a wave's cap (after each exit, at the end)."""
    cap_violations: int = 0
    """Samples above the cap."""
    cap_peak: float = 0.0
    """The highest spend / cap of any sample."""
    refused_runs: int = 0
    refused_seen: int = 0
    """Wrong-key runs the server refused at least once."""
    refused_exits: dict[str, int] = attrs.field(factory=dict)
    """Wrong-key runs by outcome: exit code, or ``killed``."""
    refused_creates: int = 0
    """Creates the server answered 401 (none of them makes a task)."""
    creates_after_refusal: int = 0
    """Of those, creates that arrived after the server had refused the same run once."""
    refused_takes: int = 0
    """Takes a refused create left ``cancelled`` with nothing sent (no attempt used)."""
    key_leaks: int = 0
    """Outputs and files under the projects folder holding a wrong (or the right) key."""
    failures: list[str] = attrs.field(factory=list)
    """Folders whose checks failed (``run_campaign(strict=False)`` goes on after one)."""


def plan_file(folder: Path, episode: str, **generation_config: Any) -> Path:
    """The example plan as ``episode``, its coverage pass on Seedance's default tier."""
    plan = json.loads(EXAMPLE_PLAN.read_text())
    plan["episode"] = episode
    plan["coverage_passes"][0]["generation_config"] = {"tier": "default", **generation_config}
    path = folder / f"{episode}.json"
    path.write_text(json.dumps(plan))
    return path


def start_run(
    env: Mapping[str, str], cwd: Path, *extra: str, plan: Path = EXAMPLE_PLAN
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [recoil_executable(), "run", str(plan), "--provider", "seeddance", *extra],
        env=dict(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@attrs.define(eq=False)
class WaveRun:
    """A capped ``--wait`` run of a wave, its output (stdout and stderr) read as it comes:
    each line wakes whoever waits on the server's ``changed``."""

    proc: subprocess.Popen[str]
    lines: list[str]
    reader: threading.Thread

    @classmethod
    def start(
        cls, ark: WatchedArk, env: Mapping[str, str], cwd: Path, *extra: str, plan: Path
    ) -> WaveRun:
        proc = subprocess.Popen(
            [recoil_executable(), "run", str(plan), "--provider", "seeddance", *extra],
            env=dict(env),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: list[str] = []

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                with ark.changed:
                    lines.append(line)
                    ark.changed.notify_all()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        return cls(proc, lines, reader)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    @property
    def waiting(self) -> bool:
        """The run said it waits for another run of the episode (it may hold the lock now)."""
        return any("waiting for another recoil run" in line for line in self.lines)

    def output(self) -> str:
        self.proc.wait(120)
        self.reader.join(120)
        return "".join(self.lines)


def kill_in_wave(
    ark: WatchedArk,
    runs: list[WaveRun],
    lock: Path,
    rng: random.Random,
    mode: str,
    delay: float,
    nth_get: int,
) -> tuple[WaveRun | None, bool]:
    """SIGKILL one of ``runs`` (of one episode) ``delay`` after a moment of ``mode``: a
    ``create`` (held by the server) or ``poll`` kill, once another run said it waits, hits
    the run holding the episode lock ``lock``; an ``anytime`` kill hits any run still alive.
    The run hit (None when every run ended first; it may have ended before its kill) and
    whether it held the lock."""
    creates0, gets0, _media0 = ark.counters()
    procs = [run.proc for run in runs]

    def one_waits() -> bool:
        alive = [run for run in runs if run.alive]
        return len(alive) <= 1 or any(run.waiting for run in alive)

    ark.release.clear()
    ark.hold_creates = mode == "create"
    try:
        if mode == "create":
            alive = wait_for_any(ark, procs, lambda: ark.counters()[0] > creates0 and one_waits())
        elif mode == "poll":
            alive = wait_for_any(
                ark, procs, lambda: ark.counters()[1] >= gets0 + nth_get and one_waits()
            )
        else:
            alive = [proc for proc in procs if proc.poll() is None]
        if not alive:
            return None, False
        holder = lock_holder(lock) if mode != "anytime" else None
        victim = next((run for run in runs if run.proc.pid == holder and run.alive), None)
        victim = victim or rng.choice([run for run in runs if run.proc in alive])
        try:
            victim.proc.wait(delay)
        except subprocess.TimeoutExpired:
            victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(120)
        return victim, victim.proc.pid == holder
    finally:
        ark.hold_creates = False
        ark.release.set()


def status_json(env: Mapping[str, str], cwd: Path, episode: str = EPISODE) -> dict[str, Any]:
    done = run_recoil(
        env, cwd, "status", "--json", "--project", PROJECT, "--episode", episode, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def assert_unfinished_takes_need_attention(
    env: Mapping[str, str], cwd: Path, episode: str = EPISODE
) -> None:
    """No take is left mid-flight without ``recoil status --json`` saying so."""
    if not (Path(env["RECOIL_PROJECTS_ROOT"]) / PROJECT / episode / "scenes").exists():
        return
    (data,) = status_json(env, cwd, episode)["episodes"]
    final = {s.value for s in TakeState} - {
        "planned",
        "reserved",
        "submitting",
        "submitted",
        "unknown",
    }
    for scene in data["scenes"]:
        for beat in scene["beats"]:
            for take in beat["takes"]:
                if take["state"] not in final:
                    assert any(line.startswith(take["take_id"]) for line in data["attention"]), (
                        f"{episode} {take['take_id']} is {take['state']} but not under attention"
                    )


def kill_once(
    ark: WatchedArk,
    env: Mapping[str, str],
    cwd: Path,
    rng: random.Random,
    log: Callable[[str], None],
    *extra: str,
    plan: Path = EXAMPLE_PLAN,
    mode: str | None = None,
) -> tuple[str | None, int]:
    """Start a run of ``plan`` and SIGKILL it at a moment drawn from ``rng`` (``mode``, if
    given, is the kind of moment); the mode used, or None when the run ended first, and
    the run's exit code."""
    mode = mode or rng.choice(MODES)
    delay = rng.uniform(0.0, 0.03) if mode != "anytime" else rng.uniform(0.0, 1.0)
    creates0, gets0, media0 = ark.counters()
    nth_get = rng.randint(1, 6)
    ark.release.clear()
    ark.hold_creates = mode == "create"
    proc = start_run(env, cwd, *extra, plan=plan)
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
        _out, err = proc.communicate(timeout=120)
    finally:
        ark.hold_creates = False
        ark.release.set()
    killed = proc.returncode == -signal.SIGKILL
    assert killed or "Traceback" not in err, err
    log(f"  kill: mode={mode} delay={delay:.4f}s nth_get={nth_get} -> rc={proc.returncode}")
    return (mode if killed else None), proc.returncode


def run_to_end(
    env: Mapping[str, str], cwd: Path, *extra: str, plan: Path = EXAMPLE_PLAN
) -> subprocess.CompletedProcess[str]:
    done = run_recoil(env, cwd, "run", str(plan), "--provider", "seeddance", "--json", *extra)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def reconcile(env: Mapping[str, str], cwd: Path, episode: str, counts: CampaignCounts) -> None:
    counts.reconciles += 1
    done = run_recoil(
        env, cwd, "reconcile", "--project", PROJECT, "--episode", episode, "--json", timeout=120
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode in (0, 1), done.stderr  # 1: a lost create stays for the next run
    assert json.loads(done.stdout)["episodes"][0]["episode"] == episode


def report_of(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def running_jobs(report: Mapping[str, Any]) -> set[str]:
    """The job ids of the takes a run report leaves ``submitted`` (still at the provider)."""
    return {
        job_id
        for scene in report.get("scenes", [])
        for beat in scene["beats"]
        for take in beat["takes"]
        if take["state"] == "submitted"
        for job_id in take["job_ids"]
        if job_id
    }


def inject_5xx(
    ark: WatchedArk, rng: random.Random, counts: CampaignCounts, kind: str | None = None
) -> str:
    """Make the server's next create answer 5xx, after making the task or (``before_create``)
    without making it; the kind injected."""
    kind = kind or rng.choice(("after_create", "before_create"))
    code = rng.choice((500, 502, 503))
    ark.inject("create", "status", status_code=code, before_create=kind == "before_create")
    counts.faults_5xx[kind] = counts.faults_5xx.get(kind, 0) + 1
    return f"{kind} {code}"


def never_sent(take: Take) -> bool:
    """A take cancelled before anything was sent for it (a refused create): no attempt."""
    return take.state == TakeState.CANCELLED and all(
        step.state in (StepState.PLANNED, StepState.SKIPPED) and not step.job_id
        for step in take.workflow.steps
    )


def leaks(text: str | bytes, keys: list[str]) -> list[str]:
    """The ``keys`` found in ``text``."""
    data = text.encode() if isinstance(text, str) else text
    return [key for key in keys if key.encode() in data]


@attrs.define(frozen=True)
class Wave:
    """Capped runs started at once: their cap, and every task the episode's capped runs
    had made when the wave's last run ended."""

    episode: str
    cap: float
    tasks: frozenset[str]


@attrs.define
class Folder:
    """One campaign folder: two episodes of the same shape on one fake Ark server."""

    ark: WatchedArk
    env: dict[str, str]
    root: Path
    rng: random.Random
    counts: CampaignCounts
    log: Callable[[str], None]
    plans: dict[str, Path] = attrs.field(factory=dict)
    pending: set[tuple[str, str]] = attrs.field(factory=set)
    """(episode, strategy) pairs not yet seen complete."""
    conformed: set[str] = attrs.field(factory=set)
    timed_out: dict[str, str] = attrs.field(factory=dict)
    """Job id -> episode, for every job a ``--job-timeout`` run left running."""
    heavy: bool = False
    """The bench's mix: a second capped wave, more kills in a wave, more wrong-key runs."""
    waves: list[Wave] = attrs.field(factory=list)
    wrong_keys: list[str] = attrs.field(factory=list)

    @property
    def backend(self) -> FilesystemBackend:
        return FilesystemBackend(Path(self.env["RECOIL_PROJECTS_ROOT"]))

    def strategy_args(self, strategy: str) -> tuple[str, ...]:
        return COVERAGE if strategy == "coverage" else CONTINUITY

    def ended(self, episode: str, strategy: str, returncode: int) -> None:
        if returncode == 0:
            self.pending.discard((episode, strategy))

    def kill(self, episode: str, strategy: str, mode: str | None = None) -> None:
        self.counts.runs += 1
        concurrency = self.rng.choice(KILL_CONCURRENCY)
        self.log(f" {episode} {strategy} --concurrency {concurrency}")
        killed, returncode = kill_once(
            self.ark,
            self.env,
            self.root,
            self.rng,
            self.log,
            *self.strategy_args(strategy),
            "--concurrency",
            str(concurrency),
            plan=self.plans[episode],
            mode=mode,
        )
        if killed is not None:
            self.counts.kills += 1
            self.counts.kills_by_mode[killed] = self.counts.kills_by_mode.get(killed, 0) + 1
        else:
            self.ended(episode, strategy, returncode)
        assert_unfinished_takes_need_attention(self.env, self.root, episode)

    def timeout_run(self, episode: str, strategy: str, *, reconcile_p: float = 0.5) -> set[str]:
        """A run whose ``--job-timeout`` its jobs outlive; the jobs it left running."""
        timeout = self.rng.uniform(*JOB_TIMEOUT_S)
        self.counts.runs += 1
        self.counts.timeout_runs += 1
        done = run_to_end(
            self.env,
            self.root,
            *self.strategy_args(strategy),
            "--job-timeout",
            f"{timeout:.3f}",
            plan=self.plans[episode],
        )
        assert done.returncode in (0, 1), done.stdout + done.stderr
        self.ended(episode, strategy, done.returncode)
        jobs = running_jobs(report_of(done))
        self.timed_out.update(dict.fromkeys(jobs, episode))
        assert_unfinished_takes_need_attention(self.env, self.root, episode)
        followed = bool(jobs) and self.rng.random() < reconcile_p
        self.log(
            f" {episode} {strategy} --job-timeout {timeout:.3f}: rc={done.returncode}, "
            f"{len(jobs)} job(s) left running{'; reconcile' if followed else ''}"
        )
        if followed:
            reconcile(self.env, self.root, episode, self.counts)
        return jobs

    def takes(self, episode: str) -> list[Take]:
        return [
            take
            for scene in every_version(self.backend, PROJECT, episode)
            for beat in scene.beats
            for take in beat.takes
        ]

    def spend_within(self, episode: str, cap: float, tasks: set[str], why: str) -> None:
        """What Ark billed and will bill for ``tasks`` (capped runs' tasks) is at most ``cap``."""
        spent = committed_usd(self.ark, tasks)
        self.counts.cap_checks += 1
        self.counts.cap_peak = max(self.counts.cap_peak, spent / cap)
        self.log(f"  {why}: provider spend ${spent:.4f} of cap ${cap:.2f}")
        if spent > cap + 1e-6:
            self.counts.cap_violations += 1
            raise AssertionError(
                f"{episode}: provider spend ${spent:.4f} > --budget {cap:.2f} after {why} "
                f"(tasks {sorted(tasks)})"
            )

    def capped(self, episode: str) -> None:
        """Capped ``--wait`` waves of a fresh episode (see the module doc): the heavy mix
        may add a second wave with a higher cap, still short of the episode's demand."""
        assert not (Path(self.env["RECOIL_PROJECTS_ROOT"]) / PROJECT / episode).exists()
        dry = run_to_end(self.env, self.root, "--dry-run", plan=self.plans[episode])
        assert dry.returncode == 0, dry.stdout + dry.stderr
        estimate = float(report_of(dry)["estimated_usd"])
        before = frozenset(self.ark.created())
        cap = round(estimate * self.rng.uniform(*CAP_SHARE), 2)
        for wave in range(self.rng.choice((1, 2)) if self.heavy else 1):
            if wave:
                cap = round(cap + estimate * self.rng.uniform(*CAP_RAISE), 2)
            self.capped_wave(episode, cap, before, estimate)

    def capped_wave(
        self, episode: str, cap: float, before: frozenset[str], estimate: float
    ) -> None:
        rng, counts, ark = self.rng, self.counts, self.ark
        runs = rng.randint(*WAIT_RUNS)
        kills = rng.randint(1, runs - 1) if self.heavy else 1
        concurrency = [rng.choice(KILL_CONCURRENCY) for _ in range(runs)]
        self.log(
            f" {episode} {runs} x --budget {cap:.2f} --wait (estimate ${estimate:.4f}) "
            f"--concurrency {concurrency}, {kills} kill(s)"
        )
        counts.capped_waves += 1
        counts.capped_runs += runs
        counts.runs += runs
        lock = Path(self.env["RECOIL_PROJECTS_ROOT"]) / PROJECT / episode / LOCK_FILE
        budget = ("--budget", f"{cap:.2f}", "--wait")
        runs = [
            WaveRun.start(
                ark, self.env, self.root, *budget, "--concurrency", str(c), plan=self.plans[episode]
            )
            for c in concurrency
        ]
        reaped: list[WaveRun] = []

        def reap(run: WaveRun, why: str) -> None:
            output = run.output()
            reaped.append(run)
            code = run.proc.returncode
            assert "Traceback" not in output, output
            assert code == -signal.SIGKILL or code in CAPPED_EXITS, output
            counts.capped_halts += code == 6
            counts.capped_waited += run.waiting
            self.log(f"  capped run {run.proc.pid}: rc={code} ({why}; waited: {run.waiting})")
            if code == 0:
                self.ended(episode, "continuity", 0)
            self.spend_within(episode, cap, ark.created() - before, f"run {run.proc.pid} ended")

        try:
            for _kill in range(kills):
                mode = rng.choice((*CAPPED_MODES, "anytime") if self.heavy else CAPPED_MODES)
                delay = rng.uniform(0.0, 0.03) if mode != "anytime" else rng.uniform(0.0, 1.0)
                nth_get = rng.randint(1, 6)
                victim, holder = kill_in_wave(ark, runs, lock, rng, mode, delay, nth_get)
                if victim is None:
                    break  # every run ended first
                killed = victim.proc.returncode == -signal.SIGKILL
                self.log(
                    f"  kill: mode={mode} delay={delay:.4f}s nth_get={nth_get} "
                    f"lock holder={holder} -> rc={victim.proc.returncode}"
                )
                if killed:
                    counts.kills += 1
                    counts.capped_kills += 1
                    key = f"wait-{mode}"
                    counts.kills_by_mode[key] = counts.kills_by_mode.get(key, 0) + 1
                reap(victim, "killed" if killed else "ended before its kill")
            for run in runs:
                if run not in reaped:
                    reap(run, "ran to its end")
        finally:
            for run in runs:
                if run.alive:
                    run.proc.kill()
                    run.output()
        tasks = frozenset(ark.created() - before)
        self.waves.append(Wave(episode, cap, tasks))
        assert_unfinished_takes_need_attention(self.env, self.root, episode)

    def refused(self) -> None:
        """Runs with a wrong ``ARK_API_KEY`` of a pending (episode, strategy), some killed
        after the server refused them (see the module doc); the campaign's later runs, with
        the right key, resume. A run that found nothing to do (exit 0, nothing refused: the
        pair was complete) moves the phase to another pending pair."""
        rng, counts, ark = self.rng, self.counts, self.ark
        key = f"WRONG-ark-key-{rng.getrandbits(40):010x}"
        self.wrong_keys.append(key)
        env = cli_env(ark, self.root, key=key)
        targets = rng.sample(sorted(self.pending), len(self.pending))
        episode, strategy = targets.pop()
        touched = {episode}
        runs = rng.randint(1, 3) if self.heavy else 1
        while runs:
            # None: to its end. The heavy mix may kill a run before it reached the server.
            mode = rng.choice(("refused", None, "anytime") if self.heavy else ("refused", None))
            delay = rng.uniform(0.0, 0.03) if mode != "anytime" else rng.uniform(0.0, 1.0)
            concurrency = rng.choice(KILL_CONCURRENCY)
            creates0, refused0 = ark.creates_total, ark.refused_creates
            unsent0 = sum(never_sent(take) for take in self.takes(episode))
            counts.runs += 1
            counts.refused_runs += 1
            ark.mark_run()
            proc = start_run(
                env,
                self.root,
                *self.strategy_args(strategy),
                "--concurrency",
                str(concurrency),
                plan=self.plans[episode],
            )
            try:
                if mode == "refused":
                    alive = wait_for(ark, proc, lambda: ark.refusals > ark.refusals_mark)
                else:
                    alive = mode is not None
                if alive:
                    try:
                        proc.wait(delay)
                    except subprocess.TimeoutExpired:
                        proc.send_signal(signal.SIGKILL)
                out, err = proc.communicate(timeout=120)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
            killed = proc.returncode == -signal.SIGKILL
            refused = ark.refusals > ark.refusals_mark
            outcome = "killed" if killed else str(proc.returncode)
            counts.refused_exits[outcome] = counts.refused_exits.get(outcome, 0) + 1
            counts.refused_seen += refused
            unsent = sum(never_sent(take) for take in self.takes(episode)) - unsent0
            self.log(
                f" {episode} {strategy} wrong key --concurrency {concurrency}: mode={mode} "
                f"delay={delay:.4f}s -> rc={proc.returncode}, refused: {refused}, "
                f"{ark.refused_creates - refused0} create(s) refused, {unsent} take(s) "
                "cancelled unsent"
            )
            if killed:
                counts.kills += 1
                name = f"refused-{mode}"
                counts.kills_by_mode[name] = counts.kills_by_mode.get(name, 0) + 1
            leaked = leaks(out + err, [key, SENTINEL_KEY])
            counts.key_leaks += len(leaked)
            assert not leaked, f"a key in the output of a wrong-key run: {out}\n{err}"
            assert "Traceback" not in err, err
            assert ark.creates_total == creates0, "a create reached Ark with a wrong key"
            # 9: refused. 1: only searches were refused (takes left unknown: the next run
            # searches again). 0: nothing was left to send or follow.
            assert killed or proc.returncode in (0, 1, 9), out + err
            assert proc.returncode != 0 or not refused, out + err
            assert_unfinished_takes_need_attention(self.env, self.root, episode)
            runs -= 1
            if proc.returncode == 0:  # the pair was complete
                self.ended(episode, strategy, 0)
                if not targets:
                    break
                episode, strategy = targets.pop()
                touched.add(episode)
                runs = max(runs, 1)
        for episode in touched:
            failed = [
                f"{take.take_id} {take.state.value}"
                for take in self.takes(episode)
                if take.state
                in (TakeState.FAILED, TakeState.FAILED_BUT_BILLED, TakeState.BUILD_ERROR)
            ]
            assert not failed, f"{episode}: takes failed by a wrong key: {failed}"

    def conform(self, episode: str) -> None:
        """Render the coverage pass (v1), change its generation_config (a staged v2) and
        conform v2; v2 renders later. The campaign's first conform (then one in two) runs
        v1 and the staged run with ``--job-timeout`` while Ark finishes nothing, so v1's
        job is still running: the conform is refused until ``recoil reconcile`` charged it."""
        held = self.counts.conforms == 0 or self.rng.random() < 0.5
        self.log(f" {episode} conform (v1 still at Ark: {held})")
        self.ark.set(never_finish=held)
        try:
            if held:
                self.timeout_run(episode, "coverage", reconcile_p=0.0)
            else:
                self.counts.runs += 1
                first = run_to_end(self.env, self.root, *COVERAGE, plan=self.plans[episode])
                assert first.returncode == 0, first.stdout + first.stderr
            self.plans[episode] = plan_file(self.root, episode, camera_fixed=True)
            self.counts.runs += 1
            extra = ("--job-timeout", f"{JOB_TIMEOUT_S[0]:.3f}") if held else ()
            staged = run_to_end(self.env, self.root, *COVERAGE, *extra, plan=self.plans[episode])
            notices = report_of(staged)["notices"]
            assert any("appended candidate version v2" in n for n in notices), staged.stdout
            command = ("rederive", "--conform", PASS_ID, "--project", PROJECT, "--episode", episode)
            done = run_recoil(self.env, self.root, *command)
        finally:
            self.ark.set(never_finish=False)
        if held:
            assert done.returncode == 2, done.stdout + done.stderr
            assert "still has take(s) at the provider" in done.stderr, done.stderr
            self.counts.conforms_refused += 1
            self.log(f"  conform refused (v1 still at Ark): reconcile {episode}, conform again")
            reconcile(self.env, self.root, episode, self.counts)
            done = run_recoil(self.env, self.root, *command)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "v2 is now active" in done.stdout, done.stdout
        self.counts.conforms += 1
        self.conformed.add(episode)
        self.pending.add((episode, "coverage"))

    def finish(self, episode: str, strategy: str) -> None:
        """Resume until complete. A plain run settles lost creates itself (a search at the
        provider, then a resend with a fresh identity); a take it leaves ``unknown`` is a take
        left for a person: counted, checked against the server, then resubmitted."""
        extra = self.strategy_args(strategy)
        plan = self.plans[episode]
        done = None
        for _ in range(4):
            self.counts.runs += 1
            done = run_to_end(self.env, self.root, *extra, plan=plan)
            if done.returncode == 0:
                self.pending.discard((episode, strategy))
                return
            report = report_of(done)
            if not report["take_counts"].get("unknown"):
                continue
            self.count_left_for_person(episode, report)
            self.counts.runs += 1
            done = run_to_end(self.env, self.root, *extra, "--resubmit-unknown", plan=plan)
            if done.returncode == 0:
                self.pending.discard((episode, strategy))
                return
        assert done is not None
        raise AssertionError(f"{episode} did not complete: {done.stdout}\n{done.stderr}")

    def count_left_for_person(self, episode: str, report: Mapping[str, Any]) -> None:
        keys = {self.ark.task(tid).get("safety_identifier") for tid in self.ark.task_ids()} - {None}
        for scene in every_version(self.backend, PROJECT, episode):
            for beat in scene.beats:
                for take in beat.takes:
                    if take.state != TakeState.UNKNOWN:
                        continue
                    self.counts.left_for_person += 1
                    findable = any(
                        step.request_key and step.request_key[:SAFETY_IDENTIFIER_MAX] in keys
                        for step in take.workflow.steps
                    )
                    self.counts.left_for_person_findable += findable
                    self.log(
                        f"  LEFT FOR A PERSON: {episode} {take.take_id} "
                        f"(a server task carries its request key: {findable}); "
                        f"attention: {report['attention']}"
                    )

    def check(self) -> None:
        """The money promise for both episodes on the one server (see the module doc)."""
        ark, backend, counts = self.ark, self.backend, self.counts
        stats = ark.stats()
        owners: dict[str, list[str]] = {}
        owned_by: dict[str, set[str]] = {episode: set() for episode in EPISODES}
        lost = 0
        for episode in EPISODES:
            for scene in every_version(backend, PROJECT, episode):
                for beat in scene.beats:
                    for take in beat.takes:
                        for step in take.workflow.steps:
                            if step.job_id:
                                where = f"{episode}/{take.take_id}/{step.step_id}"
                                owners.setdefault(step.job_id, []).append(where)
                                owned_by[episode].add(step.job_id)
                        if take.state == TakeState.SUCCEEDED and not (
                            Path(take.render_path or "").is_file()
                            and Path(take.sidecar_path or "").is_file()
                        ):
                            lost += 1
        adopted = {job: where for job, where in owners.items() if len(where) > 1}
        # A shot with a pinned seed is the same request in both episodes: a duplicate is
        # a fingerprint created twice for one episode, or a task no take owns whose
        # fingerprint was created again.
        twice = {
            episode: {fp: n for fp, n in fingerprint_counts(ark, ids).items() if n > 1}
            for episode, ids in owned_by.items()
        }
        duplicates = sum(n - 1 for by_fp in twice.values() for n in by_fp.values())
        created = set(stats["tasks"]) | set(stats["deleted_task_ids"])
        unowned = created - set(owners)
        everyone = fingerprint_counts(ark, created)
        duplicates += sum(everyone[ark.fingerprints[task_id]] > 1 for task_id in unowned)
        unsettled = {t for t in owners if stats["tasks"].get(t) in ("queued", "running")}
        billed = billed_usd(ark)
        mismatched = []
        for episode in EPISODES:
            charged: dict[str, float] = {}
            for entry in backend.read_ledger(PROJECT, episode):
                charged[str(entry.job_id)] = charged.get(str(entry.job_id), 0.0) + entry.amount_usd
            for job in owned_by[episode] | set(charged):
                if charged.get(job, 0.0) != pytest.approx(billed.get(job, 0.0)):
                    mismatched.append(f"{episode} {job}: {charged.get(job)} != {billed.get(job)}")
        unfollowed = {
            job: episode
            for job, episode in self.timed_out.items()
            if stats["tasks"].get(job) != "succeeded" or job not in owned_by[episode]
        }
        counts.duplicates += duplicates
        counts.adopted_jobs += len(adopted)
        counts.unowned_jobs += len(unowned)
        counts.unsettled_jobs += len(unsettled)
        counts.lost_renders += lost
        counts.ledger_mismatched_jobs += len(mismatched)
        counts.timeouts += len(self.timed_out)
        counts.timeouts_followed += len(self.timed_out) - len(unfollowed)
        counts.creates_5xx += ark.creates_5xx
        counts.refused_creates += ark.refused_creates
        counts.creates_after_refusal += ark.creates_after_refusal
        self.log(
            f" check: creates={stats['creates_total']} duplicates={duplicates} "
            f"adopted={len(adopted)} unowned={len(unowned)} unsettled={len(unsettled)} "
            f"lost_renders={lost} ledger_mismatched={len(mismatched)} "
            f"timeouts_followed={len(self.timed_out) - len(unfollowed)}/{len(self.timed_out)} "
            f"creates_5xx={ark.creates_5xx}"
        )
        assert duplicates == 0, f"duplicate creates: {twice}"
        assert not adopted, f"jobs adopted by more than one take step: {adopted}"
        assert not unowned, f"tasks no take knows about: {sorted(unowned)}"
        assert stats["creates_total"] == len(created) == len(owners)
        assert not unsettled, f"jobs still at the provider: {sorted(unsettled)}"
        assert lost == 0, "lost renders"
        assert not mismatched, f"ledger != billed: {mismatched}"
        assert not unfollowed, f"timed-out jobs never followed and charged: {unfollowed}"
        for wave in self.waves:
            self.spend_within(wave.episode, wave.cap, set(wave.tasks), "the end (a wave's tasks)")
        keys = [*self.wrong_keys, SENTINEL_KEY]
        leaked = [
            f"{path}: {found}"
            for path in Path(self.env["RECOIL_PROJECTS_ROOT"]).rglob("*")
            if path.is_file() and (found := leaks(path.read_bytes(), keys))
        ]
        counts.key_leaks += len(leaked)
        assert not leaked, f"an Ark key in the projects folder: {leaked}"
        for episode in EPISODES:
            share = EpisodeShare(ark, frozenset(owned_by[episode]))
            money = check_money(share, backend, PROJECT, episode)  # type: ignore[arg-type]
            expected = EPISODE_TAKES + (CONFORM_TAKES if episode in self.conformed else 0)
            # A take a refused create cancelled used no attempt: the beat's next take
            # succeeded at --max-takes 1. No other take is left unsucceeded.
            takes = self.takes(episode)
            unsent = sum(never_sent(take) for take in takes)
            others = [
                f"{t.take_id} {t.state.value}"
                for t in takes
                if t.state != TakeState.SUCCEEDED and not never_sent(t)
            ]
            assert not others, f"{episode}: takes neither succeeded nor cancelled unsent: {others}"
            assert money.succeeded == expected == money.takes - unsent, (episode, money, unsent)
            counts.refused_takes += unsent
            counts.takes += money.takes
            counts.succeeded += money.succeeded
            counts.creates += money.creates
            counts.ledger_usd += money.ledger_usd
            counts.billed_usd += money.billed_usd
            self.log(f"  {episode} complete: {money}")


def run_folder(folder: Folder, kills: int, *, capped: bool, refused: bool) -> None:
    """Kill runs over the folder's two episodes until ``kills`` were killed or both are
    complete, with 5xx creates, a ``--job-timeout`` run for every five kills (in the second
    half, so they leave the kills something to kill) and one conform among them; then both
    episodes to the end, and the checks. ``capped``: the folder starts with capped ``--wait``
    runs of a fresh episode (the heavy mix: of each episode, or one in two); ``refused``:
    wrong-key runs of a pending episode in the first half of the kills."""
    rng, counts = folder.rng, folder.counts
    folder.pending = {(episode, "continuity") for episode in EPISODES}
    kills0 = counts.kills
    if capped:
        chosen = [e for e in EPISODES if rng.random() < 0.5] if folder.heavy else []
        for episode in chosen or [rng.choice(EPISODES)]:
            folder.capped(episode)
    refused_at = rng.randint(0, kills // 2) if refused else None
    first, second = rng.sample(EPISODES, 2)
    # Every folder walks both 5xx paths: a create-moment kill of a fresh episode whose
    # first create answers 5xx before Ark made anything (searched twice, sent again, then
    # killed in that create), and a run of the other whose first create answers 5xx after
    # Ark made the task (found by a search).
    folder.log(f"  5xx create: {inject_5xx(folder.ark, rng, counts, 'before_create')}")
    folder.kill(first, "continuity", mode="create")
    folder.log(f"  5xx create: {inject_5xx(folder.ark, rng, counts, 'after_create')}")
    folder.kill(second, "continuity")
    conform_at = rng.randint(0, kills)
    timeouts_at = sorted(rng.randint(kills // 2, kills) for _ in range(max(1, kills // 5)))
    for _attempt in range(3 * kills):
        done = counts.kills - kills0
        if not folder.conformed and done >= conform_at:
            folder.conform(rng.choice(EPISODES))
        # Before the last pending episode can complete, so that the key has work to refuse.
        if refused_at is not None and (done >= refused_at or len(folder.pending) == 1):
            refused_at = None
            folder.refused()
            continue
        if done >= kills or not folder.pending:
            break
        episode, strategy = rng.choice(sorted(folder.pending))
        if rng.random() < FAULT_P:
            folder.log(f"  5xx create: {inject_5xx(folder.ark, rng, counts)}")
        if timeouts_at and done >= timeouts_at[0]:
            timeouts_at.pop(0)
            folder.timeout_run(episode, strategy)
        else:
            folder.kill(episode, strategy)
    if not folder.conformed:
        folder.conform(rng.choice(EPISODES))
    if refused_at is not None and folder.pending:
        folder.refused()
    for episode in EPISODES:
        folder.finish(episode, "continuity")
        if episode in folder.conformed:
            folder.finish(episode, "coverage")
    folder.check()


def _folders(
    workdir: Path,
    counts: CampaignCounts,
    work: Callable[[Path], None],
    *,
    seed: int,
    kills: int,
    max_folders: int | None,
    log: Callable[[str], None],
    strict: bool,
    idle_folders: int,
) -> CampaignCounts:
    """Fresh folders under ``workdir``, each worked by ``work(root)``, until ``kills`` kills
    (or ``max_folders``), or until ``idle_folders`` folders in a row completed before any
    kill. ``strict``: a failed check raises; otherwise it is logged, kept in ``failures``
    and the campaign goes on with the next folder."""
    idle = 0
    while counts.kills < kills and (max_folders is None or counts.folders < max_folders):
        root = workdir / f"folder{counts.folders}"
        root.mkdir(parents=True)
        counts.folders += 1
        counts.episodes += len(EPISODES)
        kills0 = counts.kills
        log(f"folder {counts.folders} in {root}")
        try:
            work(root)
        except Exception as exc:
            if strict:
                raise
            message = f"folder {counts.folders} (seed {seed}): {type(exc).__name__}: {exc}"
            counts.failures.append(message)
            log(f"  FAILED: {message}")
        idle = idle + 1 if counts.kills == kills0 else 0
        if idle == idle_folders:  # fresh folders completed before any kill: stop
            break
    return counts


def run_campaign(
    workdir: Path,
    *,
    seed: int,
    kills: int,
    kills_per_episode: int,
    log: Callable[[str], None] = print,
    strict: bool = True,
    max_folders: int | None = None,
    heavy: bool = False,
) -> CampaignCounts:
    """Kill ``kills`` runs in total over as many folders as it takes (at most
    ``max_folders``), each folder two fresh episodes on one fake Ark with up to
    ``kills_per_episode`` kills each (fewer when both complete first). The first folder
    has a capped ``--wait`` phase and a wrong-key phase, later ones each in one folder in
    two. ``heavy``: the bench's heavier mix of both (see :class:`Folder`). ``strict``: a
    failed check raises; otherwise it is logged, kept in ``failures`` and the campaign goes
    on with the next folder."""
    rng = random.Random(seed)
    counts = CampaignCounts()
    log(f"kill campaign seed={seed} kills={kills} per_episode={kills_per_episode}")

    def work(root: Path) -> None:
        with WatchedArk(api_key=SENTINEL_KEY, queue_s=QUEUE_S) as ark:
            folder = Folder(ark, cli_env(ark, root), root, rng, counts, log, heavy=heavy)
            folder.plans = {episode: plan_file(root, episode) for episode in EPISODES}
            budget = min(len(EPISODES) * kills_per_episode, kills - counts.kills)
            capped = counts.folders == 1 or rng.random() < 0.5
            refused = counts.folders == 1 or rng.random() < 0.5
            run_folder(folder, budget, capped=capped, refused=refused)

    return _folders(
        workdir,
        counts,
        work,
        seed=seed,
        kills=kills,
        max_folders=max_folders,
        log=log,
        strict=strict,
        idle_folders=1,  # nothing left to kill in a fresh folder: stop
    )


# ---------------------------------------------------------------------- any fake provider
#
# The campaign above is Ark's (held creates, 5xx faults, conforms, capped waves, wrong
# keys, all on the in-process fake Ark). The one below runs against any of the three fake
# providers through a small adapter (the provider's name, its environment, and how to read
# the fake's creates and bill by job id): real ``recoil run`` subprocesses SIGKILLed at
# seeded random moments, restarted until each episode completes, then 0 duplicate creates
# per take identity, the ledger equal to the fake's bill job by job, every render present.


@attrs.define(frozen=True)
class ServerBill:
    """What a fake provider counted and billed, read after (or between) runs."""

    creates_total: int
    creates_by_identity: dict[str, int]
    """Creates by the take identity they carried (a request key or create fingerprint)."""
    jobs: dict[str, str]
    """Every job the server made: id to status."""
    billed_usd: dict[str, float]
    """USD billed by job id."""
    identity_by_job: dict[str, str] = attrs.field(factory=dict)
    """The identity each job's create carried, where the server tells it per job (then
    duplicates are counted on one episode's share: the fake Ark's create fingerprint is
    the same for the same take of two episodes of the same shape)."""

    def share(self, job_ids: Mapping[str, str]) -> ServerBill:
        """This bill restricted to ``job_ids`` (one episode's share of the server: server id
        to the job id Recoil records), keyed by the recorded ids."""
        by_identity = self.creates_by_identity
        if self.identity_by_job:
            by_identity = {}
            for job, identity in self.identity_by_job.items():
                if job in job_ids:
                    by_identity[identity] = by_identity.get(identity, 0) + 1
        return ServerBill(
            creates_total=sum(1 for j in self.jobs if j in job_ids),
            creates_by_identity=by_identity,
            jobs={job_ids[j]: s for j, s in self.jobs.items() if j in job_ids},
            billed_usd={job_ids[j]: usd for j, usd in self.billed_usd.items() if j in job_ids},
        )


class FakeProvider:
    """A running fake provider as the campaign drives it (see :data:`PROVIDERS`)."""

    name: str
    """What ``recoil run --provider`` takes."""
    video_model: str | None
    """The plan's ``video_model`` for this provider (None: the example plan's own)."""
    base_url: str

    def env(self, root: Path) -> dict[str, str]:
        """This process's environment for a ``recoil`` CLI run against the fake, projects
        under ``root``: base URL, key, and fast polls and lost-create searches."""
        raise NotImplementedError

    def bill(self) -> ServerBill:
        raise NotImplementedError

    def drop_next_create(self) -> None:
        """The next create is made at the provider and its answer lost (a search finds it)."""
        raise NotImplementedError

    def server_id(self, job_id: str) -> str:
        """The server's id of the job Recoil records as ``job_id``."""
        return job_id

    def close(self) -> None:
        raise NotImplementedError


def _clean_env(root: Path, *prefixes: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECOIL_", *prefixes))}
    env.update(
        RECOIL_PROJECTS_ROOT=str(root / "projects"),
        RECOIL_ANIMATIC_CACHE=str(root / "animatic-cache"),
    )
    return env


class _FakeProcess(FakeProvider):
    """A fake provider served by its own process (``python -m MODULE --port 0 --print-port``),
    driven over its ``/_fake/*`` endpoints."""

    module = ""
    key_flag = "--api-key"
    key = ""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                self.module,
                "--port",
                "0",
                "--print-port",
                self.key_flag,
                self.key,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()
        if not self.base_url.startswith("http"):
            self.close()
            raise RuntimeError(f"{self.module} did not start")
        self.http = httpx.Client(timeout=30)

    @property
    def control_url(self) -> str:
        return self.base_url.removesuffix("/v1")

    def stats(self) -> dict[str, Any]:
        data: dict[str, Any] = self.http.get(f"{self.control_url}/_fake/stats").json()
        return data

    def fault(self, **fault: Any) -> None:
        self.http.post(f"{self.control_url}/_fake/faults", json=fault).raise_for_status()

    def close(self) -> None:
        if getattr(self, "http", None) is not None:
            self.http.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class FakeFalProcess(_FakeProcess):
    name = "fal"
    video_model = "seedance-1-pro"
    module = "recoil_fal.testing.fake_fal"
    key = "SENTINEL-fal-key-kill-7d20c4e9"

    def env(self, root: Path) -> dict[str, str]:
        env = _clean_env(root, "FAL_")
        env.update(
            FAL_KEY=self.key,
            FAL_QUEUE_URL=self.base_url,
            FAL_API_URL=self.base_url,
            RECOIL_FAL_FIND_CONSISTENCY_S="0.2",
        )
        return env

    def bill(self) -> ServerBill:
        stats = self.stats()
        return ServerBill(
            creates_total=stats["creates_total"],
            creates_by_identity=stats["creates_by_key"],
            jobs=stats["states"],
            billed_usd=stats["billed_usd_by_request"],
        )

    def drop_next_create(self) -> None:
        self.fault(op="submit", kind="drop")

    def server_id(self, job_id: str) -> str:
        return job_id.rsplit("|", 1)[-1]  # the provider records "endpoint|seconds|request_id"


class FakeReplicateProcess(_FakeProcess):
    name = "replicate"
    video_model = "seedance-1-pro"
    module = "recoil_replicate.testing.fake_replicate"
    key_flag = "--api-token"
    key = "SENTINEL-replicate-token-kill-51af09b3"

    def env(self, root: Path) -> dict[str, str]:
        env = _clean_env(root, "REPLICATE_")
        env.update(
            REPLICATE_API_TOKEN=self.key,
            REPLICATE_API_BASE=self.base_url,
            RECOIL_REPLICATE_POLL_S="0.02",
            RECOIL_REPLICATE_FIND_CONSISTENCY_S="0.2",
        )
        return env

    def bill(self) -> ServerBill:
        stats = self.stats()
        return ServerBill(
            creates_total=stats["creates_total"],
            creates_by_identity=stats["creates_by_key"],
            jobs=stats["predictions"],
            billed_usd=stats["billed_usd_by_prediction"],
        )

    def drop_next_create(self) -> None:
        self.fault(op="create", kind="drop")


class FakeArkInProcess(FakeProvider):
    """The fake Ark of the campaign above (in this process), behind the same adapter."""

    name = "seeddance"
    video_model = None

    def __init__(self) -> None:
        self.ark = WatchedArk(api_key=SENTINEL_KEY, queue_s=QUEUE_S)
        self.ark.start()
        self.base_url = self.ark.base_url

    def env(self, root: Path) -> dict[str, str]:
        return cli_env(self.ark, root)

    def bill(self) -> ServerBill:
        stats = self.ark.stats()
        return ServerBill(
            creates_total=stats["creates_total"],
            creates_by_identity=stats["creates_by_fingerprint"],
            jobs=stats["tasks"],
            billed_usd=billed_usd(self.ark),
            identity_by_job=dict(self.ark.fingerprints),
        )

    def drop_next_create(self) -> None:
        self.ark.inject("create", "drop")

    def close(self) -> None:
        self.ark.close()


PROVIDERS: dict[str, Callable[[], FakeProvider]] = {
    "seeddance": FakeArkInProcess,
    "fal": FakeFalProcess,
    "replicate": FakeReplicateProcess,
}
"""The fake providers the generic campaign runs against, by ``--provider`` name."""

PROVIDER_MODES = ("create", "create", "anytime", "anytime", "drop")
"""Kill moments of the generic campaign: ``create`` (just after the server made a job: the
CLI may die before it saved the job id), ``anytime`` (a random delay after start) and
``drop`` (the next create's answer is lost, then a kill at any moment)."""
ANYTIME_S = (0.05, 1.5)
CREATE_KILL_S = (0.0, 0.03)


def provider_plan(folder: Path, episode: str, provider: FakeProvider) -> Path:
    """The example plan as ``episode``, on ``provider``'s video model."""
    plan = json.loads(EXAMPLE_PLAN.read_text())
    plan["episode"] = episode
    if provider.video_model is not None:
        plan["defaults"]["video_model"] = provider.video_model
    path = folder / f"{episode}.json"
    path.write_text(json.dumps(plan))
    return path


def provider_run(
    provider: FakeProvider, env: Mapping[str, str], cwd: Path, plan: Path, *extra: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [recoil_executable(), "run", str(plan), "--provider", provider.name, "--json", *extra],
        env=dict(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_provider_run(
    provider: FakeProvider,
    proc: subprocess.Popen[str],
    mode: str,
    rng: random.Random,
    anytime_s: tuple[float, float] = ANYTIME_S,
) -> bool:
    """SIGKILL ``proc`` at a moment of ``mode``; False when it ended first."""
    if mode == "create":
        creates0 = provider.bill().creates_total
        while proc.poll() is None and provider.bill().creates_total == creates0:
            time.sleep(0.002)  # a look at the server's count, not a wait for a result
        delay = rng.uniform(*CREATE_KILL_S)
    else:
        delay = rng.uniform(*anytime_s)
    try:
        proc.wait(delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait(120)
        return True
    return False


def provider_episode_jobs(backend: FilesystemBackend, episode: str) -> set[str]:
    return {
        step.job_id
        for scene in every_version(backend, PROJECT, episode)
        for beat in scene.beats
        for take in beat.takes
        for step in take.workflow.steps
        if step.job_id
    }


def run_provider_folder(
    provider: FakeProvider,
    root: Path,
    rng: random.Random,
    counts: CampaignCounts,
    kills: int,
    log: Callable[[str], None],
    anytime_s: tuple[float, float] = ANYTIME_S,
) -> None:
    """Two episodes on one fake: kill runs of either at random until ``kills`` kills (or
    both complete), finish both, then check the money of each on its share of the server."""
    env = provider.env(root)
    plans = {episode: provider_plan(root, episode, provider) for episode in EPISODES}
    complete: set[str] = set()
    done_kills = 0
    while done_kills < kills and len(complete) < len(EPISODES):
        episode = rng.choice([e for e in EPISODES if e not in complete])
        mode = rng.choice(PROVIDER_MODES)
        concurrency = rng.choice(KILL_CONCURRENCY)
        if mode == "drop":
            provider.drop_next_create()
        counts.runs += 1
        proc = provider_run(provider, env, root, plans[episode], "--concurrency", str(concurrency))
        killed = kill_provider_run(provider, proc, mode, rng, anytime_s)
        out, err = proc.communicate(timeout=120)
        assert "Traceback" not in err, err
        assert killed or proc.returncode in (0, 1), out + err
        if killed:
            done_kills += 1
            counts.kills += 1
            counts.kills_by_mode[mode] = counts.kills_by_mode.get(mode, 0) + 1
            log(f"  kill {counts.kills}: {episode} {mode} (concurrency {concurrency})")
            assert_unfinished_takes_need_attention(env, root, episode)
        elif proc.returncode == 0:
            complete.add(episode)
            log(f"  {episode} complete before its kill ({mode})")
    backend = FilesystemBackend(Path(env["RECOIL_PROJECTS_ROOT"]))
    for episode in EPISODES:
        if episode not in complete:
            finish_provider_episode(
                provider, env, root, plans[episode], backend, episode, counts, log
            )
    bill = provider.bill()
    owned: dict[str, str] = {}
    for episode in EPISODES:
        jobs = {provider.server_id(j): j for j in provider_episode_jobs(backend, episode)}
        for job in jobs:
            if job in owned:
                counts.adopted_jobs += 1
            owned[job] = episode
        share = bill.share(jobs)
        duplicates = {k: n for k, n in share.creates_by_identity.items() if n > 1}
        counts.duplicates += sum(n - 1 for n in duplicates.values())
        assert not duplicates, f"{episode}: creates per take identity: {duplicates}"
        ledger: dict[str, float] = {}
        for entry in backend.read_ledger(PROJECT, episode):
            if entry.job_id is not None:
                ledger[entry.job_id] = ledger.get(entry.job_id, 0.0) + entry.amount_usd
        counts.ledger_mismatched_jobs += sum(
            1
            for job in set(ledger) | set(share.billed_usd)
            if ledger.get(job, 0.0) != pytest.approx(share.billed_usd.get(job, 0.0))
        )
        server = {
            "creates_total": share.creates_total,
            "creates_by_fingerprint": {},
            "tasks": share.jobs,
        }
        assert set(share.jobs) == set(jobs.values()), f"{episode}: jobs the server lacks"
        money = check_money_on(server, share.billed_usd, backend, episode)
        counts.add(money)
    counts.unowned_jobs += len(set(bill.jobs) - set(owned))
    assert counts.unowned_jobs == 0, f"jobs no take holds: {sorted(set(bill.jobs) - set(owned))}"
    leaks = key_leaks(root, provider)
    counts.key_leaks += leaks
    assert leaks == 0, f"{provider.name}'s key written under {root}"


def check_money_on(
    server: Mapping[str, Any], billed: Mapping[str, float], backend: FilesystemBackend, episode: str
) -> MoneyCounts:
    from recoil_core.testing._suite.money import check_money as check_server_money

    return check_server_money(server, billed, backend, PROJECT, episode)


def key_leaks(root: Path, provider: FakeProvider) -> int:
    """Files under ``root``'s projects folder holding the provider's key."""
    key = getattr(provider, "key", None) or SENTINEL_KEY
    return sum(
        1
        for path in (root / "projects").rglob("*")
        if path.is_file() and key.encode() in path.read_bytes()
    )


def finish_provider_episode(
    provider: FakeProvider,
    env: Mapping[str, str],
    root: Path,
    plan: Path,
    backend: FilesystemBackend,
    episode: str,
    counts: CampaignCounts,
    log: Callable[[str], None],
) -> None:
    """Resume until complete; a take a plain run leaves ``unknown`` is counted as left for
    a person, then resubmitted."""
    done = None
    for _ in range(4):
        counts.runs += 1
        done = run_recoil(env, root, "run", str(plan), "--provider", provider.name, "--json")
        assert "Traceback" not in done.stderr, done.stderr
        if done.returncode == 0:
            return
        report = report_of(done)
        assert "take_counts" in report, done.stdout + done.stderr
        unknown = report["take_counts"].get("unknown", 0)
        if not unknown:
            continue
        counts.left_for_person += unknown
        log(f"  LEFT FOR A PERSON: {episode} {unknown} take(s); {report['attention']}")
        counts.runs += 1
        done = run_recoil(
            env,
            root,
            "run",
            str(plan),
            "--provider",
            provider.name,
            "--json",
            "--resubmit-unknown",
        )
        if done.returncode == 0:
            return
    assert done is not None
    raise AssertionError(f"{episode} did not complete: {done.stdout}\n{done.stderr}")


def run_provider_campaign(
    workdir: Path,
    provider: str,
    *,
    seed: int,
    kills: int,
    kills_per_folder: int = 10,
    max_folders: int | None = None,
    log: Callable[[str], None] = lambda _line: None,
    strict: bool = True,
    anytime_s: tuple[float, float] = ANYTIME_S,
) -> CampaignCounts:
    """The kill campaign against the fake ``provider`` (a key of :data:`PROVIDERS`): folders
    of two episodes on one fake, up to ``kills_per_folder`` kills each, until ``kills``;
    an ``anytime`` kill comes a delay drawn in ``anytime_s`` after its run started."""
    rng = random.Random(seed)
    counts = CampaignCounts()
    log(f"kill campaign provider={provider} seed={seed} kills={kills}")

    def work(root: Path) -> None:
        fake = PROVIDERS[provider]()
        try:
            budget = min(kills_per_folder, kills - counts.kills)
            run_provider_folder(fake, root, rng, counts, budget, log, anytime_s)
        finally:
            fake.close()

    return _folders(
        workdir,
        counts,
        work,
        seed=seed,
        kills=kills,
        max_folders=max_folders,
        log=log,
        strict=strict,
        idle_folders=3,
    )


# --------------------------------------------------------------------------- asset sheets

ASSET_MODES = ("create", "create", "before_create", "unmade", "anytime", "drop")
"""Kill moments of the asset campaign: ``create`` (Ark made the task and holds its answer),
``before_create`` (the CLI saved the take ``submitting`` and is inside the create; Ark makes
the task after the CLI died: the request had reached it), ``unmade`` (the same, but Ark
makes nothing: the request was lost with the CLI), ``anytime`` (a random delay after
start) and ``drop`` (the next create's answer is lost, then a kill at any moment)."""
ASSET_CAPPED_RUNS = 2
"""An episode's first runs are capped at a share (:data:`CAP_SHARE`) of its sheets' estimate."""


class SheetArk(WatchedArk):
    """The fake Ark of the asset campaign: a :class:`WatchedArk` that can also hold a create
    before it makes the task (``hold_before``): ``arrived`` counts the creates held, and on
    ``release_before`` a held create makes its task (``make_held``) or nothing."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hold_before = False
        self.make_held = True
        self.arrived = 0
        self.settled = 0
        """Held creates that have made their task or nothing."""
        self.release_before = threading.Event()

    def _validate_and_make(self, body: Mapping[str, Any]) -> Any:
        if not self.hold_before:
            return super()._validate_and_make(body)
        with self.changed:
            self.arrived += 1
            self.changed.notify_all()
        self.release_before.wait(HOLD_LIMIT_S)
        try:
            if not self.make_held:
                raise ConnectionAbortedError("the create was lost with its client")
            return super()._validate_and_make(body)
        finally:
            with self.changed:
                self.settled += 1
                self.changed.notify_all()


def sheets_env(ark: WatchedArk, root: Path) -> dict[str, str]:
    """:func:`cli_env` with the ``ark-sheets`` stand-in installed (``tests/support/ark_sheets.py``):
    a real ``recoil`` subprocess loads it from ``PYTHONPATH`` as an installed plugin."""
    import ark_sheets

    site = ark_sheets.install(root / "site")
    env = cli_env(ark, root)
    support = str(Path(ark_sheets.__file__).resolve().parent)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(site), support, env.get("PYTHONPATH", "")) if p
    )
    return env


def sheets_plan(folder: Path, episode: str) -> Path:
    """The example plan as ``episode`` (3 characters, 4 locations), its sheets on Ark."""
    import ark_sheets

    plan = json.loads(EXAMPLE_PLAN.read_text())
    plan["episode"] = episode
    plan["defaults"]["previs_model"] = ark_sheets.SHEET_MODEL
    path = folder / f"{episode}.json"
    path.write_text(json.dumps(plan))
    return path


def assets_args(plan: Path, *extra: str) -> list[str]:
    import ark_sheets

    return [
        "assets",
        "render",
        str(plan),
        "--provider",
        "seeddance",
        "--image-provider",
        ark_sheets.NAME,
        "--json",
        *extra,
    ]


def sheets_estimate(env: Mapping[str, str], cwd: Path, plan: Path) -> float:
    done = run_recoil(env, cwd, *assets_args(plan, "--dry-run"))
    assert done.returncode == 0, done.stdout + done.stderr
    estimate = float(report_of(done)["estimated_usd"])
    assert estimate > 0, done.stdout
    return estimate


def kill_assets_render(
    ark: SheetArk,
    env: Mapping[str, str],
    cwd: Path,
    args: list[str],
    mode: str,
    rng: random.Random,
) -> tuple[bool, int, str]:
    """Start ``recoil assets render`` and SIGKILL it at a moment of ``mode``; whether it was
    killed, its exit code and its output."""
    creates0 = ark.counters()[0]
    arrived0 = ark.arrived
    held = mode in ("before_create", "unmade")
    delay = rng.uniform(*(CREATE_KILL_S if mode == "create" or held else (0.05, 1.0)))
    if mode == "drop":
        ark.inject("create", "drop")
    ark.release.clear()
    ark.release_before.clear()
    ark.hold_creates = mode == "create"
    ark.hold_before, ark.make_held = held, mode == "before_create"
    proc = subprocess.Popen(
        [recoil_executable(), *args],
        env=dict(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        if mode == "create":
            alive = wait_for(ark, proc, lambda: ark.counters()[0] > creates0)
        elif held:
            alive = wait_for(ark, proc, lambda: ark.arrived > arrived0)
        else:
            alive = True
        if alive:
            try:
                proc.wait(delay)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
    finally:
        ark.hold_creates = ark.hold_before = False
        ark.release.set()
        ark.release_before.set()
    killed = proc.returncode == -signal.SIGKILL
    # the creates held before making their task are let go: each makes its task (the
    # request had reached Ark) or nothing; the next run starts once all have done so
    with ark.changed:
        while ark.settled < ark.arrived:
            ark.changed.wait(0.05)
    assert killed or "Traceback" not in err, err
    return killed, proc.returncode, out + err


def run_assets_folder(
    root: Path,
    rng: random.Random,
    counts: CampaignCounts,
    kills: int,
    log: Callable[[str], None],
) -> None:
    """Two episodes' asset sheets on one fake Ark: ``recoil assets render`` of either killed at
    moments of :data:`ASSET_MODES` until ``kills`` kills (or both complete), an episode's
    first runs capped; then both finished and checked: no take identity created twice, no
    task in two takes or in none, every sheet take final and succeeded, the ledger equal to
    Ark's bill job by job, the capped runs' spend within their cap, the key in no file."""
    ark = SheetArk(api_key=SENTINEL_KEY, queue_s=QUEUE_S)
    ark.start()
    try:
        env = sheets_env(ark, root)
        plans = {episode: sheets_plan(root, episode) for episode in EPISODES}
        estimate = sheets_estimate(env, root, plans[EPISODES[0]])  # both of the same shape
        caps = {e: round(rng.uniform(*CAP_SHARE) * estimate, 4) for e in EPISODES}
        runs = dict.fromkeys(EPISODES, 0)
        capped_tasks: dict[str, set[str]] = {e: set() for e in EPISODES}
        complete: set[str] = set()
        done_kills = 0
        while done_kills < kills and len(complete) < len(EPISODES):
            episode = rng.choice([e for e in EPISODES if e not in complete])
            mode = rng.choice(ASSET_MODES)
            capped = runs[episode] < ASSET_CAPPED_RUNS
            extra = ["--concurrency", str(rng.choice(KILL_CONCURRENCY))]
            if capped:
                extra += ["--budget", str(caps[episode])]
            runs[episode] += 1
            counts.runs += 1
            before = ark.created()
            killed, code, output = kill_assets_render(
                ark, env, root, assets_args(plans[episode], *extra), mode, rng
            )
            if capped:
                counts.capped_runs += 1
                capped_tasks[episode] |= ark.created() - before
                spent = committed_usd(ark, capped_tasks[episode])
                counts.cap_checks += 1
                counts.cap_peak = max(counts.cap_peak, spent / caps[episode])
                counts.cap_violations += spent > caps[episode] + 1e-9
                assert spent <= caps[episode] + 1e-9, f"{episode}: ${spent} over ${caps[episode]}"
                counts.capped_halts += code == 6
            if killed:
                done_kills += 1
                counts.kills += 1
                counts.kills_by_mode[mode] = counts.kills_by_mode.get(mode, 0) + 1
                log(f"  kill {counts.kills}: {episode} assets render {mode} {' '.join(extra)}")
                assert_unfinished_takes_need_attention(env, root, episode)
            elif code == 0:
                complete.add(episode)
                log(f"  {episode} sheets complete before a kill ({mode})")
            else:
                assert code in (1, 6), output
                log(f"  {episode} assets render exit {code} ({mode}, {' '.join(extra)})")
        for episode in EPISODES:
            if episode not in complete:
                finish_sheets(env, root, plans[episode], episode, counts, log)
        check_sheets(ark, root, counts)
    finally:
        ark.close()


def finish_sheets(
    env: Mapping[str, str],
    root: Path,
    plan: Path,
    episode: str,
    counts: CampaignCounts,
    log: Callable[[str], None],
) -> None:
    """Render until complete; a sheet a plain run leaves ``unknown`` is counted as left for
    a person, then resubmitted."""
    done = None
    for _ in range(4):
        counts.runs += 1
        done = run_recoil(env, root, *assets_args(plan))
        assert "Traceback" not in done.stderr, done.stderr
        if done.returncode == 0:
            return
        report = report_of(done)
        unknown = report.get("take_counts", {}).get("unknown", 0)
        if unknown:
            counts.left_for_person += unknown
            log(f"  LEFT FOR A PERSON: {episode} {unknown} sheet(s); {report['attention']}")
            counts.runs += 1
            done = run_recoil(env, root, *assets_args(plan, "--resubmit-unknown"))
            if done.returncode == 0:
                return
    assert done is not None
    raise AssertionError(f"{episode} sheets did not complete: {done.stdout}\n{done.stderr}")


def check_sheets(ark: SheetArk, root: Path, counts: CampaignCounts) -> None:
    backend = FilesystemBackend(root / "projects")
    owned: dict[str, str] = {}
    for episode in EPISODES:
        scenes = every_version(backend, PROJECT, episode)
        assert scenes and all(s.scene_id.startswith("asset_") for s in scenes), episode
        takes = [t for s in scenes for b in s.beats for t in b.takes]
        assert takes and all(t.state == TakeState.SUCCEEDED for t in takes), [
            (t.take_id, t.state.value) for t in takes if t.state != TakeState.SUCCEEDED
        ]
        jobs = provider_episode_jobs(backend, episode)
        for job in jobs:
            counts.adopted_jobs += job in owned
            owned[job] = episode
        share = EpisodeShare(ark, frozenset(jobs))
        money = check_money(share, backend, PROJECT, episode)
        counts.add(money)
        billed = billed_usd(share)
        ledger: dict[str, float] = {}
        for entry in backend.read_ledger(PROJECT, episode):
            if entry.job_id is not None:
                ledger[entry.job_id] = ledger.get(entry.job_id, 0.0) + entry.amount_usd
        counts.ledger_mismatched_jobs += sum(
            1
            for job in set(ledger) | set(billed)
            if ledger.get(job, 0.0) != pytest.approx(billed.get(job, 0.0))
        )
    unowned = ark.created() - set(owned)
    counts.unowned_jobs += len(unowned)
    assert not unowned, f"tasks no sheet take holds: {sorted(unowned)}"
    unsettled = [t for t in owned if ark.task(t)["status"] in ("queued", "running")]
    counts.unsettled_jobs += len(unsettled)
    leaks = sum(
        1
        for path in (root / "projects").rglob("*")
        if path.is_file() and SENTINEL_KEY.encode() in path.read_bytes()
    )
    counts.key_leaks += leaks
    assert leaks == 0, f"the Ark key written under {root}"


def run_asset_campaign(
    workdir: Path,
    *,
    seed: int,
    kills: int,
    kills_per_folder: int = 10,
    max_folders: int | None = None,
    log: Callable[[str], None] = lambda _line: None,
    strict: bool = True,
) -> CampaignCounts:
    """The kill campaign of ``recoil assets render`` against the fake Ark (sheets made by
    the ``ark-sheets`` stand-in, so each is a paid Ark task): folders of two episodes on
    one server, up to ``kills_per_folder`` kills each, until ``kills``."""
    rng = random.Random(seed)
    counts = CampaignCounts()
    log(f"asset kill campaign seed={seed} kills={kills}")

    def work(root: Path) -> None:
        run_assets_folder(root, rng, counts, min(kills_per_folder, kills - counts.kills), log)

    return _folders(
        workdir,
        counts,
        work,
        seed=seed,
        kills=kills,
        max_folders=max_folders,
        log=log,
        strict=strict,
        idle_folders=3,
    )
