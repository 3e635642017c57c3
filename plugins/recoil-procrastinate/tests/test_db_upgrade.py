"""``recoil db upgrade``: the backend's, the lease and the queue tables brought to the
installed layouts from an empty database and from a backend layout of version 1;
``--check`` exits 1 while any is behind and changes nothing. Real PostgreSQL (a fresh
database each) and the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from psycopg import sql
from recoil_postgres.connection import connect
from recoil_postgres.leases import LEASE_STORE_VERSION
from recoil_postgres.schema import DDL, MARKS_DDL, STORE_VERSION
from recoil_procrastinate.queue import queue_schema_latest

from recoil_core.testing.pytest_plugin import recoil_executable


def db_env(dsn: str, root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOIL_")}
    env.update(
        RECOIL_BACKEND="postgres",
        RECOIL_POSTGRES_DSN=dsn,
        RECOIL_PROJECTS_ROOT=str(root / "projects"),
    )
    return env


def db(env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [recoil_executable(), "db", "upgrade", *args, "--json"],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def versions(done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    return {part["name"]: part["found"] for part in json.loads(done.stdout)["parts"]}


LATEST = {
    "backend tables": STORE_VERSION,
    "lease tables": LEASE_STORE_VERSION,
    "queue tables (procrastinate)": queue_schema_latest(),
}


def test_an_empty_database_is_behind_until_upgraded(database_dsn: str, tmp_path: Path) -> None:
    env = db_env(database_dsn, tmp_path)

    before = db(env, "--check")
    assert before.returncode == 1, before.stderr
    assert versions(before) == dict.fromkeys(LATEST)
    again = db(env, "--check")  # --check created nothing
    assert again.returncode == 1 and versions(again) == dict.fromkeys(LATEST)

    upgraded = db(env)
    assert upgraded.returncode == 0, upgraded.stderr
    after = db(env, "--check")
    assert after.returncode == 0, after.stderr
    assert versions(after) == LATEST


def test_a_version_1_backend_layout_is_upgraded_and_keeps_its_rows(
    database_dsn: str, tmp_path: Path
) -> None:
    version_1 = DDL[: -len(MARKS_DDL)]  # the layout before review marks
    with connect(database_dsn) as conn, conn.transaction():
        conn.execute(
            sql.SQL(version_1).format(
                s=sql.Identifier("recoil"), name=sql.Literal("recoil"), version=sql.Literal(1)
            )
        )
        conn.execute("INSERT INTO recoil.derivation (project, episode, document) "
                     "VALUES ('p', 'EP001', '{}')")  # fmt: skip
    env = db_env(database_dsn, tmp_path)

    before = db(env, "--check")
    assert before.returncode == 1
    assert versions(before)["backend tables"] == 1

    assert db(env).returncode == 0
    after = db(env, "--check")
    assert after.returncode == 0, after.stdout
    assert versions(after) == LATEST
    with connect(database_dsn, autocommit=True) as conn:
        marks = conn.execute("SELECT to_regclass('recoil.marks') IS NOT NULL").fetchone()
        kept = conn.execute("SELECT count(*) FROM recoil.derivation").fetchone()
    assert marks == (True,)
    assert kept == (1,)
