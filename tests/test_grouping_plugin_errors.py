"""What escapes a third-party strategy's code becomes a clean error naming the plugin and
its distribution (exit 7), through the real CLI and the API; never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from recoil_core.errors import OptionError, PlanError, PluginCodeError
from recoil_core.model import Group
from recoil_core.runner.planning import derive_groups
from recoil_core.testing._suite.strategies import (
    COMMANDS,
    PLAN_OF_ONE,
    SHOTS,
    Strategy,
    install,
    recoil,
    refused,
    registry_with,
)
from recoil_core.testing.doubles import make_plugin
from recoil_core.testing.grouping import grouping_context
from recoil_core.testing.harness import RunHarness

FRAGILE = '''
"""recoil-fragile: a strategy that raises ValueError, as a buggy one might."""

from recoil_core import hookimpl


class Exploding:
    name = "exploding"
    description = "raises ValueError"

    def assemble(self, shots, ctx):
        raise ValueError(f"cannot group {shots[0].shot_id}")


@hookimpl
def recoil_grouping_strategies():
    return [Exploding()]
'''


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("fragile")
    install(work, "recoil-fragile", "0.2.0", "fragile", FRAGILE)
    return work


@pytest.mark.parametrize("command", COMMANDS)
def test_a_strategy_raising_value_error_is_a_clean_error_naming_plugin_and_distribution(
    work: Path, command: str
) -> None:
    result = recoil(work, command, "--strategy", "exploding")
    refused(
        result,
        7,
        "grouping strategy 'exploding' (plugin 'fragile' of recoil-fragile 0.2.0) raised "
        "ValueError: cannot group EP001_SH01. That is a bug in the plugin, not in Recoil: "
        "report it to the plugin's authors; meanwhile choose another strategy",
    )
    assert json.loads(result.stdout)["error"] == "PluginCodeError"


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (KeyError("max_shots"), "raised KeyError: 'max_shots'."),
        (ZeroDivisionError(), "raised ZeroDivisionError."),
    ],
)
def test_any_exception_escaping_a_strategy_is_a_plugin_code_error_keeping_its_cause(
    error: Exception, shown: str
) -> None:
    def fail(shots: Any, ctx: Any) -> list[Group]:
        raise error

    strategy = Strategy("broken", assemble=fail)
    with pytest.raises(PluginCodeError) as info:
        derive_groups(PLAN_OF_ONE, strategy, registry=registry_with(strategy))
    assert f"grouping strategy 'broken' (plugin 'mine') {shown}" in str(info.value)
    assert info.value.__cause__ is error
    assert info.value.exit_code == 7


@pytest.mark.parametrize(
    "error", [OptionError("option n=3 must be even"), PlanError("plan.json", [])]
)
def test_a_recoil_error_raised_by_a_strategy_passes_unchanged(error: Exception) -> None:
    def refuse(shots: Any, ctx: Any) -> list[Group]:
        raise error

    with pytest.raises(type(error)) as info:
        derive_groups(PLAN_OF_ONE, Strategy("picky", assemble=refuse))
    assert info.value is error


@pytest.mark.parametrize(
    ("result", "shown"),
    [
        (None, "returned a NoneType, not a list of Group"),
        (["S_001"], "returned a list holding str, not a list of Group"),
    ],
)
def test_a_strategy_returning_something_else_than_groups_is_a_plugin_code_error(
    result: Any, shown: str
) -> None:
    strategy = Strategy("sloppy", assemble=lambda shots, ctx: result)
    with pytest.raises(PluginCodeError, match=f"grouping strategy 'sloppy' {shown}"):
        derive_groups(PLAN_OF_ONE, strategy)


def test_the_runner_api_names_the_plugin_of_a_failing_strategy(tmp_path: Path) -> None:
    def fail(shots: Any, ctx: Any) -> list[Group]:
        raise ValueError("boom")

    plugins = [("mine", make_plugin(strategies=[Strategy("broken", assemble=fail)]))]
    harness = RunHarness(tmp_path, extra_plugins=plugins)
    plan = grouping_context(SHOTS).plan
    with pytest.raises(PluginCodeError, match=r"'broken' \(plugin 'mine'\) raised ValueError"):
        harness.runner(plan, strategy="broken").derive()
