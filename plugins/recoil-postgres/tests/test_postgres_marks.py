"""Review marks on PostgreSQL beyond the conformance suite: a layout made by an earlier
recoil-postgres (v1, no ``marks`` table) is upgraded in place, keeping what it holds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg import sql
from recoil_postgres.backend import PostgresBackend
from recoil_postgres.connection import connect
from recoil_postgres.schema import STORE_VERSION
from recoil_postgres.testing import reachable_dsn, scratch_schema

from recoil_core.testing.conformance import EPISODE, PASS_ID, PROJECT, coverage_scene


@pytest.fixture
def schema() -> Iterator[str]:
    with scratch_schema(reachable_dsn()) as name:
        yield name


def test_a_v1_layout_gets_the_marks_table_and_keeps_its_scenes(schema: str, tmp_path: Path) -> None:
    dsn = reachable_dsn()
    with PostgresBackend(dsn, schema=schema, renders_root=tmp_path) as first:
        first.create_scene(PROJECT, EPISODE, coverage_scene())
    with connect(dsn) as admin:  # what recoil-postgres 0.1 (layout v1) left behind
        admin.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(schema, "marks")))
        admin.execute(
            sql.SQL("UPDATE {} SET version = 1").format(sql.Identifier(schema, "schema_version"))
        )
        admin.commit()

    with PostgresBackend(dsn, schema=schema, renders_root=tmp_path) as upgraded:
        assert upgraded.save_mark(PROJECT, EPISODE, PASS_ID, "B1", {"n": 1}, expected_revision=0)
        assert upgraded.load_marks(PROJECT, EPISODE) == {(PASS_ID, "B1"): (1, {"n": 1})}
        assert upgraded.load_active(PROJECT, EPISODE, PASS_ID) == (coverage_scene(), 1)
    with connect(dsn) as admin:
        row = admin.execute(
            sql.SQL("SELECT version FROM {}").format(sql.Identifier(schema, "schema_version"))
        ).fetchone()
    assert row is not None and row[0] == STORE_VERSION == 2
