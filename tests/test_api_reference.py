"""docs/api.md, the reference page of ``recoil_core.api``, is generated from the code and
kept in step with it: every exported name, the fields of every value type with their
types and docstrings, the states of ``JobStatus``, the members of the enums and what each
context carries.
"""

from __future__ import annotations

import re
import subprocess
import sys
import typing
from pathlib import Path

import attrs
import pytest

from recoil_core import _apidoc, api

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"
REGENERATE = "python -m recoil_core.api --markdown > docs/api.md"


def sections() -> dict[str, str]:
    """The text under each ``### name`` heading of docs/api.md, by name."""
    parts = re.split(r"^### (\S+)\n", DOC.read_text(encoding="utf-8"), flags=re.MULTILINE)
    pairs = zip(parts[1::2], parts[2::2], strict=True)
    return {name: body.split("\n## ", 1)[0] for name, body in pairs}


def test_the_page_is_what_the_generator_prints_now() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "recoil_core.api", "--markdown"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout

    assert printed == DOC.read_text(encoding="utf-8"), f"docs/api.md is stale: run `{REGENERATE}`"


def test_every_exported_name_has_a_section() -> None:
    assert sorted(sections()) == api.__all__


def test_the_generator_refuses_an_export_no_section_places(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    without = tuple(
        (title, intro, tuple(name for name in names if name != "render_name"))
        for title, intro, names in _apidoc.SECTIONS
    )
    monkeypatch.setattr(_apidoc, "SECTIONS", without)

    with pytest.raises(ValueError, match=r"missing \['render_name'\]"):
        _apidoc.check_sections()


@pytest.mark.parametrize("name", [name for name in api.__all__ if attrs.has(getattr(api, name))])
def test_each_value_type_lists_its_fields_with_their_types(name: str) -> None:
    section = sections()[name]
    cls = getattr(api, name)

    for field in attrs.fields(cls):
        if field.init:
            shown = field.alias if field.alias != field.name else field.name
            assert re.search(rf"^\| `{shown}`[^|]*\| `[^`]+` \|", section, re.MULTILINE), shown


def test_field_docstrings_from_the_source_are_shown() -> None:
    assert "Seconds, more than 0 and at most 60." in sections()["CanonicalShot"]
    assert "Model names served; empty means any model." in sections()["ProviderSpec"]


def test_job_status_lists_every_state_and_which_are_final() -> None:
    section = sections()["JobStatus"]
    final = api.FINAL_JOB_STATES

    for state in typing.get_args(api.JobStateName):
        assert f"| `{state!r}` | {'yes' if state in final else 'no'} |" in section


@pytest.mark.parametrize("name", ["StepState", "TakeState", "Downstream", "ChargeKind"])
def test_each_enum_lists_its_members(name: str) -> None:
    section = sections()[name]

    for member in getattr(api, name):
        assert f"| `{member.name}` | `{member.value!r}` |" in section


@pytest.mark.parametrize(
    "name",
    ["GroupingContext", "BuildContext", "ProviderContext", "BackendContext", "PreflightContext"],
)
def test_each_context_says_what_every_field_carries(name: str) -> None:
    rows = [line for line in sections()[name].splitlines() if line.startswith("| `")]

    assert rows
    assert all(not row.rstrip().endswith("|  |") for row in rows), rows
