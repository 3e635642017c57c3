"""The procrastinate app on the backend's database: its tables, deferring take jobs, and
counting those left."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import procrastinate
from procrastinate import exceptions as procrastinate_errors
from procrastinate.schema import SchemaManager
from recoil_postgres.backend import PostgresBackend
from recoil_postgres.connection import connect
from recoil_postgres.leases import EpisodeBudget, TakeLeases

from recoil_procrastinate.config import QUEUE, TASK, NodeSettings

_SCHEMA_LOCK = int.from_bytes(
    hashlib.sha256(b"recoil-procrastinate\x00schema").digest()[:8], "big", signed=True
)


def ensure_queue_tables(dsn: str) -> None:
    """Apply procrastinate's schema to the database unless it is there (once, under an
    advisory lock, when several nodes start together)."""
    with connect(dsn) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        row = conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()
        if row is None or not row[0]:
            conn.execute(SchemaManager.get_schema())


def make_app(settings: NodeSettings) -> procrastinate.App:
    """The procrastinate app (its connector opened by the caller)."""
    connector = procrastinate.PsycopgConnector(conninfo=settings.dsn, min_size=1, max_size=4)
    return procrastinate.App(connector=connector)


def backend_for(settings: NodeSettings) -> PostgresBackend:
    return PostgresBackend(
        settings.dsn, schema=settings.schema, renders_root=settings.projects_root
    )


async def defer_take(app: procrastinate.App, job: Mapping[str, str], **when: Any) -> bool:
    """Defer a job for the take (its queueing lock the take id); False when that take is
    already waiting in the queue."""
    try:
        await app.configure_task(
            TASK, queue=QUEUE, queueing_lock=job["take_id"], **when
        ).defer_async(**dict(job))
    except procrastinate_errors.AlreadyEnqueued:
        return False
    return True


async def enqueue_jobs(
    settings: NodeSettings, run: Mapping[str, Any], jobs: Sequence[Mapping[str, str]]
) -> int:
    ensure_queue_tables(settings.dsn)
    if jobs:
        project, episode = jobs[0]["project"], jobs[0]["episode"]
        options = run["options"]
        with backend_for(settings) as backend:
            leases = TakeLeases(backend)
            leases.save_node_run(project, episode, run)
            EpisodeBudget(leases, project, episode).set_cap(
                options.get("budget_usd"),
                count_ledger=options.get("budget_scope", "episode") == "episode",
            )
    app = make_app(settings)
    queued = 0
    async with app.open_async():
        for job in jobs:
            queued += await defer_take(app, job)
    return queued


async def count_pending(settings: NodeSettings) -> int:
    ensure_queue_tables(settings.dsn)
    with connect(settings.dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = %s "
            "AND status IN ('todo', 'doing')",
            (TASK,),
        ).fetchone()
    return 0 if row is None else int(row[0])


async def cluster_status(settings: NodeSettings) -> dict[str, Any]:
    """Workers (heartbeat age, takes held), leases, and take jobs by status."""
    ensure_queue_tables(settings.dsn)
    with connect(settings.dsn) as conn:
        jobs = conn.execute(
            "SELECT status::text, count(*) FROM procrastinate_jobs WHERE task_name = %s GROUP BY 1",
            (TASK,),
        ).fetchall()
    with backend_for(settings) as backend:
        leases = TakeLeases(backend)
        held = leases.held_by()
        workers = [
            {
                "worker": worker,
                "host": host,
                "pid": pid,
                "heartbeat_age_s": round(age, 1),
                "takes_held": held.get(worker, 0),
            }
            for worker, host, pid, age in leases.workers()
        ]
        return {
            "workers": workers,
            "leases": leases.lease_counts(),
            "jobs": {str(status): int(n) for status, n in jobs},
        }
