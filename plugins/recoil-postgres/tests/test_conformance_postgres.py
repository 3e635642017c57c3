"""The persistence conformance suite, run against the PostgreSQL backend.

Each test gets its own schema (created by the backend on first use, dropped afterwards),
so tests are isolated and can run in parallel. PostgreSQL must be reachable at
``RECOIL_POSTGRES_DSN`` (default: local trust auth); if it is not, these tests fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from recoil_postgres.backend import PostgresBackend
from recoil_postgres.testing import reachable_dsn, scratch_schema

from recoil_core.testing.conformance import BackendConformance, MakeBackend


@pytest.fixture
def postgres_dsn() -> str:
    return reachable_dsn()


class TestPostgresConformance(BackendConformance):
    @pytest.fixture
    def make_backend(self, postgres_dsn: str, tmp_path: Path) -> Iterator[MakeBackend]:
        opened: list[PostgresBackend] = []

        def make() -> PostgresBackend:
            backend = PostgresBackend(
                postgres_dsn, schema=schema, renders_root=tmp_path / "projects"
            )
            opened.append(backend)
            return backend

        with scratch_schema(postgres_dsn) as schema:
            try:
                yield make
            finally:
                for backend in opened:
                    backend.close()
