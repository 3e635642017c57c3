"""Connection settings from the environment, and scrubbing passwords out of anything shown."""

from __future__ import annotations

import re
from collections.abc import Mapping

from recoil_postgres.errors import PostgresConfigError

DSN_ENV = "RECOIL_POSTGRES_DSN"
SCHEMA_ENV = "RECOIL_POSTGRES_SCHEMA"
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_SCHEMA = "recoil"
APPLICATION_NAME = "recoil"
CONNECT_TIMEOUT_S = 10
IDLE_IN_TRANSACTION_TIMEOUT_S = 60
"""A session of Recoil's left idle inside a transaction this long is ended by the server,
its locks with it. Recoil's transactions run their statements back to back, so only a
frozen process (SIGSTOP, a stalled VM) leaves one open: without this, the rows it locked
(a take's lease, a scene) would stop every other node until it woke."""

_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_URL_PASSWORD = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:@/?#]*):(?P<pw>[^@/?#]*)@")
_KV_PASSWORD = re.compile(r"""password\s*=\s*(?:'(?P<quoted>(?:[^'\\]|\\.)*)'|(?P<bare>[^\s&]*))""")
MASK = "***"


def dsn_from_env(env: Mapping[str, str]) -> str:
    """The connection string: ``RECOIL_POSTGRES_DSN`` or the local default."""
    return env.get(DSN_ENV) or DEFAULT_DSN


def schema_from_env(env: Mapping[str, str]) -> str:
    """The schema holding Recoil's tables: ``RECOIL_POSTGRES_SCHEMA`` or ``recoil``."""
    return check_schema_name(env.get(SCHEMA_ENV) or DEFAULT_SCHEMA)


def check_schema_name(name: str) -> str:
    """Return ``name`` if it is a plain SQL identifier, else raise :class:`PostgresConfigError`."""
    if not _SCHEMA_NAME.match(name):
        raise PostgresConfigError(
            f"{SCHEMA_ENV}={name!r} is not a usable schema name: use letters, digits and '_', "
            "starting with a letter or '_', at most 63 characters"
        )
    return name


def passwords_in(dsn: str) -> list[str]:
    """Every password written in ``dsn`` (URL ``user:pw@`` or ``password=pw``), longest first."""
    found: list[str] = []
    match = _URL_PASSWORD.match(dsn.strip())
    if match and match.group("pw"):
        found.append(match.group("pw"))
    for kv in _KV_PASSWORD.finditer(dsn):
        value = kv.group("quoted") if kv.group("quoted") is not None else kv.group("bare")
        if value:
            found.append(value)
    found.extend(_parsed_password(dsn))
    decoded = [_percent_decoded(pw) for pw in found]
    return sorted({*found, *decoded} - {""}, key=len, reverse=True)


def scrub(text: str, dsn: str) -> str:
    """``text`` with every password of ``dsn`` replaced by ``***``."""
    for password in passwords_in(dsn):
        text = text.replace(password, MASK)
    return text


def describe(exc: BaseException, dsn: str) -> str:
    """A driver error as one scrubbed sentence (whitespace collapsed, ends with punctuation)."""
    text = scrub(" ".join(str(exc).split()), dsn) or type(exc).__name__
    return text if text[-1] in ".?!" else text + "."


def shown_dsn(dsn: str) -> str:
    """``dsn`` as it may be shown in a message or log: password masked."""
    text = dsn.strip()
    match = _URL_PASSWORD.match(text)
    if match:
        text = f"{match.group('head')}:{MASK}@{text[match.end() :]}"
    text = _KV_PASSWORD.sub(f"password={MASK}", text)
    return scrub(text, dsn)


def _percent_decoded(value: str) -> str:
    from urllib.parse import unquote

    return unquote(value)


def _parsed_password(dsn: str) -> list[str]:
    """The password as libpq parses it (empty when it cannot parse ``dsn``)."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        password = conninfo_to_dict(dsn).get("password")
    except Exception:
        return []
    return [str(password)] if password else []
