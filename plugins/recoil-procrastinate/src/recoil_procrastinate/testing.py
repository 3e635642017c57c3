"""Helpers for tests that run render nodes as real ``recoil`` processes against the fake
Ark (recoil-seeddance's test server) and a PostgreSQL database: the nodes' environment,
the CLI and workers as subprocesses, a condition wait, and what the fake Ark billed.

Test-only: imports recoil-seeddance and pytest, which are test dependencies.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from recoil_core.testing.pytest_plugin import recoil_executable

TIMEOUT_S = 120
"""How long a test waits for a node or a command before it fails."""


def node_env(ark: Any, root: Path, dsn: str, **extra: str) -> dict[str, str]:
    """The environment of a node: this process's, without any RECOIL_/ARK_ setting, on
    ``ark`` (a FakeArkServer) and the database ``dsn``, with short leases and polls;
    ``extra`` settings override them."""
    from psycopg.conninfo import make_conninfo

    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECOIL_", "ARK_"))}
    env.update(
        ARK_API_KEY=ark.api_key,
        ARK_BASE_URL=ark.base_url,
        RECOIL_BACKEND="postgres",
        RECOIL_POSTGRES_DSN=make_conninfo(dsn),
        RECOIL_PROJECTS_ROOT=str(root / "projects"),
        RECOIL_ANIMATIC_CACHE=str(root / "animatic-cache"),
        RECOIL_SEEDDANCE_POLL_S="0.02",
        RECOIL_SEEDDANCE_FIND_CONSISTENCY_S="0.2",
        RECOIL_WORKER_LEASE_S="1.0",
        RECOIL_WORKER_HEARTBEAT_S="0.25",
        RECOIL_WORKER_STALLED_S="1.0",
        RECOIL_WORKER_POLL_S="0.1",
        RECOIL_WORKER_RESEND_AFTER_S="0.5",
    )
    env.update(extra)  # a test's own settings win
    return env


def recoil(env: Mapping[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``recoil ARGS`` run to its end."""
    return subprocess.run(
        [recoil_executable(), *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def start_worker(env: Mapping[str, str], cwd: Path, *args: str) -> subprocess.Popen[str]:
    """A ``recoil worker --once`` process (it drains the queue and exits)."""
    return subprocess.Popen(
        [recoil_executable(), "worker", "--once", *args],
        env=dict(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def billed_usd(ark: Any) -> dict[str, float]:
    """What the fake Ark billed, per task, at the shipped price table."""
    from recoil_seeddance.models import model_info
    from recoil_seeddance.pricing import price_table

    table = price_table()
    out: dict[str, float] = {}
    for task_id, tokens in ark.stats()["tokens_by_task"].items():
        task = ark.task(task_id)
        info = model_info(task["model"])
        audio = task.get("generate_audio") if info.supports_audio else None
        price = table.usd_per_mtok(
            info.family,
            resolution=task.get("resolution"),
            generate_audio=audio if isinstance(audio, bool) else None,
        )
        out[task_id] = table.cost_usd(tokens, price)
    return out


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` (a state another process reaches) until true; fail the test
    after :data:`TIMEOUT_S`."""
    import pytest

    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.05)
