"""A benchmark's count of a node's database round trips (``bench/workers.py``): off unless
``RECOIL_BENCH_STATEMENTS_DIR`` names a folder, where each process writes its counts when
it exits. Nothing here runs in a normal node."""

from __future__ import annotations

import atexit
import functools
import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ENV = "RECOIL_BENCH_STATEMENTS_DIR"

_counts: dict[str, Any] = {"statements": 0, "transactions": 0, "pipelined": 0, "pipelines": 0}
_installed = False
_DETAIL = "RECOIL_BENCH_STATEMENTS_DETAIL"
_PROFILE = "RECOIL_BENCH_PROFILE"
_detail: dict[str, int] | None = None


def _caller() -> str:
    """Where a counted call comes from: the innermost recoil frames (two, or as many as
    ``RECOIL_BENCH_STATEMENTS_DETAIL`` says)."""
    frame = sys._getframe(3)
    found: list[str] = []
    depth = int(os.environ.get(_DETAIL) or 2)
    while frame is not None and len(found) < depth:
        name = frame.f_code.co_filename
        if ("recoil_" in name or "procrastinate" in name) and "_bench" not in name:
            found.append(f"{Path(name).name}:{frame.f_code.co_name}")
        frame = frame.f_back  # type: ignore[assignment]
    return " < ".join(found)


def _count(kind: str) -> None:
    _counts[kind] += 1
    if _detail is not None:
        key = f"{kind} {_caller()}"
        _detail[key] = _detail.get(key, 0) + 1


def _counted(kind: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _count(kind)
        return method(*args, **kwargs)

    return wrapper


def _statement(method: Callable[..., Any]) -> Callable[..., Any]:
    """A statement sent in a pipeline waits for no answer: counted apart (its pipeline
    is one round trip)."""

    @functools.wraps(method)
    def wrapper(cursor: Any, *args: Any, **kwargs: Any) -> Any:
        piped = getattr(cursor.connection, "_pipeline", None) is not None
        _count("pipelined" if piped else "statements")
        return method(cursor, *args, **kwargs)

    return wrapper


def count_round_trips(env: Mapping[str, str]) -> None:
    """With ``RECOIL_BENCH_STATEMENTS_DIR`` set: count every statement psycopg sends (sync
    and async cursors, as procrastinate's connector and the backend use them) and every
    transaction block (its BEGIN or SAVEPOINT and its COMMIT or RELEASE: two round trips)
    and pipeline (its statements are sent together: one round trip), and write them to
    ``<dir>/<pid>.json`` when the process exits."""
    global _installed, _detail
    folder = env.get(ENV)
    if not folder or _installed:
        return
    import psycopg

    for cls in (psycopg.Cursor, psycopg.AsyncCursor):
        for name in ("execute", "executemany"):
            setattr(cls, name, _statement(getattr(cls, name)))
    psycopg.Transaction.__enter__ = _counted(  # type: ignore[method-assign]
        "transactions", psycopg.Transaction.__enter__
    )
    psycopg.AsyncTransaction.__aenter__ = _counted(  # type: ignore[method-assign]
        "transactions", psycopg.AsyncTransaction.__aenter__
    )
    psycopg.Connection.pipeline = _counted(  # type: ignore[method-assign]
        "pipelines", psycopg.Connection.pipeline
    )
    _installed = True
    if env.get(_DETAIL):
        _detail = _counts["detail"] = {}
    path = Path(folder) / f"{os.getpid()}.json"
    atexit.register(lambda: path.write_text(json.dumps(_counts), encoding="utf-8"))
    if env.get(_PROFILE):  # the event loop thread's calls, to <dir>/<pid>.prof
        import cProfile

        profile = cProfile.Profile()
        profile.enable()

        def dump() -> None:
            profile.disable()
            profile.dump_stats(path.with_suffix(".prof"))

        atexit.register(dump)
