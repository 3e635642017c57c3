"""``recoil db upgrade``: where a database's Recoil tables stand, and bringing them to the
layouts this recoil-postgres writes (the backend's tables, ``schema.STORE_VERSION``; the
lease tables, ``leases.LEASE_STORE_VERSION``). Each part upgrades step by step under its
own advisory lock, so it is safe while other processes start."""

from __future__ import annotations

import attrs

from recoil_postgres.connection import connect
from recoil_postgres.leases import LEASE_STORE_VERSION, _lease_version, ensure_lease_tables
from recoil_postgres.schema import STORE_VERSION, _layout_version, ensure_schema

__all__ = ["SchemaPart", "inspect", "upgrade"]


@attrs.frozen
class SchemaPart:
    """One set of tables: the layout version found (None: absent) and the one expected."""

    name: str
    found: int | None
    latest: int

    @property
    def behind(self) -> bool:
        return self.found is None or self.found < self.latest

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "found": self.found, "latest": self.latest}


def inspect(dsn: str, schema: str) -> list[SchemaPart]:
    """The layout versions in ``schema`` (read only)."""
    with connect(dsn, autocommit=True) as conn:
        return [
            SchemaPart("backend tables", _layout_version(conn, schema), STORE_VERSION),
            SchemaPart("lease tables", _lease_version(conn, schema), LEASE_STORE_VERSION),
        ]


def upgrade(dsn: str, schema: str) -> list[SchemaPart]:
    """Create or upgrade the tables in ``schema``; returns the parts as they were before.
    A layout newer than this recoil-postgres is refused (``SchemaVersionError``)."""
    before = inspect(dsn, schema)
    with connect(dsn) as conn:
        ensure_schema(conn, schema)
        ensure_lease_tables(conn, schema)
    return before
