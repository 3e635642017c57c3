"""Fixtures: a fresh PostgreSQL database per test (dropped after it), on the server of
``RECOIL_POSTGRES_DSN`` (default: 127.0.0.1:5432)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from recoil_postgres.testing import reachable_dsn, scratch_database


@pytest.fixture
def database_dsn() -> Iterator[str]:
    """The DSN of a database created for this test alone."""
    with scratch_database(reachable_dsn(), prefix="recoil_nodes") as dsn:
        yield dsn
