"""The ``procrastinate`` executor (entry point ``recoil.executors``): queue an episode's
takes as procrastinate jobs, and run a render node's worker.

The kernel calls two functions (``recoil run --executor procrastinate`` and ``recoil
worker``); both are cheap to import, and procrastinate loads when one runs:

- :func:`enqueue` stores what nodes need to run the episode (plan and options) and defers
  one ``recoil.take`` job per take, its queueing lock the take id (a take waiting in the
  queue is never queued twice).
- :func:`work` runs a procrastinate worker: each job claims its take (a lease with a new
  epoch), runs it through the kernel's take runner on a backend whose writes are fenced by
  that lease, and defers the beat's next take if it needs one. A job whose take another
  live worker holds is deferred again (``schedule_in``) for when that lease ends. Jobs of
  workers that stopped sending heartbeats are retried, and the retry resumes the take from
  its persisted state (a known job is polled; a lost create searched, never resent blindly).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import attrs

from recoil_procrastinate.config import NodeSettings

TakeRunner = Callable[..., Awaitable[Mapping[str, Any]]]
"""The kernel's take runner: ``await runner(job, node run, backend, defer_polls=...)`` ->
``{"job": the job to queue next or None, "after_s": its delay or None}`` (it may also have
``async aclose()``, called when the node stops)."""

__all__ = [
    "NodeSettings",
    "TakeRunner",
    "enqueue",
    "episode_status",
    "pending_jobs",
    "schema_status",
    "schema_upgrade",
    "status",
    "work",
]


def enqueue(
    env: Mapping[str, str],
    projects_root: str,
    run: Mapping[str, Any],
    jobs: Sequence[Mapping[str, str]],
) -> int:
    """Store ``run`` for the episode of ``jobs`` and defer one job per take; returns how
    many were queued (a take already waiting in the queue is not queued again)."""
    from recoil_procrastinate._bench import count_round_trips
    from recoil_procrastinate.queue import enqueue_jobs

    count_round_trips(env)
    settings = NodeSettings.from_env(env, projects_root)
    return asyncio.run(enqueue_jobs(settings, run, jobs))


def pending_jobs(env: Mapping[str, str], projects_root: str) -> int:
    """Take jobs still waiting or running (for ``--wait``)."""
    from recoil_procrastinate.queue import count_pending

    settings = NodeSettings.from_env(env, projects_root)
    return asyncio.run(count_pending(settings))


def status(env: Mapping[str, str], projects_root: str) -> dict[str, Any]:
    """Workers (heartbeat age, takes held), leases, and take jobs by status."""
    from recoil_procrastinate.queue import cluster_status

    return asyncio.run(cluster_status(NodeSettings.from_env(env, projects_root)))


def schema_status(env: Mapping[str, str], projects_root: str) -> list[dict[str, Any]]:
    """The queue tables' version (``recoil db upgrade --check``): ``[{"name", "found",
    "latest"}]``, versions as procrastinate's migrations name them (``03.04.00``; found
    None: no queue tables yet)."""
    from recoil_postgres.connection import connect

    from recoil_procrastinate.queue import queue_schema_found, queue_schema_latest

    settings = NodeSettings.from_env(env, projects_root)
    with connect(settings.dsn, autocommit=True) as conn:
        found = queue_schema_found(conn)
    return [
        {"name": "queue tables (procrastinate)", "found": found, "latest": queue_schema_latest()}
    ]


def schema_upgrade(env: Mapping[str, str], projects_root: str) -> None:
    """Create the queue tables, or apply procrastinate's migrations newer than theirs."""
    from recoil_procrastinate.queue import ensure_queue_tables

    ensure_queue_tables(NodeSettings.from_env(env, projects_root).dsn, upgrade=True)


def episode_status(
    env: Mapping[str, str], projects_root: str, project: str, episode: str
) -> dict[str, Any] | None:
    """For ``recoil status`` of one episode: None unless render nodes work it (``recoil
    run --executor procrastinate`` handed it over); else :func:`status` with the leases,
    takes held and take jobs of that episode only (every live worker is listed)."""
    from recoil_postgres.leases import TakeLeases

    from recoil_procrastinate.queue import backend_for, cluster_status

    settings = NodeSettings.from_env(env, projects_root)
    with backend_for(settings) as backend:
        if not TakeLeases(backend).has_node_run(project, episode):
            return None
    return asyncio.run(cluster_status(settings, (project, episode)))


def work(
    env: Mapping[str, str],
    projects_root: str,
    take_runner: TakeRunner,
    *,
    concurrency: int = 4,
    once: bool = False,
    queues: Sequence[str] = (),
    lease_s: float | None = None,
) -> None:
    """Run a render node until interrupted (``once``: until no take job is left)."""
    from recoil_procrastinate._bench import count_round_trips
    from recoil_procrastinate.node import run_node

    count_round_trips(env)
    settings = NodeSettings.from_env(env, projects_root)
    if lease_s is not None:
        settings = attrs.evolve(settings, lease_s=lease_s)
    asyncio.run(
        run_node(
            settings,
            take_runner,
            concurrency=concurrency,
            once=once,
            queues=tuple(queues),
            worker=f"{os.uname().nodename}:{os.getpid()}",
        )
    )
