"""Declared strategy options: the kernel checks ``--option`` against what a strategy
declares before it runs it, and hands it typed values, through the real CLI and the API."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

import pytest

from recoil_core.errors import OptionError, PluginError
from recoil_core.interfaces import OptionSpec
from recoil_core.options import resolve_options, strategy_option_specs
from recoil_core.runner.planning import derive_groups
from recoil_core.testing._suite.strategies import (
    COMMANDS,
    PLAN_OF_ONE,
    SHOTS,
    Strategy,
    install,
    one_group,
    recoil,
    refused,
    registry_with,
)
from recoil_core.testing.distributions import markdown_blocks
from recoil_core.testing.doubles import make_plugin
from recoil_core.testing.grouping import grouping_context
from recoil_core.testing.harness import RunHarness

TUNED = '''
"""recoil-tuned: a strategy with declared options, and one that declares none."""

from recoil_core import hookimpl
from recoil_core.interfaces import OptionSpec
from recoil_core.model import Group, GroupIdentity, RenderUnit, Segment


class Tuned:
    name = "tuned"
    description = "shots in chunks; scene ids show the option values and their types"
    options = [
        OptionSpec("per_scene", int, 2, "shots per scene"),
        OptionSpec("label", str, "T", "scene id prefix"),
        OptionSpec("ratio", float, 1.0, "unused; its type shows in the scene id"),
        OptionSpec("verbose", bool, False, "shown in the scene id"),
    ]

    def assemble(self, shots, ctx):
        o = ctx.options
        kinds = "_".join(type(o[k]).__name__ for k in ("per_scene", "label", "ratio", "verbose"))
        ordered = sorted(shots, key=lambda s: s.order)
        chunks = [ordered[i : i + o["per_scene"]] for i in range(0, len(ordered), o["per_scene"])]
        groups = []
        for n, chunk in enumerate(chunks, start=1):
            scene_id = f"{o['label']}_{o['per_scene']}_{o['verbose']}_{kinds}_{n}"
            identity = GroupIdentity(self.name, n, [s.shot_id for s in chunk])
            segments = [Segment(s.shot_id, s.duration_s, s.prompt, s.shot_type) for s in chunk]
            modality = "r2v_multi" if len(chunk) > 1 else "video_i2v"
            unit = RenderUnit(scene_id, identity, modality, segments)
            groups.append(Group(scene_id, identity, [unit]))
        return groups


class Bare:
    name = "bare"
    description = "declares no options; must not be called when given one"

    def assemble(self, shots, ctx):
        raise RuntimeError("called with options it does not take")


@hookimpl
def recoil_grouping_strategies():
    return [Tuned(), Bare()]
'''


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("tuned")
    install(work, "recoil-tuned", "0.3.0", "tuned", TUNED)
    return work


def scene_ids(command: str, result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    rows = data["units"] if command == "group" else data["planned"]
    return [row["scene_id"] for row in rows]


# --------------------------------------------------------------------------- the real CLI


@pytest.mark.parametrize("command", COMMANDS)
def test_declared_options_reach_a_third_party_strategy_typed_with_defaults(
    work: Path, command: str
) -> None:
    result = recoil(
        work,
        command,
        *("--strategy", "tuned", "--option", "per_scene=3", "--option", "label=W"),
        *("--option", "verbose=yes"),
    )
    kinds = "int_str_float_bool"  # ratio was not given: its default, as a float
    assert scene_ids(command, result) == [f"W_3_True_{kinds}_1", f"W_3_True_{kinds}_2"]


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unknown_option_exits_2_naming_the_options_the_strategy_knows(
    work: Path, command: str
) -> None:
    result = recoil(work, command, "--strategy", "tuned", "--option", "per_scenes=3")
    refused(
        result,
        2,
        "grouping strategy 'tuned': unknown option 'per_scenes' (did you mean 'per_scene'?); "
        "known options: label (str, default 'T'), per_scene (int, default 2), "
        "ratio (float, default 1.0), verbose (bool, default False)",
    )


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("per_scene=two", "option per_scene='two' is not a whole number (int)"),
        ("ratio=nan", "option ratio='nan' is not a finite number (float)"),
        ("verbose=maybe", "option verbose='maybe' is not true or false (bool)"),
    ],
)
def test_a_value_of_the_wrong_type_exits_2_naming_option_value_and_type(
    work: Path, command: str, option: str, message: str
) -> None:
    result = recoil(work, command, "--strategy", "tuned", "--option", option)
    refused(result, 2, f"grouping strategy 'tuned': {message}")


@pytest.mark.parametrize("command", COMMANDS)
def test_an_option_for_a_strategy_that_declares_none_is_refused_before_it_runs(
    work: Path, command: str
) -> None:
    result = recoil(work, command, "--strategy", "bare", "--option", "x=1")
    refused(result, 2, "grouping strategy 'bare': unknown option 'x'; it takes no options")


# --------------------------------------------------------------------------- in process

SPECS = [
    OptionSpec("count", int, 2),
    OptionSpec("ratio", float, 1),
    OptionSpec("flag", bool, False),
    OptionSpec("label", str),
]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({}, {"count": 2, "ratio": 1.0, "flag": False, "label": None}),
        ({"count": "3.0", "ratio": "2", "flag": "ON", "label": " x "}, {"count": 3, "ratio": 2.0}),
        ({"count": 3.0, "ratio": 5, "flag": True, "label": "x"}, {"count": 3, "ratio": 5.0}),
        ({"flag": "0"}, {"flag": False}),
        ({"count": "1_000"}, {"count": 1000}),
    ],
)
def test_values_are_converted_to_the_declared_type(
    given: dict[str, Any], expected: dict[str, Any]
) -> None:
    values = resolve_options("strategy 's'", SPECS, given)
    for name, value in expected.items():
        assert values[name] == value and type(values[name]) is type(value), (name, values)
    assert set(values) == {"count", "ratio", "flag", "label"}


@pytest.mark.parametrize(
    "given",
    [
        {"count": "2.5"},
        {"count": True},
        {"count": "inf"},
        {"ratio": "1e400"},
        {"ratio": 10**400},
        {"ratio": math.nan},
        {"ratio": "-infinity"},
        {"ratio": False},
        {"flag": 1},
        {"flag": "y"},
        {"label": 3},
        {"label": None},
    ],
)
def test_values_not_of_the_declared_type_are_refused(given: dict[str, Any]) -> None:
    [(name, value)] = given.items()
    with pytest.raises(OptionError, match=f"option {name}={value!r} is not ") as info:
        resolve_options("strategy 's'", SPECS, given)
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"count": OptionSpec("count", int)}, "options must be a list of OptionSpec, not dict"),
        ("count", "options must be a list of OptionSpec, not str"),
        ([("count", int)], "options[0] is a tuple, not an OptionSpec"),
        ([OptionSpec("count", int), OptionSpec("count", str)], "option count is declared twice"),
        ([OptionSpec("count", list)], "option count has type <class 'list'>"),
        ([OptionSpec("max-shots", int)], "option name 'max-shots' is not a plain identifier"),
        ([OptionSpec("count", int, "two")], "option count has default 'two', which is not"),
    ],
)
def test_a_malformed_declaration_is_a_plugin_error_naming_the_strategy(
    options: Any, problem: str
) -> None:
    strategy = Strategy("bad", options)
    with pytest.raises(PluginError, match="grouping strategy 'bad': ") as info:
        derive_groups(PLAN_OF_ONE, strategy, registry=registry_with(strategy))
    assert problem in str(info.value)
    assert info.value.exit_code == 7
    assert not strategy.seen


def test_a_strategy_without_options_takes_none_and_gets_an_empty_mapping() -> None:
    strategy = Strategy("plain", assemble=one_group)
    assert strategy_option_specs(strategy) == ()
    assert [g.scene_id for g in derive_groups(PLAN_OF_ONE, strategy)] == ["S_001"]
    assert dict(strategy.seen[0].options) == {}


def test_the_runner_api_checks_options_as_the_cli_does(tmp_path: Path) -> None:
    strategy = Strategy("tuned", [OptionSpec("per_scene", int, 2)], assemble=one_group)
    harness = RunHarness(tmp_path, extra_plugins=[("mine", make_plugin(strategies=[strategy]))])
    plan = grouping_context(SHOTS).plan

    with pytest.raises(OptionError, match="unknown option 'bogus'; known options: per_scene"):
        harness.runner(plan, strategy="tuned", strategy_options={"bogus": 1}).derive()
    assert not strategy.seen

    harness.runner(plan, strategy="tuned", strategy_options={"per_scene": "3"}).derive()
    assert dict(strategy.seen[-1].options) == {"per_scene": 3}


def test_the_guides_options_example_declares_what_its_message_shows() -> None:
    guide = Path(__file__).resolve().parents[1] / "docs" / "writing-a-grouping-strategy.md"
    text = guide.read_text(encoding="utf-8")
    [block] = [b for b in markdown_blocks(text, "python") if "OptionSpec(" in b]
    namespace: dict[str, Any] = {}
    exec(compile(block, str(guide), "exec"), namespace)
    shown = text.split("`--option max_shot=3` stops with `error: ", 1)[1].split("`")[0]
    with pytest.raises(OptionError) as info:
        derive_groups(PLAN_OF_ONE, namespace["ByCharacter"](), options={"max_shot": "3"})
    assert str(info.value) == " ".join(shown.split())
