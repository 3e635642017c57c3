"""Render nodes against the fake Ark, real PostgreSQL (a fresh database each) and the real
``recoil`` CLI: a node killed at a named point leaves its takes to another, which finishes
the episode with one create per step and the ledger equal to what Ark billed, job by job.

These run an episode end to end, so they need the siblings an episode needs (a grouping
strategy, runners, the Seedance provider and its fake Ark): installed by ``make setup``,
absent from ``make test-isolated``'s venv (this distribution's dependencies alone), where
they are skipped; ``test_fencing.py`` runs there.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("recoil_plugins_grouping", reason="an episode run needs its strategies")
pytest.importorskip("recoil_seeddance", reason="the render node tests run against the fake Ark")

from recoil_postgres.backend import PostgresBackend
from recoil_postgres.connection import connect
from recoil_postgres.leases import EpisodeBudget, TakeLeases
from recoil_procrastinate.config import CRASH_EXIT, CRASH_POINTS
from recoil_procrastinate.testing import (
    TIMEOUT_S,
    billed_usd,
    node_env,
    recoil,
    start_worker,
    wait_until,
)
from recoil_seeddance.testing.fake_ark import FakeArkServer

from recoil_core.api import StepState, TakeState

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "ep001" / "plan.json"
PROJECT, EPISODE = "nightshift", "EP001"
BEATS = 3
"""Beats of :func:`small_plan` under continuity."""


@pytest.fixture
def ark() -> Iterator[FakeArkServer]:
    with FakeArkServer(api_key="nodes-test-key") as server:
        yield server


def small_plan(folder: Path) -> Path:
    """The example episode's first sequence (three beats under continuity)."""
    plan = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    plan["sequences"] = {"SEQ01": plan["sequences"]["SEQ01"]}
    path = folder / "plan.json"
    path.write_text(json.dumps(plan), encoding="utf-8")
    return path


