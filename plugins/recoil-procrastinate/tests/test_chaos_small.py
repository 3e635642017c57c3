"""A small chaos run (``bench/chaos_nodes.py`` is the full one): 20 takes capped near 60%
of their estimate, two nodes, one frozen (SIGSTOP) past its lease while it polls jobs it
created, then woken. No create is made twice, Ark bills at most the cap, the ledger equals
the bill job by job, every take is final or reported, and the woken node's stale writes
are fenced."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("recoil_plugins_grouping", reason="an episode run needs its strategies")
pytest.importorskip("recoil_seeddance", reason="the render node tests run against the fake Ark")

from recoil_postgres.backend import PostgresBackend
from recoil_postgres.connection import connect
from recoil_postgres.leases import EpisodeBudget, TakeLeases
from recoil_procrastinate.testing import (
    TIMEOUT_S,
    billed_usd,
    node_env,
    recoil,
    start_worker,
    wait_until,
)
from recoil_seeddance.testing.fake_ark import FakeArkServer

from recoil_core.api import TakeState
from recoil_core.testing.plans import plan_dict, write_plan

PROJECT, EPISODE, TAKES = "chaos", "EP001", 20
FINAL = {TakeState.SUCCEEDED, TakeState.FAILED, TakeState.CANCELLED}


@pytest.fixture
def ark() -> Iterator[FakeArkServer]:
    with FakeArkServer(api_key="chaos-test-key") as server:
        yield server


def held_submitted(dsn: str, pid: int) -> int:
    with connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM recoil.take_leases WHERE worker LIKE %s AND state = 'submitted'",
            (f"%:{pid}",),
        ).fetchone()
    return 0 if row is None else int(row[0])


def test_nodes_keep_the_money_rules_when_one_freezes_past_its_lease(
    ark: FakeArkServer, database_dsn: str, tmp_path: Path
) -> None:
    shots = [
        {"shot_id": f"EP001_SH{i + 1:02d}", "duration_s": 5, "prompt": f"shot {i + 1}"}
        for i in range(TAKES)
    ]
    plan = str(write_plan(tmp_path, plan_dict({"SEQ01": shots}, project=PROJECT)))
    env = {**node_env(ark, tmp_path, database_dsn), "RECOIL_WORKER_RESEND_AFTER_S": "10"}
    common = ("--provider", "seeddance", "--strategy", "solo")
    dry = recoil(env, tmp_path, "run", plan, *common, "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    cap = 0.6 * sum(p["estimate_usd"] for p in json.loads(dry.stdout)["planned"])
    queued = recoil(
        env, tmp_path, "run", plan, *common, "--executor", "procrastinate", "--budget", repr(cap)
    )
    assert queued.returncode == 0, queued.stderr

    ark.set(hold_queued=True)  # the jobs stay queued: the first node polls while holding them
    frozen = start_worker({**env, "RECOIL_WORKER_DEFER_POLLS": "0"}, tmp_path, "--concurrency", "4")
    other: subprocess.Popen[str] | None = None
    try:
        wait_until(
            lambda: held_submitted(database_dsn, frozen.pid) == 4,
            "the first node polls four jobs it created",
        )
        frozen.send_signal(signal.SIGSTOP)
        ark.set(hold_queued=False)
        other = start_worker(env, tmp_path, "--concurrency", "4")
        _out, other_err = other.communicate(timeout=TIMEOUT_S)
        assert other.returncode == 0, other_err
    finally:
        frozen.send_signal(signal.SIGCONT)
    _out, err = frozen.communicate(timeout=TIMEOUT_S)
    assert frozen.returncode == 0, err

    stats = ark.stats()
    assert all(n == 1 for n in stats["creates_by_fingerprint"].values())  # none made twice
    billed = billed_usd(ark)
    assert sum(billed.values()) <= cap
    with PostgresBackend(database_dsn, renders_root=tmp_path / "projects") as backend:
        scenes = [
            found[0]
            for scene_id in backend.list_scenes(PROJECT, EPISODE)
            if (found := backend.load_active(PROJECT, EPISODE, scene_id)) is not None
        ]
        ledger = backend.read_ledger(PROJECT, EPISODE)
        leases = TakeLeases(backend)
        refused = leases.refusals(PROJECT, EPISODE)
        budget = EpisodeBudget(leases, PROJECT, EPISODE).state()
    charged: dict[str, float] = {}
    for entry in ledger:
        charged[str(entry.job_id)] = charged.get(str(entry.job_id), 0.0) + entry.amount_usd
    assert charged == billed
    assert budget is not None and budget[2] == 0  # no hold left reserved
    status = recoil(env, tmp_path, "status", "--project", PROJECT, "--episode", EPISODE, "--json")
    assert status.returncode == 0, status.stderr
    attention = [line for ep in json.loads(status.stdout)["episodes"] for line in ep["attention"]]
    reported = {line.split(":", 1)[0] for line in attention}
    takes = [t for s in scenes for b in s.beats for t in b.takes]
    assert [t.take_id for t in takes if t.state not in FINAL and t.take_id not in reported] == []
    assert 0 < sum(t.state == TakeState.SUCCEEDED for t in takes) < TAKES  # the cap stopped some
    assert refused >= 1  # the woken node tried to write takes the other had taken over
