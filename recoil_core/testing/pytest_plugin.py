"""Pytest plugin shipped with recoil-core (``pytest11`` entry point ``recoil``).

Fixtures for plugin authors, the same ones Recoil's own tests use:

- ``recoil_env``: an environment dict with a temp projects root and animatic cache,
  for running the ``recoil`` CLI as a subprocess.
- ``recoil_harness``: a :class:`~recoil_core.testing.harness.RunHarness` (real registry,
  real filesystem backend in a temp dir, scripted provider).
- ``recoil_plugins``: the in-process plugins ``recoil_harness`` registers, as
  ``(name, plugin)`` pairs; empty unless a ``conftest.py`` overrides it with your own.
- ``fake_ark``: a running :class:`~recoil_core.testing.fake_ark.FakeArkServer` on 127.0.0.1.
- ``recoil_cli``: run the ``recoil`` CLI in a subprocess with ``recoil_env``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from recoil_core.testing.harness import RunHarness


def recoil_executable() -> str:
    """The ``recoil`` console script installed beside the running interpreter."""
    beside = Path(sys.executable).with_name("recoil")
    if beside.exists():
        return str(beside)
    found = shutil.which("recoil")
    if found is None:
        raise RuntimeError("the recoil console script is not installed")
    return found


@pytest.fixture
def recoil_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOIL_")}
    env.pop("ARK_API_KEY", None)
    env["RECOIL_PROJECTS_ROOT"] = str(tmp_path / "projects")
    env["RECOIL_ANIMATIC_CACHE"] = str(tmp_path / "animatic-cache")
    return env


@pytest.fixture
def recoil_cli(
    recoil_env: dict[str, str], tmp_path: Path
) -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [recoil_executable(), *args],
            env={**recoil_env, **(env or {})},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    return run


@pytest.fixture
def recoil_plugins() -> list[tuple[str, object]]:
    """Override in ``conftest.py`` to register your plugin module in ``recoil_harness``."""
    return []


@pytest.fixture
def recoil_harness(tmp_path: Path, recoil_plugins: list[tuple[str, object]]) -> RunHarness:
    return RunHarness(tmp_path, extra_plugins=recoil_plugins)


@pytest.fixture
def fake_ark() -> Iterator[object]:
    from recoil_core.testing.fake_ark import FakeArkServer

    server = FakeArkServer().start()
    try:
        yield server
    finally:
        server.close()
