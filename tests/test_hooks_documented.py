"""Every hookspec is documented (summary line, every parameter) and mentioned by some test."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from recoil_core import hookspecs

TESTS = Path(__file__).parent


def _hookspecs() -> list[tuple[str, Callable[..., Any]]]:
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return sorted(
        (name, fn) for name, fn in vars(hookspecs).items() if callable(fn) and hasattr(fn, marker)
    )


HOOKS = _hookspecs()


def test_there_are_hookspecs() -> None:
    assert len(HOOKS) >= 8


@pytest.mark.parametrize(("name", "spec"), HOOKS, ids=[name for name, _ in HOOKS])
def test_hookspec_has_a_summary_line(name: str, spec: Callable[..., Any]) -> None:
    doc = inspect.getdoc(spec) or ""
    lines = doc.splitlines()

    assert lines and lines[0].strip(), f"{name} has no docstring"
    assert len(lines) == 1 or not lines[1].strip(), f"{name}: summary must be one line"


@pytest.mark.parametrize(("name", "spec"), HOOKS, ids=[name for name, _ in HOOKS])
def test_hookspec_documents_every_parameter(name: str, spec: Callable[..., Any]) -> None:
    doc = inspect.getdoc(spec) or ""

    for param in inspect.signature(spec).parameters:
        assert f":param {param}:" in doc, f"{name}: parameter {param!r} is undocumented"


@pytest.mark.parametrize(("name", "spec"), HOOKS, ids=[name for name, _ in HOOKS])
def test_hookspec_is_exercised_by_some_test(name: str, spec: Callable[..., Any]) -> None:
    mentions = [
        path.name
        for path in TESTS.rglob("*.py")
        if path.name != Path(__file__).name and name in path.read_text(encoding="utf-8")
    ]

    assert mentions, f"no test under tests/ mentions {name}"
