"""Test helpers for a real PostgreSQL: a throwaway schema per test, a clear failure if down.

    with scratch_schema(dsn) as schema:
        backend = PostgresBackend(dsn, schema=schema, renders_root=tmp_path)

Used by Recoil's own tests; a third-party backend's tests can use them the same way.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from psycopg import sql

from recoil_core.api import RecoilError
from recoil_postgres.config import DSN_ENV, dsn_from_env
from recoil_postgres.connection import connect

SCRATCH_PREFIX = "recoil_test"


def server_dsn(env: Mapping[str, str] | None = None) -> str:
    """The DSN tests use: ``RECOIL_POSTGRES_DSN`` or the local default."""
    return dsn_from_env(os.environ if env is None else env)


def require_server(dsn: str) -> None:
    """Connect once; raises ``PostgresUnavailableError`` (password masked) if that fails."""
    connect(dsn, autocommit=True).close()


def reachable_dsn() -> str:
    """:func:`server_dsn`, after checking the server answers; fails the test (not skip) if not."""
    import pytest

    dsn = server_dsn()
    try:
        require_server(dsn)
    except RecoilError as exc:
        pytest.fail(
            f"this test needs a running PostgreSQL (set {DSN_ENV}): {exc}",
            pytrace=False,
        )
    return dsn


@contextmanager
def scratch_schema(dsn: str, prefix: str = SCRATCH_PREFIX) -> Iterator[str]:
    """A unique schema name, dropped with everything in it when the block ends."""
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    try:
        yield name
    finally:
        with connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@contextmanager
def scratch_database(dsn: str, prefix: str = SCRATCH_PREFIX) -> Iterator[str]:
    """A database created on ``dsn``'s server for this block alone: its DSN. Dropped (its
    sessions ended) when the block ends. For tests of several processes sharing one
    database, such as render nodes and their queue."""
    from psycopg.conninfo import make_conninfo

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(dsn, dbname=name)
    finally:
        with connect(dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
