"""The backend's create guard: which step creates a live process is sending.

Each held key is a PostgreSQL session advisory lock on a connection of the guard's own,
opened on first use. A process that dies loses its session, and its locks with it, the
moment the server sees the connection close; a process that is only paused (SIGSTOP, a
long GC pause, a VM migration) keeps its session, because the operating system, not the
process, answers for the socket. So a node that takes over a take whose ``submitting``
another node wrote can tell "that node is gone" (the lock is free) from "that node may
still send its create" (the lock is held), which no lease expiry can tell.

If the guard's connection itself is lost, its holds are lost with it; the next hold
opens a new connection.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable

import psycopg
from psycopg.rows import TupleRow

Connect = Callable[[], psycopg.Connection[TupleRow]]
Failure = Callable[[psycopg.Error], Exception]


def create_lock_key(schema: str, key: str) -> int:
    """The advisory lock key of a step's create (signed 64-bit, stable across processes)."""
    text = f"recoil-postgres\x00create\x00{schema}\x00{key}"
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big", signed=True)


class CreateGuards:
    """A :class:`recoil_core.api.CreateGuard` on PostgreSQL session advisory locks."""

    def __init__(self, connect: Connect, schema: str, failure: Failure) -> None:
        self._connect = connect
        self._failure = failure
        self._schema = schema
        self._mutex = threading.Lock()
        self._conn: psycopg.Connection[TupleRow] | None = None
        self._held: set[int] = set()

    def acquire(self, key: str) -> bool:
        """Take ``key`` unless a live process (this guard included) holds it."""
        lock = create_lock_key(self._schema, key)
        with self._mutex:
            if lock in self._held:
                return False  # another take runner of this process holds it
            conn = self._conn
            try:
                if conn is None or conn.closed:
                    self._held.clear()  # a closed session holds nothing
                    conn = self._conn = self._connect()
                    conn.autocommit = True
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (lock,)).fetchone()
            except psycopg.Error as exc:
                raise self._failure(exc) from None
            if row is None or not row[0]:
                return False
            self._held.add(lock)
            return True

    def release(self, key: str) -> None:
        """Give ``key`` back (ignored when this guard does not hold it)."""
        lock = create_lock_key(self._schema, key)
        with self._mutex:
            if lock not in self._held:
                return
            self._held.discard(lock)
            conn = self._conn
            if conn is not None and not conn.closed:
                with contextlib.suppress(psycopg.Error):
                    conn.execute("SELECT pg_advisory_unlock(%s)", (lock,))

    def close(self) -> None:
        """Close the guard's connection, giving back every key it holds."""
        with self._mutex:
            conn, self._conn = self._conn, None
            self._held.clear()
        if conn is not None:
            conn.close()
