"""Episode locks as PostgreSQL session advisory locks on a dedicated connection.

The key is a stable signed 64-bit hash of (schema, project, episode). The lock lives on its
own autocommit connection, opened when a backend object takes its first lock and closed
when it releases its last: if the process dies, the server ends the session and the lock
goes with it. Advisory locks stack within a session, which makes the lock re-entrant
through the same backend object.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from recoil_core.api import EpisodeLockedError

Connect = Callable[[], psycopg.Connection[TupleRow]]

FIRST_RETRY_S = 0.02
MAX_RETRY_S = 0.5

_HOLDER = """
SELECT a.pid, a.application_name, a.client_addr::text
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid
LIMIT 1
"""


def episode_lock_key(schema: str, project: str, episode: str) -> int:
    """The advisory lock key of an episode (signed 64-bit, stable across processes)."""
    text = f"recoil-postgres\x00episode\x00{schema}\x00{project}\x00{episode}"
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class EpisodeLocks:
    """The advisory locks one backend object holds, on one connection opened on demand."""

    def __init__(self, connect: Connect, schema: str) -> None:
        self._connect = connect
        self._schema = schema
        self._guard = threading.Lock()
        self._conn: psycopg.Connection[TupleRow] | None = None
        self._holds = 0

    @contextlib.contextmanager
    def hold(self, project: str, episode: str, timeout_s: float | None) -> Iterator[None]:
        """Hold the episode lock for the ``with`` block (see ``lock_episode``)."""
        key = episode_lock_key(self._schema, project, episode)
        conn = self._reserve()
        try:
            self._acquire(conn, key, project, episode, timeout_s)
        except BaseException:
            self._unreserve()
            raise
        try:
            yield
        finally:
            try:
                with contextlib.suppress(psycopg.Error):
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
            finally:
                self._unreserve()

    def close(self) -> None:
        """Close the lock connection (releasing every lock it holds)."""
        with self._guard:
            conn, self._conn, self._holds = self._conn, None, 0
        if conn is not None:
            conn.close()

    def _reserve(self) -> psycopg.Connection[TupleRow]:
        with self._guard:
            if self._conn is None or self._conn.closed:
                self._conn = self._connect()
                self._conn.autocommit = True
            self._holds += 1
            return self._conn

    def _unreserve(self) -> None:
        with self._guard:
            self._holds -= 1
            if self._holds > 0 or self._conn is None:
                return
            conn, self._conn = self._conn, None
        conn.close()

    def _acquire(
        self,
        conn: psycopg.Connection[TupleRow],
        key: int,
        project: str,
        episode: str,
        timeout_s: float | None,
    ) -> None:
        deadline = None if timeout_s is None else time.monotonic() + max(timeout_s, 0.0)
        pause = FIRST_RETRY_S
        while True:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            if row is not None and row[0]:
                return
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise self._locked(conn, key, project, episode, timeout_s)
            wait = pause if deadline is None else min(pause, deadline - now)
            time.sleep(wait)
            pause = min(pause * 2, MAX_RETRY_S)

    def _locked(
        self,
        conn: psycopg.Connection[TupleRow],
        key: int,
        project: str,
        episode: str,
        timeout_s: float | None,
    ) -> EpisodeLockedError:
        waited = "" if not timeout_s else f" after waiting {timeout_s:g}s"
        holder = _describe_holder(conn, key)
        return EpisodeLockedError(
            f"episode {project}/{episode} is locked by another recoil process{waited} "
            f"(PostgreSQL advisory lock {key} for schema {self._schema}{holder}); wait for "
            "it to finish, or run again with --wait to wait for the lock"
        )


def _describe_holder(conn: psycopg.Connection[TupleRow], key: int) -> str:
    """``, held by server process 123 (application recoil, client 10.0.0.2)`` or ``""``."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    try:
        row: Any = conn.execute(_HOLDER, (unsigned >> 32, unsigned & 0xFFFF_FFFF)).fetchone()
    except psycopg.Error:
        return ""
    if row is None:
        return ""
    pid, application, client = row
    details = [
        f"application {application}" if application else "",
        f"client {client}" if client else "",
    ]
    extra = ", ".join(d for d in details if d)
    return f", held by server process {pid}" + (f" ({extra})" if extra else "")