def enqueue(env: Mapping[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = recoil(
        env,
        cwd,
        "run",
        str(small_plan(cwd)),
        "--provider",
        "seeddance",
        "--executor",
        "procrastinate",
    )
    assert done.returncode == 0, done.stderr
    assert "queued for `recoil worker`" in done.stdout
    return done


def check_episode(ark: FakeArkServer, dsn: str, root: Path) -> dict[str, Any]:
    """Every beat rendered (render files present), one create per step, and the ledger
    equal to Ark's bill job by job. Returns the counts."""
    with PostgresBackend(dsn, renders_root=root / "projects") as backend:
        scenes = [
            found[0]
            for scene_id in backend.list_scenes(PROJECT, EPISODE)
            if (found := backend.load_active(PROJECT, EPISODE, scene_id)) is not None
        ]
        ledger = backend.read_ledger(PROJECT, EPISODE)
        refused = TakeLeases(backend).refusals(PROJECT, EPISODE)
        budget = EpisodeBudget(TakeLeases(backend), PROJECT, EPISODE).state()
    assert scenes
    assert budget is not None and budget[2] == 0  # every take's hold released, none leaked
    job_ids: list[str] = []
    for scene in scenes:
        for beat in scene.beats:
            assert beat.succeeded, beat.beat_id
            for take in beat.takes:
                assert take.state == TakeState.SUCCEEDED, (take.take_id, take.state)
                for step in take.workflow.steps:
                    if step.state == StepState.SKIPPED:
                        continue
                    assert step.job_id is not None
                    job_ids.append(step.job_id)
                    assert step.receipt is not None
                    output = step.receipt.run_result.output_path
                    assert output is not None and Path(output).is_file()
    stats = ark.stats()
    assert len(job_ids) == len(set(job_ids))
    assert stats["creates_total"] == len(job_ids)  # one create per step, none twice
    assert set(stats["tasks"]) == set(job_ids)
    charged: dict[str, float] = {}
    for entry in ledger:
        assert entry.job_id is not None
        charged[entry.job_id] = charged.get(entry.job_id, 0.0) + entry.amount_usd
    assert charged == billed_usd(ark)
    return {"creates": stats["creates_total"], "refused": refused}


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_node_killed_at_a_crash_point_leaves_the_episode_to_another(
    point: str, ark: FakeArkServer, database_dsn: str, tmp_path: Path
) -> None:
    env = node_env(ark, tmp_path, database_dsn)
    enqueue(env, tmp_path)

    crashed = start_worker({**env, "RECOIL_WORKER_CRASH_AT": point}, tmp_path)
    _out, err = crashed.communicate(timeout=TIMEOUT_S)
    assert crashed.returncode == CRASH_EXIT, err
    parts = list((tmp_path / "projects").rglob("*.part"))
    if point == "mid_download":  # it died with part of an output written
        assert len(parts) == 1 and parts[0].stat().st_size > 0, parts

    survivor = recoil(env, tmp_path, "worker", "--once", "--concurrency", "2")
    assert survivor.returncode == 0, survivor.stderr
    check_episode(ark, database_dsn, tmp_path)
    assert not list((tmp_path / "projects").rglob("*.part"))  # a partial download is removed


def test_two_nodes_render_an_episode_together(
    ark: FakeArkServer, database_dsn: str, tmp_path: Path
) -> None:
    # healthy nodes: leases and stall detection long enough that a loaded machine cannot
    # make a node look dead (a lease lost in time would be fenced, and counted, rightly)
    env = node_env(
        ark, tmp_path, database_dsn, RECOIL_WORKER_LEASE_S="60", RECOIL_WORKER_STALLED_S="60"
    )
    enqueue(env, tmp_path)
    queued = recoil(env, tmp_path, "status", "--json")
    assert queued.returncode == 0, queued.stderr
    (episode,) = json.loads(queued.stdout)["episodes"]
    assert episode["nodes"]["workers"] == [] and sum(episode["nodes"]["jobs"].values()) == BEATS
    text = recoil(env, tmp_path, "status")
    assert "  workers: 0" in text.stdout and "  take jobs: " in text.stdout
    nodes = [start_worker(env, tmp_path, "--concurrency", "2") for _ in range(2)]
    for node in nodes:
        _out, err = node.communicate(timeout=TIMEOUT_S)
        assert node.returncode == 0, err
    counts = check_episode(ark, database_dsn, tmp_path)
    assert counts["refused"] == 0
    shown = recoil(env, tmp_path, "worker", "--status", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == {"workers": [], "leases": {"free": 3}, "jobs": {}}
    # run again: nothing is left to queue, and nothing is created
    again = enqueue(env, tmp_path)
    assert "0 take(s) to work" in again.stdout
    assert ark.stats()["creates_total"] == counts["creates"]


def held_takes(dsn: str, pid: int, state: str) -> int:
    """Takes the worker process ``pid`` holds whose last fenced state is ``state``."""
    with connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM recoil.take_leases WHERE worker LIKE %s AND state = %s",
            (f"%:{pid}", state),
        ).fetchone()
    return 0 if row is None else int(row[0])


def test_a_node_paused_past_its_lease_is_fenced_when_it_wakes(
    ark: FakeArkServer, database_dsn: str, tmp_path: Path
) -> None:
    env = node_env(ark, tmp_path, database_dsn)
    enqueue(env, tmp_path)
    ark.set(hold_queued=True)  # jobs stay queued: the node holds its takes while it polls
    polling = {**env, "RECOIL_WORKER_DEFER_POLLS": "0"}  # (in its slot: never letting go)
    paused = start_worker(polling, tmp_path, "--concurrency", "4")
    try:
        # stopped once it polls every beat's job: no create of its is in flight (a node
        # stopped in the instant between writing `submitting` and sending its create is
        # the case fencing cannot close: see the README)
        wait_until(
            lambda: held_takes(database_dsn, paused.pid, "submitted") == BEATS,
            "the first node polls a job it created for every beat",
        )
        paused.send_signal(signal.SIGSTOP)  # past its lease and its heartbeats
        ark.set(hold_queued=False)

        other = recoil(env, tmp_path, "worker", "--once")
        assert other.returncode == 0, other.stderr
        check_episode(ark, database_dsn, tmp_path)
        creates = ark.stats()["creates_total"]
    finally:
        paused.send_signal(signal.SIGCONT)
    _out, err = paused.communicate(timeout=TIMEOUT_S)
    assert paused.returncode == 0, err
    counts = check_episode(ark, database_dsn, tmp_path)  # the woken node changed nothing
    assert counts["refused"] >= 1  # it tried to write a take it no longer held
    assert counts["creates"] == creates
    assert "lost its lease" in err


def test_nodes_share_the_cap_and_release_every_hold(
    ark: FakeArkServer, database_dsn: str, tmp_path: Path
) -> None:
    env = node_env(ark, tmp_path, database_dsn)
    plan = str(small_plan(tmp_path))
    dry = recoil(env, tmp_path, "run", plan, "--provider", "seeddance", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    estimates = sorted(p["estimate_usd"] for p in json.loads(dry.stdout)["planned"])
    cap = sum(estimates[:-1]) + estimates[-1] / 2  # room for all but part of one take
    queued = recoil(
        env,
        tmp_path,
        "run",
        plan,
        "--provider",
        "seeddance",
        "--executor",
        "procrastinate",
        "--budget",
        repr(cap),
    )
    assert queued.returncode == 0, queued.stderr
    nodes = [start_worker(env, tmp_path, "--concurrency", "2") for _ in range(2)]
    for node in nodes:
        _out, err = node.communicate(timeout=TIMEOUT_S)
        assert node.returncode == 0, err

    billed = billed_usd(ark)
    assert sum(billed.values()) <= cap
    with PostgresBackend(database_dsn, renders_root=tmp_path / "projects") as backend:
        ledger = backend.read_ledger(PROJECT, EPISODE)
        state = EpisodeBudget(TakeLeases(backend), PROJECT, EPISODE).state()
        beats = [
            beat
            for scene_id in backend.list_scenes(PROJECT, EPISODE)
            if (found := backend.load_active(PROJECT, EPISODE, scene_id)) is not None
            for beat in found[0].beats
        ]
    charged: dict[str, float] = {}
    for entry in ledger:
        assert entry.job_id is not None
        charged[entry.job_id] = charged.get(entry.job_id, 0.0) + entry.amount_usd
    assert charged == billed
    assert 0 < sum(beat.succeeded for beat in beats) < len(beats)  # the cap stopped one
    assert state is not None
    _cap, spent, reserved = state
    assert reserved == 0  # every hold released
    assert spent == sum((Decimal(repr(e.amount_usd)) for e in ledger), Decimal(0))


def test_an_unknown_executor_is_a_clear_error_and_queues_nothing(
    ark: FakeArkServer, database_dsn: str, tmp_path: Path
) -> None:
    env = node_env(ark, tmp_path, database_dsn)
    unknown = recoil(env, tmp_path, "run", str(small_plan(tmp_path)), "--executor", "nope")
    assert unknown.returncode == 2
    assert "no executor 'nope' is installed (installed: procrastinate)" in unknown.stderr
    with connect(database_dsn, autocommit=True) as conn:
        row = conn.execute("SELECT to_regclass('procrastinate_jobs') IS NULL").fetchone()
    assert row is not None and row[0]  # nothing was queued, not even the queue's tables


def test_a_node_waiting_on_a_job_queues_its_next_poll_instead_of_holding_a_slot(
    ark: FakeArkServer, database_dsn: str, tmp_path: Path
) -> None:
    env = node_env(ark, tmp_path, database_dsn)
    enqueue(env, tmp_path)
    ark.set(hold_queued=True)  # the jobs stay queued at Ark until released
    node = start_worker(env, tmp_path, "--concurrency", "1")
    try:

        def polls_queued() -> bool:
            with connect(database_dsn, autocommit=True) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo' "
                    "AND scheduled_at > now()"
                ).fetchone()
            return row is not None and row[0] > 0

        # with one slot, the node reaches the other beats only if polling lets go of it
        wait_until(
            lambda: ark.stats()["creates_total"] >= 3 and polls_queued(),
            "every beat's first job is created and their polls are queued for later",
        )
        ark.set(hold_queued=False)
        _out, err = node.communicate(timeout=TIMEOUT_S)
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()
    assert node.returncode == 0, err
    check_episode(ark, database_dsn, tmp_path)


def test_a_create_a_frozen_node_sends_when_it_wakes_is_found_not_sent_twice(
    ark: FakeArkServer, database_dsn: str, tmp_path: Path
) -> None:
    # no resend delay: only the create guard keeps the other node from sending it again
    env = {**node_env(ark, tmp_path, database_dsn), "RECOIL_WORKER_RESEND_AFTER_S": "0.001"}
    enqueue(env, tmp_path)
    frozen = start_worker(
        {**env, "RECOIL_WORKER_PAUSE_AT": "after_submitting"}, tmp_path, "--concurrency", "1"
    )
    other: subprocess.Popen[str] | None = None
    try:
        # it stops itself after writing `submitting`, before sending that create
        wait_until(
            lambda: held_takes(database_dsn, frozen.pid, "submitting") == 1,
            "the first node wrote submitting",
        )
        frozen_take = take_held_by(database_dsn, frozen.pid)
        other = start_worker(env, tmp_path)
        # the other node renders the other beats and claims the frozen node's take past its
        # lease, finds its create held by a live process, lets it go, claims it again later
        wait_until(
            lambda: ark.creates_total >= BEATS - 1 and take_epoch(database_dsn, frozen_take) >= 3,
            "the other beats are created and the frozen take was claimed twice more",
        )
        assert ark.creates_total == BEATS - 1  # the frozen node's take: not sent while it sleeps
    finally:
        frozen.send_signal(signal.SIGCONT)  # it wakes and sends its create
    _out, err = frozen.communicate(timeout=TIMEOUT_S)
    assert frozen.returncode == 0, err
    _out, other_err = other.communicate(timeout=TIMEOUT_S)
    assert other.returncode == 0, other_err
    counts = check_episode(ark, database_dsn, tmp_path)  # found by its request key: one create
    assert counts["refused"] >= 1  # the woken node's write of its job id was fenced


def test_a_new_take_whose_create_another_process_holds_is_not_written_or_sent(
    ark: FakeArkServer, database_dsn: str, tmp_path: Path
) -> None:
    # a new take's create key goes with its `submitting` write: held elsewhere, that write
    # writes nothing (no reservation kept, no state), and the take is tried again later
    env = node_env(ark, tmp_path, database_dsn)
    enqueue(env, tmp_path)
    take_id = "BATCH_001__cont_take_0"
    with PostgresBackend(database_dsn, renders_root=tmp_path / "projects") as holder:
        assert holder.create_guard.acquire(f"{take_id}/video")
        node = start_worker(env, tmp_path, "--concurrency", "2")
        try:
            wait_until(
                lambda: ark.creates_total >= BEATS - 1 and take_epoch(database_dsn, take_id) >= 3,
                "the other beats are created and the held take was tried twice",
            )
            assert ark.creates_total == BEATS - 1
            assert lease_state(database_dsn, take_id) is None  # nothing written for it
        finally:
            holder.create_guard.release(f"{take_id}/video")
        _out, err = node.communicate(timeout=TIMEOUT_S)
    assert node.returncode == 0, err
    check_episode(ark, database_dsn, tmp_path)  # then sent once, and the cap's holds freed


def lease_state(dsn: str, take_id: str) -> str | None:
    with connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT state FROM recoil.take_leases WHERE take_id = %s", (take_id,)
        ).fetchone()
    assert row is not None
    return None if row[0] is None else str(row[0])


def take_held_by(dsn: str, pid: int) -> str:
    with connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT take_id FROM recoil.take_leases WHERE worker LIKE %s", (f"%:{pid}",)
        ).fetchone()
    assert row is not None
    return str(row[0])


def take_epoch(dsn: str, take_id: str) -> int:
    with connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT epoch FROM recoil.take_leases WHERE take_id = %s", (take_id,)
        ).fetchone()
    return 0 if row is None else int(row[0])


def lease_states(dsn: str) -> set[str]:
    with connect(dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT DISTINCT state FROM recoil.take_leases").fetchall()
    return {str(row[0]) for row in rows if row[0] is not None}
