"""An unknown name says why it is missing: the plugin that provides it failed, is
incompatible, is disabled, or its distribution is not installed (and which to install)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from recoil_core import __version__ as KERNEL_VERSION
from recoil_core.errors import UnavailableNameError, UnknownNameError
from recoil_core.registry import build_registry
from recoil_core.settings import PluginSelection
from recoil_core.testing.distributions import on_sys_path, pythonpath_env, write_distribution
from recoil_core.testing.pytest_plugin import recoil_executable

PLAN = Path(__file__).resolve().parents[1] / "examples" / "ep001" / "plan.json"
OURS = ("broken", "future", "halfway", "grouping", "coverage")

HALFWAY = """
from recoil_core import hookimpl


class Strategy:
    name = "halfway_ok"
    description = "registered before the plugin failed"

    def assemble(self, shots, ctx):
        return []


@hookimpl
def recoil_grouping_strategies():
    return [Strategy(), "not a strategy"]
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("unknown")
    write_distribution(
        root,
        "recoil-broken",
        entry_points={"broken": "recoil_test_unknown_broken"},
        modules={"recoil_test_unknown_broken": "raise RuntimeError('boom at import')\n"},
    )
    write_distribution(
        root,
        "recoil-future",
        version="9.0.0",
        entry_points={"future": "recoil_test_unknown_future"},
        modules={"recoil_test_unknown_future": ""},
        requires=["recoil-core<10,>=9.0"],
    )
    write_distribution(
        root,
        "recoil-halfway",
        entry_points={"halfway": "recoil_test_unknown_halfway"},
        modules={"recoil_test_unknown_halfway": HALFWAY},
    )
    return root


def missing(site: Path, name: str, **selection: object) -> UnknownNameError:
    with on_sys_path(site):
        registry = build_registry(PluginSelection(load_only=OURS, **selection))  # type: ignore[arg-type]
    with pytest.raises(UnknownNameError) as error:
        registry.strategy(name)
    return error.value


def test_a_name_registered_by_a_plugin_that_then_failed(site: Path) -> None:
    error = missing(site, "halfway_ok")

    assert isinstance(error, UnavailableNameError)
    assert "The plugin 'halfway' (recoil-halfway 0.1.0) registers it but failed" in str(error)
    assert "returned str, not a grouping strategy" in str(error)


def test_a_plugin_of_that_name_that_failed_to_import(site: Path) -> None:
    error = missing(site, "broken")

    assert "its plugin 'broken' (recoil-broken 0.1.0) failed: RuntimeError: boom at import" in (
        str(error)
    )


def test_a_plugin_of_that_name_that_is_incompatible(site: Path) -> None:
    error = missing(site, "future")

    assert "its plugin 'future' (recoil-future 9.0.0) is incompatible" in str(error)
    assert f"requires recoil-core >=9.0,<10, running {KERNEL_VERSION}" in str(error)


def test_a_known_name_whose_distribution_is_disabled(site: Path) -> None:
    error = missing(site, "coverage", disabled=("coverage",))

    assert "It is provided by recoil-coverage; its plugin 'coverage' (recoil-coverage" in (
        str(error)
    )
    assert "is disabled (--load-plugins / --disable-plugins" in str(error)


def test_a_known_name_whose_distribution_is_not_installed() -> None:
    registry = build_registry(include_entry_points=False)

    with pytest.raises(UnavailableNameError) as error:
        registry.strategy("coverage")

    assert str(error.value) == (
        "unknown grouping strategy 'coverage'; available: none installed. It is provided by "
        "recoil-coverage, which is not installed: pip install recoil-coverage"
    )


def test_a_name_nothing_explains_stays_a_plain_unknown_name(site: Path) -> None:
    error = missing(site, "nope")

    assert type(error) is UnknownNameError
    assert str(error) == (
        "unknown grouping strategy 'nope'; available: continuity, coverage, oner, solo"
    )


def test_the_cli_explains_a_disabled_strategy_with_exit_2(site: Path, tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("RECOIL_")}
    result = subprocess.run(
        [recoil_executable(), "group", str(PLAN), "--strategy", "coverage"],
        env=pythonpath_env(site, base={**base, "RECOIL_DISABLE_PLUGINS": "coverage"}),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert "unknown grouping strategy 'coverage'" in result.stderr
    assert "provided by recoil-coverage" in result.stderr and "is disabled" in result.stderr
    assert "Traceback" not in result.stderr
