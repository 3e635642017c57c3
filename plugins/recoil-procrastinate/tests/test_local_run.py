"""A local ``recoil run`` of an episode whose takes render nodes have queued or hold is
refused (clear message, non-zero exit, nothing reserved or sent), and runs once the
nodes are done. Real PostgreSQL (a fresh database), the fake Ark, the ``recoil`` CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("recoil_plugins_grouping", reason="an episode run needs its strategies")
pytest.importorskip("recoil_seeddance", reason="the render node tests run against the fake Ark")

from recoil_postgres.backend import PostgresBackend
from recoil_postgres.leases import EpisodeBudget, TakeLeases
from recoil_procrastinate.testing import node_env, recoil
from recoil_seeddance.testing.fake_ark import FakeArkServer

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "ep001" / "plan.json"
PROJECT, EPISODE = "nightshift", "EP001"


@pytest.fixture
def ark() -> Iterator[FakeArkServer]:
    with FakeArkServer(api_key="local-run-test-key") as server:
        yield server


def test_a_local_run_waits_for_the_render_nodes_working_its_episode(
    ark: FakeArkServer, database_dsn: str, tmp_path: Path
) -> None:
    plan = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    plan["sequences"] = {"SEQ01": plan["sequences"]["SEQ01"]}
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(json.dumps(plan), encoding="utf-8")
    env = node_env(ark, tmp_path, database_dsn)
    run = ("run", str(plan_path), "--provider", "seeddance", "--budget", "50")
    queued = recoil(env, tmp_path, *run, "--executor", "procrastinate")
    assert queued.returncode == 0, queued.stderr

    local = recoil(env, tmp_path, *run)

    assert local.returncode == 5, local.stderr
    assert "Traceback" not in local.stderr
    assert f"{PROJECT}/{EPISODE} is being rendered by render nodes" in local.stderr
    assert "take job(s) queued or running" in local.stderr
    assert ark.stats()["creates_total"] == 0  # nothing sent
    with PostgresBackend(database_dsn, renders_root=tmp_path / "projects") as backend:
        budget = EpisodeBudget(TakeLeases(backend), PROJECT, EPISODE).state()
        assert budget is not None and budget[1:] == (0, 0)  # nothing spent or reserved
        assert backend.read_ledger(PROJECT, EPISODE) == []

    drained = recoil(env, tmp_path, "worker", "--once", "--concurrency", "4")
    assert drained.returncode == 0, drained.stderr
    again = recoil(env, tmp_path, *run)  # the nodes are done: a local run may go on
    assert again.returncode == 0, again.stderr
    assert "episode complete" in again.stdout
