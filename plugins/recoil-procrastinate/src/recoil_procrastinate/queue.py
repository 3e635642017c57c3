"""The procrastinate app on the backend's database: its tables, deferring take jobs, and
counting those left."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import procrastinate
import psycopg
import psycopg_pool
from procrastinate import exceptions as procrastinate_errors
from procrastinate.schema import SchemaManager
from recoil_postgres.backend import PostgresBackend
from recoil_postgres.connection import Conn, connect
from recoil_postgres.leases import EpisodeBudget, TakeLeases

from recoil_procrastinate.config import QUEUE, TASK, NodeSettings

_SCHEMA_LOCK = int.from_bytes(
    hashlib.sha256(b"recoil-procrastinate\x00schema").digest()[:8], "big", signed=True
)


_VERSION_DDL = """
CREATE TABLE IF NOT EXISTS recoil_procrastinate_schema (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
)
"""
_RECORD_VERSION = (
    "INSERT INTO recoil_procrastinate_schema (singleton, version) VALUES (true, %s) "
    "ON CONFLICT (singleton) DO UPDATE SET version = EXCLUDED.version, updated_at = now()"
)


def _migrations() -> list[tuple[str, Path]]:
    """procrastinate's migration files as ``(version, path)``, in the order they apply
    (``03.04.00_01_pre_...sql``: version ``03.04.00``)."""
    folder = Path(SchemaManager.get_migrations_path())
    return sorted((path.name.split("_", 1)[0], path) for path in folder.glob("*.sql"))


def queue_schema_latest() -> str:
    """The version of the queue tables the installed procrastinate writes (its last
    migration's)."""
    return _migrations()[-1][0]


def _table_exists(conn: Conn, name: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
    return row is not None and bool(row[0])


def queue_schema_found(conn: Conn) -> str | None:
    """The queue tables' version as recorded when they were made or upgraded (None: no
    queue tables). Tables made before versions were recorded count as the installed
    procrastinate's (they were made from its schema)."""
    if not _table_exists(conn, "procrastinate_jobs"):
        return None
    if not _table_exists(conn, "recoil_procrastinate_schema"):
        return queue_schema_latest()
    row = conn.execute("SELECT version FROM recoil_procrastinate_schema").fetchone()
    return queue_schema_latest() if row is None else str(row[0])


def ensure_queue_tables(dsn: str, *, upgrade: bool = False) -> None:
    """Apply procrastinate's schema to the database unless it is there (once, under an
    advisory lock, when several nodes start together), recording its version;
    ``upgrade``: also apply the migrations newer than the recorded version, in order."""
    with connect(dsn) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        found = queue_schema_found(conn)
        latest = queue_schema_latest()
        if found is None:
            conn.execute(SchemaManager.get_schema())
        elif upgrade and found < latest:
            for version, path in _migrations():
                if version > found:
                    conn.execute(path.read_text(encoding="utf-8"))
        elif found == latest and _table_exists(conn, "recoil_procrastinate_schema"):
            return
        else:
            latest = found
        conn.execute(_VERSION_DDL)
        conn.execute(_RECORD_VERSION, (latest,))


async def _autocommit(conn: psycopg.AsyncConnection[Any]) -> None:
    await conn.set_autocommit(True)


def _pool(**options: Any) -> psycopg_pool.AsyncConnectionPool:
    """procrastinate's pool with autocommit connections (each of its queries is one
    statement: no BEGIN and COMMIT round trips around it) and without its check of each
    connection it lends (an empty query: one more round trip). A connection found broken
    is dropped when it comes back, and the node's worker loop starts over after a queue
    error."""
    options["check"] = None
    options["configure"] = _autocommit
    return psycopg_pool.AsyncConnectionPool(**options)


def make_app(settings: NodeSettings) -> procrastinate.App:
    """The procrastinate app (its connector opened by the caller)."""
    connector = procrastinate.PsycopgConnector(
        conninfo=settings.dsn, min_size=1, max_size=4, pool_factory=_pool
    )
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


PENDING_JOBS = (
    "SELECT count(*) FROM procrastinate_jobs WHERE task_name = %(task)s "
    "AND status IN ('todo', 'doing')"
)
"""Take jobs waiting or running (``%(task)s``: :data:`~recoil_procrastinate.config.TASK`)."""


async def count_pending(settings: NodeSettings) -> int:
    ensure_queue_tables(settings.dsn)
    with connect(settings.dsn) as conn:
        row = conn.execute(PENDING_JOBS, {"task": TASK}).fetchone()
    return 0 if row is None else int(row[0])


async def cluster_status(
    settings: NodeSettings, episode: tuple[str, str] | None = None
) -> dict[str, Any]:
    """Workers (heartbeat age, takes held), leases, and take jobs by status (``episode``:
    the leases, takes held and jobs of ``(project, episode)`` only; every worker)."""
    ensure_queue_tables(settings.dsn)
    project, name = episode if episode is not None else (None, None)
    with connect(settings.dsn) as conn:
        jobs = conn.execute(
            "SELECT status::text, count(*) FROM procrastinate_jobs WHERE task_name = %s "
            "AND (%s::text IS NULL OR (args->>'project' = %s AND args->>'episode' = %s)) "
            "GROUP BY 1",
            (TASK, project, project, name),
        ).fetchall()
    with backend_for(settings) as backend:
        leases = TakeLeases(backend)
        held = leases.held_by(episode)
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
            "leases": leases.lease_counts(episode),
            "jobs": {str(status): int(n) for status, n in jobs},
        }
