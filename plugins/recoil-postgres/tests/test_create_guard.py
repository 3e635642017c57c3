"""The backend's create guard: a step's create key is held for exactly as long as the
process holding it lives, paused or not, and given back the moment it dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from recoil_postgres.backend import PostgresBackend
from recoil_postgres.testing import reachable_dsn, scratch_schema

from recoil_core.api import CreateGuard

KEY = "take_0001/video"
WAIT_S = 30.0

HOLDER = """
import sys
from recoil_postgres.backend import PostgresBackend
backend = PostgresBackend(sys.argv[1], schema=sys.argv[2], renders_root=sys.argv[3])
print(backend.create_guard.acquire(sys.argv[4]), flush=True)
sys.stdin.read()  # hold it until the test closes stdin or kills this process
"""


@pytest.fixture
def dsn() -> str:
    return reachable_dsn()


@pytest.fixture
def schema(dsn: str) -> Iterator[str]:
    with scratch_schema(dsn) as name:
        yield name


@pytest.fixture
def backend(dsn: str, schema: str, tmp_path: Path) -> Iterator[PostgresBackend]:
    with PostgresBackend(dsn, schema=schema, renders_root=tmp_path) as opened:
        yield opened


@pytest.fixture
def holder(dsn: str, schema: str, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding KEY (it printed True once it did)."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, dsn, schema, str(tmp_path), KEY],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "True"
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def until(condition: Callable[[], bool]) -> bool:
    """``condition`` once it is true (the server ends a dead client's session on its own
    schedule, in milliseconds); False if it never was within WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_the_guard_is_a_create_guard(backend: PostgresBackend) -> None:
    guard: CreateGuard = backend.create_guard
    assert guard is backend.create_guard  # one per backend object, opened on first use


def test_a_key_is_held_once_across_processes_and_within_one(
    backend: PostgresBackend, dsn: str, schema: str, tmp_path: Path
) -> None:
    with PostgresBackend(dsn, schema=schema, renders_root=tmp_path) as other:
        assert backend.create_guard.acquire(KEY)
        assert not other.create_guard.acquire(KEY)  # another process's session
        assert not backend.create_guard.acquire(KEY)  # another take runner of this process
        assert other.create_guard.acquire("take_0002/video")  # keys are independent
        backend.create_guard.release(KEY)
        backend.create_guard.release(KEY)  # a key not held is ignored
        assert other.create_guard.acquire(KEY)


def test_closing_the_backend_gives_its_keys_back(
    dsn: str, schema: str, tmp_path: Path, backend: PostgresBackend
) -> None:
    first = PostgresBackend(dsn, schema=schema, renders_root=tmp_path)
    assert first.create_guard.acquire(KEY)
    first.close()
    assert backend.create_guard.acquire(KEY)


def test_a_paused_holder_keeps_its_key_and_a_killed_one_loses_it(
    backend: PostgresBackend, holder: subprocess.Popen[str]
) -> None:
    os.kill(holder.pid, signal.SIGSTOP)
    try:
        # paused: its session lives on (the kernel answers for its socket)
        assert not backend.create_guard.acquire(KEY)
    finally:
        os.kill(holder.pid, signal.SIGCONT)
    assert not backend.create_guard.acquire(KEY)
    holder.kill()  # however it dies, its session ends and the key is free
    holder.wait()
    assert until(lambda: backend.create_guard.acquire(KEY))
