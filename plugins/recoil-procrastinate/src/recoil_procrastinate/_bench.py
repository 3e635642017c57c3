"""A benchmark's count of a node's database round trips (``bench/workers.py``): off unless
``RECOIL_BENCH_STATEMENTS_DIR`` names a folder, where each process writes its counts when
it exits. Nothing here runs in a normal node."""

from __future__ import annotations

import atexit
import functools
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ENV = "RECOIL_BENCH_STATEMENTS_DIR"

_counts = {"statements": 0, "transactions": 0}
_installed = False


def _counted(kind: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _counts[kind] += 1
        return method(*args, **kwargs)

    return wrapper


def count_round_trips(env: Mapping[str, str]) -> None:
    """With ``RECOIL_BENCH_STATEMENTS_DIR`` set: count every statement psycopg sends (sync
    and async cursors, as procrastinate's connector and the backend use them) and every
    transaction block (its BEGIN or SAVEPOINT and its COMMIT or RELEASE: two round trips),
    and write them to ``<dir>/<pid>.json`` when the process exits."""
    global _installed
    folder = env.get(ENV)
    if not folder or _installed:
        return
    import psycopg

    for cls in (psycopg.Cursor, psycopg.AsyncCursor):
        for name in ("execute", "executemany"):
            setattr(cls, name, _counted("statements", getattr(cls, name)))
    psycopg.Transaction.__enter__ = _counted(  # type: ignore[method-assign]
        "transactions", psycopg.Transaction.__enter__
    )
    psycopg.AsyncTransaction.__aenter__ = _counted(  # type: ignore[method-assign]
        "transactions", psycopg.AsyncTransaction.__aenter__
    )
    _installed = True
    path = Path(folder) / f"{os.getpid()}.json"
    atexit.register(lambda: path.write_text(json.dumps(_counts), encoding="utf-8"))
