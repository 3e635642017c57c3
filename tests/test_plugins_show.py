"""``recoil plugins show NAME``: one plugin's distribution, status, what it registered, and
the options its grouping strategies declare. Real throwaway distributions."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from recoil_core.testing.distributions import pythonpath_env, write_distribution
from recoil_core.testing.pytest_plugin import recoil_executable

PLUGIN = """
from recoil_core import hookimpl
from recoil_core.interfaces import OptionSpec, PreflightGate
from recoil_core.lazy import LazyStrategy


class Eager:
    name = "eager"
    description = "registered as an object, options as an attribute"
    options = (OptionSpec("ratio", float, None, ""),)

    def assemble(self, shots, ctx):
        return []


@hookimpl
def recoil_grouping_strategies():
    return [
        LazyStrategy(
            "declared",
            "lazy, options declared on the registration",
            "recoil_test_show_impl:Plain",
            options=[OptionSpec("max_shots", int, 4, "most shots in one clip")],
        ),
        LazyStrategy("from_class", "lazy, options of its class", "recoil_test_show_impl:Moody"),
        Eager(),
    ]


@hookimpl
def recoil_preflight_gates():
    return [PreflightGate(name="showme-gate", check=lambda ctx: [], description="checks")]
"""

IMPL = """
from recoil_core.interfaces import OptionSpec


class Plain:
    def assemble(self, shots, ctx):
        return []


class Moody(Plain):
    options = (OptionSpec("mood", str, "calm", "how the clip feels"),)
"""

BROKEN = """
from recoil_core import hookimpl
from recoil_core.lazy import LazyStrategy


@hookimpl
def recoil_grouping_strategies():
    return [LazyStrategy("gone", "cannot import", "recoil_test_show_missing:Gone")]
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("show")
    write_distribution(
        root,
        "recoil-showme",
        version="3.1.4",
        entry_points={"showme": "recoil_test_show_plugin"},
        modules={"recoil_test_show_plugin": PLUGIN, "recoil_test_show_impl": IMPL},
        requires=["recoil-core<0.2,>=0.1"],
    )
    write_distribution(
        root,
        "recoil-showbroken",
        entry_points={"showbroken": "recoil_test_show_broken"},
        modules={"recoil_test_show_broken": BROKEN},
    )
    return root


def show(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("RECOIL_")}
    return subprocess.run(
        [recoil_executable(), "plugins", "show", *args],
        env=pythonpath_env(site, base=base),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_show_prints_distribution_status_provides_and_options(site: Path) -> None:
    result = show(site, "showme")

    assert result.returncode == 0, result.stderr
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert "distribution: recoil-showme 3.1.4" in lines
    assert "requires:     recoil-core >=0.1,<0.2" in lines
    assert "status:       ok" in lines
    assert "  grouping:declared  lazy, options declared on the registration" in lines
    assert "    --option max_shots=<int>  default 4" in lines
    assert "        most shots in one clip" in lines
    assert "    --option mood=<str>  default calm" in lines
    assert "    --option ratio=<float>  no default" in lines
    assert "  gate:showme-gate  checks" in lines


def test_show_json_lists_each_name_with_its_options(site: Path) -> None:
    result = show(site, "grouping:from_class", "--json")  # a provided name finds its plugin

    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["name"], data["distribution"], data["status"]) == ("showme", "recoil-showme", "ok")
    provides: dict[str, Any] = {item["name"]: item for item in data["provides"]}
    assert list(provides) == [
        "gate:showme-gate",
        "grouping:declared",
        "grouping:eager",
        "grouping:from_class",
    ]
    assert provides["grouping:from_class"]["options"] == [
        {"name": "mood", "type": "str", "default": "calm", "help": "how the clip feels"}
    ]
    assert provides["grouping:declared"]["state"] == "owned"
    assert "options" not in provides["gate:showme-gate"]


def test_show_checks_lazy_registrations_of_the_plugin(site: Path) -> None:
    result = show(site, "showbroken")

    assert result.returncode == 0, result.stderr
    assert "status:       failed" in result.stdout
    assert "cannot load 'recoil_test_show_missing:Gone'" in result.stdout
    assert "  grouping:gone" in result.stdout


def test_show_an_unknown_plugin_is_a_clear_error(site: Path) -> None:
    result = show(site, "nope")

    assert result.returncode == 2
    assert "unknown plugin 'nope'; available:" in result.stderr and "showme" in result.stderr
    assert "Traceback" not in result.stderr
