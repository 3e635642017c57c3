"""Stalled jobs (their worker stopped sending heartbeats) go back to the queue; one whose
take was queued again meanwhile (the dead worker had queued its next poll) is aborted,
and the worker that found it goes on (the retry would break the take's queueing lock)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from psycopg.conninfo import make_conninfo
from recoil_postgres.connection import connect
from recoil_procrastinate.config import NodeSettings
from recoil_procrastinate.node import Node
from recoil_procrastinate.queue import defer_take, ensure_queue_tables

JOB = {
    "project": "p",
    "episode": "EP001",
    "scene_id": "SC01",
    "beat_id": "B01",
    "take_id": "B01_take_0",
}


async def _no_take_runner(*args: object, **kwargs: object) -> dict[str, object]:
    raise AssertionError("no take is run here")


def _statuses(dsn: str) -> list[str]:
    with connect(dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT status::text FROM procrastinate_jobs ORDER BY id").fetchall()
    return [str(row[0]) for row in rows]


async def _stall_then_requeue(node: Node, dsn: str, *, requeue: bool) -> int:
    async with node.app.open_async():
        manager = node.app.job_manager
        await defer_take(node.app, JOB)
        dead_worker = await manager.register_worker()
        assert await manager.fetch_job(["recoil"], dead_worker) is not None
        with connect(dsn, autocommit=True) as conn:
            conn.execute(
                "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour'"
            )
        if requeue:
            assert await defer_take(node.app, JOB)  # the dead worker's next poll
        return await node.retry_stalled()


def _node(dsn: str, tmp_path: Path) -> Node:
    settings = NodeSettings(dsn=make_conninfo(dsn), schema="recoil", projects_root=str(tmp_path))
    ensure_queue_tables(settings.dsn)
    return Node(settings, _no_take_runner, "node-a")


def test_a_stalled_job_goes_back_to_the_queue(database_dsn: str, tmp_path: Path) -> None:
    node = _node(database_dsn, tmp_path)
    try:
        retried = asyncio.run(_stall_then_requeue(node, database_dsn, requeue=False))
    finally:
        node.backend.close()
    assert retried == 1
    assert _statuses(database_dsn) == ["todo"]


def test_a_stalled_job_whose_take_is_queued_again_is_aborted(
    database_dsn: str, tmp_path: Path
) -> None:
    node = _node(database_dsn, tmp_path)
    try:
        retried = asyncio.run(_stall_then_requeue(node, database_dsn, requeue=True))
    finally:
        node.backend.close()
    assert retried == 0
    assert _statuses(database_dsn) == ["aborted", "todo"]
