"""The tables of the PostgreSQL backend, created on first use in one schema.

Everything is created in one transaction under a transaction-level advisory lock, so
processes starting together create the tables once. ``schema_version`` records the layout
version (``STORE_VERSION``); a layout from a newer recoil-postgres is refused.
"""

from __future__ import annotations

import hashlib
from typing import cast

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from recoil_core.api import SchemaVersionError

STORE_VERSION = 2
"""Version of the table layout below (independent of the documents' schema_version).
v2: the ``marks`` table (review marks); a v1 layout is upgraded by ``UPGRADES``."""

MARKS_DDL = """
CREATE TABLE IF NOT EXISTS {s}.marks (
    project text NOT NULL,
    episode text NOT NULL,
    scene_id text NOT NULL,
    beat_id text NOT NULL,
    revision integer NOT NULL CHECK (revision >= 1),
    document jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project, episode, scene_id, beat_id)
);
"""

UPGRADES: dict[int, str] = {1: MARKS_DDL}
"""Layout version -> the DDL that brings a layout of that version to the next one."""

DDL = (
    """
CREATE SCHEMA IF NOT EXISTS {s};

CREATE TABLE IF NOT EXISTS {s}.schema_version (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS {s}.scenes (
    project text NOT NULL,
    episode text NOT NULL,
    scene_id text NOT NULL,
    active_version integer NOT NULL,
    PRIMARY KEY (project, episode, scene_id)
);

CREATE TABLE IF NOT EXISTS {s}.scene_versions (
    project text NOT NULL,
    episode text NOT NULL,
    scene_id text NOT NULL,
    version integer NOT NULL CHECK (version >= 1),
    downstream text NOT NULL CHECK (downstream IN ('derived', 'not_derived')),
    created_at text NOT NULL,
    note text NOT NULL DEFAULT '',
    derivation_digest text,
    revision bigint NOT NULL DEFAULT 1,
    document jsonb NOT NULL,
    PRIMARY KEY (project, episode, scene_id, version),
    FOREIGN KEY (project, episode, scene_id)
        REFERENCES {s}.scenes (project, episode, scene_id) ON DELETE CASCADE
);

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint
        WHERE conname = 'scenes_active_version_fk' AND connamespace = {name}::regnamespace
    ) THEN
        ALTER TABLE {s}.scenes ADD CONSTRAINT scenes_active_version_fk
            FOREIGN KEY (project, episode, scene_id, active_version)
            REFERENCES {s}.scene_versions (project, episode, scene_id, version)
            DEFERRABLE INITIALLY DEFERRED;
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION {s}.bump_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.revision := OLD.revision + 1;
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS scene_versions_revision ON {s}.scene_versions;
CREATE TRIGGER scene_versions_revision BEFORE UPDATE ON {s}.scene_versions
    FOR EACH ROW EXECUTE FUNCTION {s}.bump_revision();

CREATE TABLE IF NOT EXISTS {s}.derivation (
    project text NOT NULL,
    episode text NOT NULL,
    document jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project, episode)
);

CREATE TABLE IF NOT EXISTS {s}.ledger (
    seq bigserial PRIMARY KEY,
    project text NOT NULL,
    episode text NOT NULL,
    entry_id text NOT NULL,
    scene_id text NOT NULL,
    take_id text NOT NULL,
    provider text NOT NULL,
    model text NOT NULL,
    kind text NOT NULL,
    amount_usd double precision NOT NULL,
    document jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project, episode, entry_id)
);

CREATE INDEX IF NOT EXISTS ledger_project_episode_seq ON {s}.ledger (project, episode, seq);

INSERT INTO {s}.schema_version (singleton, version) VALUES (true, {version})
    ON CONFLICT (singleton) DO NOTHING;
"""
    + MARKS_DDL
)


def bootstrap_lock_key(schema: str) -> int:
    """The advisory lock key serialising table creation in ``schema``."""
    digest = hashlib.sha256(f"recoil-postgres\x00bootstrap\x00{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def ensure_schema(conn: psycopg.Connection[TupleRow], schema: str) -> None:
    """Create the tables in ``schema`` unless they exist; refuse a newer layout. Commits."""
    with conn.transaction():
        found = _layout_version(conn, schema)
        if found is None:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (bootstrap_lock_key(schema),))
            found = _layout_version(conn, schema)
        if found is None:
            ddl = sql.SQL(DDL).format(
                s=sql.Identifier(schema),
                name=sql.Literal(schema),
                version=sql.Literal(STORE_VERSION),
            )
            conn.execute(ddl)
            found = _layout_version(conn, schema)
        if found is not None and found < STORE_VERSION:
            found = _upgrade(conn, schema)
    if found is not None and found > STORE_VERSION:
        raise SchemaVersionError(
            f"PostgreSQL schema {schema!r}: table layout version {found} is newer than this "
            f"recoil-postgres understands ({STORE_VERSION}); upgrade recoil-postgres"
        )


def _upgrade(conn: psycopg.Connection[TupleRow], schema: str) -> int | None:
    """Bring an older layout to ``STORE_VERSION`` step by step (``UPGRADES``), under the
    bootstrap lock, inside the caller's transaction; returns the version found after."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (bootstrap_lock_key(schema),))
    found = _layout_version(conn, schema)
    while found is not None and found < STORE_VERSION:
        conn.execute(sql.SQL(UPGRADES[found]).format(s=sql.Identifier(schema)))
        found += 1
        conn.execute(
            sql.SQL("UPDATE {} SET version = %s WHERE singleton").format(
                sql.Identifier(schema, "schema_version")
            ),
            (found,),
        )
    return found


def _layout_version(conn: psycopg.Connection[TupleRow], schema: str) -> int | None:
    qualified = f'"{schema}".schema_version'
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (qualified,)).fetchone()
    if row is None or not row[0]:
        return None
    query = sql.SQL("SELECT version FROM {} WHERE singleton").format(
        sql.Identifier(schema, "schema_version")
    )
    version = conn.execute(query).fetchone()
    return None if version is None else cast(int, version[0])
