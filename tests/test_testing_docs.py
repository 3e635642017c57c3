"""``recoil_core.testing`` is documented: every public fixture and helper has a docstring
and an example in docs/testing-plugins.md, and those examples pass as written.

The doc's ``# tests/...`` blocks are written into an empty directory and run by pytest in
a subprocess, with recoil-core's pytest plugin loaded from its entry point, as a plugin
author's test suite would be.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

import recoil_core.testing
from recoil_core.testing.distributions import (
    markdown_blocks,
    markdown_files,
    run_with_distributions,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "testing-plugins.md"
MODULES = [
    importlib.import_module(f"recoil_core.testing.{info.name}")
    for info in pkgutil.iter_modules(recoil_core.testing.__path__)
]


def public_names(module: ModuleType) -> list[str]:
    """What a module offers: its ``__all__``."""
    names = getattr(module, "__all__", None)
    assert names is not None, f"{module.__name__} has no __all__"
    return list(names)


def helpers() -> list[tuple[str, str]]:
    """``(module, name)`` of every public function, class and fixture of recoil_core.testing."""
    found = []
    for module in MODULES:
        for name in public_names(module):
            value = getattr(module, name)
            if callable(value) and (
                inspect.isclass(value)
                or inspect.isfunction(value)
                or hasattr(value, "__wrapped__")
                or type(value).__name__ == "FixtureFunctionDefinition"
            ):
                found.append((module.__name__, name))
    return found


def example_files() -> dict[str, str]:
    return {
        path: source
        for path, source in markdown_files(DOC.read_text()).items()
        if path.startswith("tests/")
    }


def test_every_testing_module_declares_what_it_offers() -> None:
    assert [m.__name__ for m in MODULES if not hasattr(m, "__all__")] == []


@pytest.mark.parametrize(("module", "name"), helpers())
def test_each_helper_and_fixture_has_a_docstring(module: str, name: str) -> None:
    value = getattr(importlib.import_module(module), name)
    doc = value.__dict__.get("__doc__") if inspect.isclass(value) else value.__doc__

    assert doc and doc.strip(), f"{module}.{name} has no docstring"
    if inspect.isclass(value):
        for member_name, member in vars(value).items():
            if member_name.startswith(("_", "test_")):
                continue
            function = member.fget if isinstance(member, property) else member
            function = getattr(function, "__func__", function)
            if callable(function) or isinstance(member, property):
                assert getattr(function, "__doc__", None), f"{name}.{member_name}: no docstring"


@pytest.mark.parametrize(("module", "name"), helpers())
def test_each_helper_and_fixture_has_an_example(module: str, name: str) -> None:
    code = "\n".join(example_files().values())

    assert re.search(rf"\b{re.escape(name)}\b", code), f"{module}.{name}: no example"


def test_the_examples_use_only_the_public_api_and_the_testing_helpers() -> None:
    allowed = ("recoil_core.api", "recoil_core.testing")
    for path, source in example_files().items():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("recoil_core"):
                assert (node.module or "").startswith(allowed), f"{path}: {node.module}"


def test_the_doc_shows_only_complete_files() -> None:
    python_blocks = markdown_blocks(DOC.read_text(), "python")

    assert len(python_blocks) == len(example_files())


def test_the_examples_pass(tmp_path: Path) -> None:
    for path, source in example_files().items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(source, encoding="utf-8")
    tests = [path for path in example_files() if Path(path).name.startswith("test_")]

    result = run_with_distributions(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=tmp_path,
        timeout=600,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    counts = outcome_counts(result.stdout)
    assert counts.get("passed", 0) > len(tests), result.stdout
    assert not BAD_OUTCOMES & set(counts), result.stdout


BAD_OUTCOMES = {"failed", "error", "errors", "xpassed"}
"""Outcomes in pytest's summary line that fail the examples (test names may say "failed")."""


def outcome_counts(output: str) -> dict[str, int]:
    """The counts of pytest's closing summary line: ``{"passed": 61, "skipped": 10}`` for
    ``61 passed, 10 skipped in 21.45s`` (with or without the ``=`` rule around it)."""
    last = output.strip().splitlines()[-1].strip("= ")
    summary = re.fullmatch(r"(.+?) in [\d.]+s(?: \([^)]*\))?", last)
    assert summary, f"no pytest summary line at the end of the output: {last!r}"
    return {word: int(count) for count, word in re.findall(r"(\d+) (\w+)", summary.group(1))}


def test_the_outcomes_come_from_the_summary_line_not_from_test_names() -> None:
    output = (
        "PASSED tests/test_p.py::test_a_failed_job_is_charged_what_was_billed\n"
        "SKIPPED [1] tests/test_p.py:9: no error knob\n"
        "4 passed, 1 skipped, 2 warnings in 0.52s\n"
    )

    assert outcome_counts(output) == {"passed": 4, "skipped": 1, "warnings": 2}
    assert outcome_counts("===== 1 failed, 3 passed in 61.02s (0:01:01) =====") == {
        "failed": 1,
        "passed": 3,
    }
    assert outcome_counts("1 error in 0.10s") == {"error": 1}
