"""The registry goes through pluggy, so what pluggy allows works: ``specname``,
``tryfirst``/``trylast`` ordering, implementations that take fewer arguments than the
spec, ``optionalhook``. Real throwaway distributions with real entry points.

``a-first`` (tryfirst), ``m-middle`` (no mark) and ``z-last`` (trylast) register in that
order, so pluggy's default order (last registered first) would be the reverse; their gate
names sort the opposite way (``zz-first``, ``mm-middle``, ``aa-last``), so neither
alphabetical nor registration order can pass for the marked one.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recoil_core.interfaces import SceneEvent, TakeEvent
from recoil_core.model import Take, TakeState, Workflow
from recoil_core.registry import Registry, build_registry
from recoil_core.settings import PluginSelection
from recoil_core.testing.distributions import on_sys_path, pythonpath_env, write_distribution
from recoil_core.testing.pytest_plugin import recoil_executable

PLAN = Path(__file__).resolve().parents[1] / "examples" / "ep001" / "plan.json"
RECOIL = recoil_executable()
OURS = ("a-first", "m-middle", "z-last", "wrapper", "optional")

HEADER = """
from recoil_core import hookimpl
from recoil_core.interfaces import PreflightGate
from recoil_test_calls import CALLS


def refuse(name):
    return PreflightGate(name=name, check=lambda ctx: [f"{name} refuses"])
"""

FIRST = (
    HEADER
    + """

@hookimpl(tryfirst=True, specname="recoil_preflight_gates")
def gates_checked_first():
    return [refuse("zz-first")]


@hookimpl(tryfirst=True)
def recoil_on_take_event(event):
    CALLS.append(("first", event.take.take_id))


@hookimpl(specname="recoil_on_scene_event")
def scenes_seen(event):
    CALLS.append(("scene-by-specname", event.kind))
"""
)
MIDDLE = (
    HEADER
    + """

@hookimpl
def recoil_preflight_gates():
    return [refuse("mm-middle")]


@hookimpl
def recoil_on_take_event():
    CALLS.append(("middle, no arguments",))
"""
)
LAST = (
    HEADER
    + """

@hookimpl(trylast=True)
def recoil_preflight_gates():
    return [refuse("aa-last")]


@hookimpl(trylast=True)
def recoil_on_take_event(event):
    CALLS.append(("last", event.take.take_id))
"""
)
WRAPPER = """
from recoil_core import hookimpl


@hookimpl(wrapper=True)
def recoil_on_take_event(event):
    return (yield)
"""
OPTIONAL = """
from recoil_core import hookimpl


@hookimpl(optionalhook=True)
def recoil_on_some_future_event(event):
    pass


@hookimpl
def recoil_on_scene_event(event):
    pass
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pluggy")
    (root / "recoil_test_calls.py").write_text("CALLS = []\n", encoding="utf-8")
    for plugin, source in (
        ("a-first", FIRST),
        ("m-middle", MIDDLE),
        ("z-last", LAST),
        ("wrapper", WRAPPER),
        ("optional", OPTIONAL),
    ):
        module = "recoil_test_" + plugin.replace("-", "_")
        write_distribution(
            root, f"recoil-{plugin}", entry_points={plugin: module}, modules={module: source}
        )
    return root


@pytest.fixture
def registry(site: Path) -> Iterator[tuple[Registry, list[Any]]]:
    with on_sys_path(site):
        built = build_registry(PluginSelection(load_only=OURS))
        from recoil_test_calls import CALLS  # type: ignore[import-not-found]

        CALLS.clear()
        yield built, CALLS


def take_event() -> TakeEvent:
    take = Take(
        take_id="t1", index=1, workflow=Workflow(workflow_id="w1"), state=TakeState.RESERVED
    )
    return TakeEvent("proj", "EP001", "BATCH_001", "EP001_SH01", take, previous_state="planned")


def test_gates_come_in_pluggy_order_including_one_registered_by_specname(
    registry: tuple[Registry, list[Any]],
) -> None:
    built, _ = registry

    assert [gate.name for gate in built.gates] == ["zz-first", "mm-middle", "aa-last"]
    first = built.host.records["a-first"]
    assert first.status == "ok"
    assert "gate:zz-first" in first.provides
    assert "recoil_preflight_gates" in first.hooks


def test_observers_are_called_in_order_with_the_arguments_they_declare(
    registry: tuple[Registry, list[Any]],
) -> None:
    built, calls = registry

    built.notify_take(take_event())
    built.notify_scene(SceneEvent("proj", "EP001", "BATCH_001", "created", version=1))

    assert calls == [
        ("first", "t1"),
        ("middle, no arguments",),
        ("last", "t1"),
        ("scene-by-specname", "created"),
    ]
    assert built.host.records["a-first"].provides == [
        "gate:zz-first",
        "observer:scene",
        "observer:take",
    ]


def test_a_hook_wrapper_is_refused_and_an_optional_hook_is_allowed(
    registry: tuple[Registry, list[Any]],
) -> None:
    built, _ = registry

    wrapper, optional = built.host.records["wrapper"], built.host.records["optional"]
    assert wrapper.status == "failed"
    assert "recoil_on_take_event as a hook wrapper" in (wrapper.error or "")
    assert (optional.status, optional.provides) == ("ok", ["observer:scene"])


def test_a_run_is_refused_by_every_gate_in_order(site: Path, tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("RECOIL_")}
    env = pythonpath_env(site, base=base)
    result = subprocess.run(
        [RECOIL, "run", str(PLAN), "--dry-run", "--strategy", "solo"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 8, result.stderr
    refusals = [line.strip() for line in result.stderr.splitlines() if "refuses" in line]
    assert refusals == [
        "- zz-first: zz-first refuses",
        "- mm-middle: mm-middle refuses",
        "- aa-last: aa-last refuses",
    ]
