"""Entry point module of recoil-postgres: registers the ``postgres`` persistence backend.

Cheap to import: psycopg and the backend load only when a command builds the backend.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from recoil_core.api import BackendContext, BackendSpec, hookimpl

if TYPE_CHECKING:
    from recoil_core.api import PersistenceBackend

NAME = "postgres"


def build_postgres_backend(ctx: BackendContext) -> PersistenceBackend:
    """The PostgreSQL backend for ``RECOIL_POSTGRES_DSN`` / ``RECOIL_POSTGRES_SCHEMA``.

    Renders go under ``ctx.projects_root`` (``RECOIL_PROJECTS_ROOT``), as files.
    """
    from recoil_postgres.backend import PostgresBackend
    from recoil_postgres.config import dsn_from_env, schema_from_env

    env = ctx.env or os.environ
    return PostgresBackend(
        dsn_from_env(env),
        schema=schema_from_env(env),
        renders_root=ctx.projects_root,
        lock_timeout_s=ctx.lock_timeout_s,
    )


@hookimpl
def recoil_persistence_backends() -> list[BackendSpec]:
    return [
        BackendSpec(
            name=NAME,
            factory=build_postgres_backend,
            description="PostgreSQL tables (RECOIL_POSTGRES_DSN, schema RECOIL_POSTGRES_SCHEMA); "
            "compare-and-swap saves, advisory episode locks; renders stay files",
        )
    ]
