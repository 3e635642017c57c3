"""Opening a connection: Recoil's defaults, and errors that never show a password."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow

from recoil_postgres.config import (
    APPLICATION_NAME,
    CONNECT_TIMEOUT_S,
    DEFAULT_DSN,
    DSN_ENV,
    IDLE_IN_TRANSACTION_TIMEOUT_S,
    describe,
    shown_dsn,
)
from recoil_postgres.errors import PostgresConfigError, PostgresUnavailableError

Conn = psycopg.Connection[TupleRow]


def connect(dsn: str, *, autocommit: bool = False) -> Conn:
    """A new connection to ``dsn`` (``application_name=recoil``, a connect timeout, and
    :data:`~recoil_postgres.config.IDLE_IN_TRANSACTION_TIMEOUT_S`).

    Raises :class:`PostgresConfigError` for a malformed DSN and
    :class:`PostgresUnavailableError` when the server cannot be reached or refuses us;
    both messages mask the DSN's password.
    """
    try:
        params: dict[str, Any] = conninfo_to_dict(dsn)
    except psycopg.Error as exc:
        raise PostgresConfigError(
            f"{DSN_ENV} is not a valid PostgreSQL connection string "
            f"({describe(exc, dsn)}) Use e.g. {DEFAULT_DSN} "
            "or 'host=... dbname=... user=...'."
        ) from None
    params.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    params.setdefault("application_name", APPLICATION_NAME)
    try:
        conn = psycopg.connect(make_conninfo("", **params), autocommit=autocommit)
        try:
            conn.execute(
                "SELECT set_config('idle_in_transaction_session_timeout', %s, false)",
                (f"{IDLE_IN_TRANSACTION_TIMEOUT_S * 1000}",),
            )
            if not autocommit:
                conn.commit()
        except BaseException:
            conn.close()
            raise
        return conn
    except psycopg.Error as exc:
        raise PostgresUnavailableError(
            f"cannot connect to PostgreSQL at {shown_dsn(dsn)}: {describe(exc, dsn)} "
            f"Check {DSN_ENV} and that the server is running."
        ) from None
