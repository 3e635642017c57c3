"""Fixtures: a fresh PostgreSQL database per test (dropped after it), on the server of
``RECOIL_POSTGRES_DSN`` (default: 127.0.0.1:5432)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from recoil_postgres.connection import connect
from recoil_postgres.testing import reachable_dsn


@pytest.fixture
def database_dsn() -> Iterator[str]:
    """The DSN of a database created for this test alone."""
    server = reachable_dsn()
    name = f"recoil_nodes_{uuid.uuid4().hex[:12]}"
    with connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(server, dbname=name)
    finally:
        with connect(server, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
