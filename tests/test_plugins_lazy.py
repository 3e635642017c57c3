"""Lazy registrations are verified where it matters: ``plugins list --check`` and strict
mode import every target; a target that cannot import is a clean error when used (exit 7,
naming plugin and distribution), a traceback only with ``--debug``; plain ``plugins list``
imports none of them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from recoil_core.errors import PluginError, UnavailableNameError
from recoil_core.registry import build_registry
from recoil_core.settings import PluginSelection
from recoil_core.testing.distributions import on_sys_path, pythonpath_env, write_distribution
from recoil_core.testing.pytest_plugin import recoil_executable

PLAN = Path(__file__).resolve().parents[1] / "examples" / "ep001" / "plan.json"
RECOIL = recoil_executable()

PLUGIN = """
from recoil_core import hookimpl
from recoil_core.lazy import LazyRunner, LazyStrategy


@hookimpl
def recoil_grouping_strategies():
    return [
        LazyStrategy("lazy_fine", "imports fine", "recoil_test_lazy_impl:Fine"),
        LazyStrategy("lazy_broken", "cannot import", "recoil_test_lazy_missing:Broken"),
    ]


@hookimpl
def recoil_modality_runners():
    return [LazyRunner("lazy_modality", "cannot import", "recoil_test_lazy_missing:Runner")]
"""

IMPL = """
from pathlib import Path

Path({marker!r}).write_text("imported")


class Fine:
    name = "lazy_fine"
    description = "imports fine"

    def assemble(self, shots, ctx):
        from recoil_plugins_grouping.solo import SoloStrategy

        return SoloStrategy().assemble(shots, ctx)
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lazy")
    write_distribution(
        root,
        "recoil-lazy",
        version="2.0.1",
        entry_points={"lazy": "recoil_test_lazy_plugin"},
        modules={
            "recoil_test_lazy_plugin": PLUGIN,
            "recoil_test_lazy_impl": IMPL.format(marker=str(root / "imported")),
        },
    )
    return root


@pytest.fixture(autouse=True)
def _clear_marker(site: Path) -> None:
    (site / "imported").unlink(missing_ok=True)


def run(site: Path, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("RECOIL_")}
    return subprocess.run(
        [RECOIL, *args],
        env=pythonpath_env(site, base={**base, **env}),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def lazy_entry(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    entry: dict[str, Any] = next(e for e in json.loads(result.stdout) if e["name"] == "lazy")
    return entry


def test_plain_list_shows_the_plugin_ok_without_importing_its_targets(
    site: Path, tmp_path: Path
) -> None:
    result = run(site, tmp_path, "plugins", "list", "--json")

    assert result.returncode == 0, result.stderr
    lazy = lazy_entry(result)
    assert lazy["status"] == "ok"
    assert "grouping:lazy_broken" in lazy["provides"]
    assert not (site / "imported").exists()


def test_check_imports_every_target_and_reports_the_failure(site: Path, tmp_path: Path) -> None:
    result = run(site, tmp_path, "plugins", "list", "--check", "--json")

    assert result.returncode == 1
    assert "lazy (failed)" in result.stderr
    lazy = lazy_entry(result)
    assert lazy["status"] == "failed" and lazy["provides"] == []
    assert "grouping strategy 'lazy_broken'" in lazy["error"]
    assert "recoil_test_lazy_missing:Broken" in lazy["error"]
    assert "ModuleNotFoundError" in lazy["error"]
    assert (site / "imported").exists()  # the good target was imported too
    others = [e for e in json.loads(result.stdout) if e["name"] != "lazy"]
    assert {e["status"] for e in others} == {"ok"}  # the real ones all import


@pytest.mark.parametrize("how", ["env", "flag"])
def test_strict_mode_refuses_a_target_that_cannot_import(
    site: Path, tmp_path: Path, how: str
) -> None:
    if how == "env":
        result = run(site, tmp_path, "group", str(PLAN), "-s", "solo", RECOIL_STRICT_PLUGINS="1")
    else:
        result = run(site, tmp_path, "--strict-plugins", "group", str(PLAN), "-s", "solo")

    assert result.returncode == 7
    assert "lazy (failed)" in result.stderr
    assert "recoil_test_lazy_missing:Broken" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["group", "dry-run"])
def test_using_a_target_that_cannot_import_is_a_clean_error(
    site: Path, tmp_path: Path, command: str
) -> None:
    args = ["group", str(PLAN)] if command == "group" else ["run", str(PLAN), "--dry-run"]

    result = run(site, tmp_path, *args, "--strategy", "lazy_broken")

    assert result.returncode == 7
    assert "grouping strategy 'lazy_broken'" in result.stderr
    assert "recoil-lazy 2.0.1 (plugin 'lazy')" in result.stderr
    assert "ModuleNotFoundError: No module named 'recoil_test_lazy_missing'" in result.stderr
    assert "--disable-plugins lazy" in result.stderr
    assert "Traceback" not in result.stderr


def test_debug_shows_the_traceback_of_the_import(site: Path, tmp_path: Path) -> None:
    flag = run(site, tmp_path, "--debug", "group", str(PLAN), "--strategy", "lazy_broken")
    env = run(site, tmp_path, "group", str(PLAN), "--strategy", "lazy_broken", RECOIL_DEBUG="1")

    for result in (flag, env):
        assert result.returncode == 7
        assert "Traceback (most recent call last)" in result.stderr
        assert "ModuleNotFoundError" in result.stderr
        assert result.stderr.rstrip().splitlines()[-1].startswith("error: grouping strategy")


def test_the_good_targets_of_the_plugin_keep_working_without_check(
    site: Path, tmp_path: Path
) -> None:
    result = run(site, tmp_path, "group", str(PLAN), "--strategy", "lazy_fine")

    assert result.returncode == 0, result.stderr
    assert (site / "imported").exists()


def test_a_runner_that_cannot_import_is_a_plugin_error_where_it_is_looked_up(site: Path) -> None:
    with on_sys_path(site):
        registry = build_registry(PluginSelection(load_only=("lazy",)))

        with pytest.raises(PluginError, match=r"recoil-lazy 2\.0\.1 \(plugin 'lazy'\)") as error:
            registry.runner("lazy_modality")
        with pytest.raises(PluginError, match="modality runner 'lazy_modality'"):
            _ = "lazy_modality" in registry.runners  # what preflight asks

    assert error.value.exit_code == 7
    assert isinstance(error.value.__cause__, PluginError)
    assert isinstance(error.value.__cause__.__cause__, ModuleNotFoundError)
    assert registry.host.records["lazy"].status == "ok"  # not verified: not imported


def test_a_name_of_a_plugin_failed_by_verification_says_why_it_is_missing(site: Path) -> None:
    with on_sys_path(site):
        registry = build_registry(PluginSelection(load_only=("lazy", "grouping")), verify=True)

    with pytest.raises(UnavailableNameError) as error:
        registry.strategy("lazy_fine")

    message = str(error.value)
    assert message.startswith("unknown grouping strategy 'lazy_fine'; available: ")
    assert "The plugin 'lazy' (recoil-lazy 2.0.1) registers it but failed" in message
    assert "recoil_test_lazy_missing:Broken" in message
    assert error.value.exit_code == 2
