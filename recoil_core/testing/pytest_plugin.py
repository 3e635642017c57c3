"""Pytest plugin shipped with recoil-core (``pytest11`` entry point ``recoil``).

Fixtures for plugin authors, the same ones Recoil's own tests use:

- ``recoil_env``: an environment dict with a temp projects root and animatic cache,
  for running the ``recoil`` CLI as a subprocess.
- ``recoil_cli``: run the ``recoil`` CLI in a subprocess with ``recoil_env``.
- ``recoil_harness``: a :class:`~recoil_core.testing.harness.RunHarness` (real registry,
  real filesystem backend in a temp dir, scripted provider).
- ``recoil_plugins``: the in-process plugins ``recoil_harness`` registers, as
  ``(name, plugin)`` pairs; empty unless a ``conftest.py`` overrides it with your own.

``fake_ark`` (a fake Ark server) comes with recoil-seeddance: see
:mod:`recoil_seeddance.testing.pytest_plugin`.

Examples of each: docs/testing-plugins.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from recoil_core.testing.harness import RunHarness

__all__ = [
    "RecoilCli",
    "recoil_cli",
    "recoil_env",
    "recoil_executable",
    "recoil_harness",
    "recoil_plugins",
]

RecoilCli = Callable[..., subprocess.CompletedProcess[str]]
"""``recoil_cli(*args, env=None)``: run ``recoil *args``; see :func:`recoil_cli`."""


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
    """This process's environment without any ``RECOIL_*`` setting or ``ARK_API_KEY``, with
    ``RECOIL_PROJECTS_ROOT`` (``tmp_path/projects``) and ``RECOIL_ANIMATIC_CACHE``
    (``tmp_path/animatic-cache``) set: what ``recoil_cli`` runs with. Add settings to it
    (``recoil_env["RECOIL_BACKEND"] = ...``) before calling ``recoil_cli``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOIL_")}
    env.pop("ARK_API_KEY", None)
    env["RECOIL_PROJECTS_ROOT"] = str(tmp_path / "projects")
    env["RECOIL_ANIMATIC_CACHE"] = str(tmp_path / "animatic-cache")
    return env


@pytest.fixture
def recoil_cli(recoil_env: dict[str, str], tmp_path: Path) -> RecoilCli:
    """Run the installed ``recoil`` command: ``recoil_cli("run", "plan.json", env={...})``.

    It runs in ``tmp_path`` with ``recoil_env`` (plus ``env``, if given) and returns the
    :class:`subprocess.CompletedProcess` with ``returncode``, ``stdout`` and ``stderr`` as
    text; a non-zero exit is returned, not raised. Times out after 300 s.
    """

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
    """The ``(name, plugin)`` pairs ``recoil_harness`` registers in-process; empty here.

    Override it in your ``conftest.py`` to run your plugin module in the harness, under a
    name other than its entry point's (``[("mine-under-test", plugin)]``).
    """
    return []


@pytest.fixture
def recoil_harness(tmp_path: Path, recoil_plugins: list[tuple[str, object]]) -> RunHarness:
    """A :class:`~recoil_core.testing.harness.RunHarness` in ``tmp_path``: the real episode
    runner and registry, the filesystem backend, the scripted provider (every job succeeds
    at no cost; ``recoil_harness.provider`` records each request) and the plugins of
    ``recoil_plugins``. Build a ``RunHarness`` yourself for other settings (its own
    strategies, runners, provider script or estimate)."""
    return RunHarness(tmp_path, extra_plugins=recoil_plugins)
