"""The plan documentation, JSON Schema and example stay in step with the loader."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from recoil_core import plan as plan_module
from recoil_core.plan import load_plan, parse_plan

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "plan-format.md"
SCHEMA = ROOT / "recoil_core" / "schemas" / "plan.schema.json"
EXAMPLE = ROOT / "examples" / "ep001" / "plan.json"
PLAN_BLOCK = re.compile(r"<!-- plan -->\s*```json\n(.*?)```", re.DOTALL)


def doc_plans() -> list[str]:
    return PLAN_BLOCK.findall(DOC.read_text(encoding="utf-8"))


def test_the_doc_has_plan_examples() -> None:
    assert len(doc_plans()) >= 2


@pytest.mark.parametrize("index", range(len(doc_plans())))
def test_every_plan_in_the_doc_is_valid(index: int) -> None:
    plan = parse_plan(json.loads(doc_plans()[index]), source=f"{DOC}#plan{index}")
    assert plan.shots


@pytest.mark.parametrize(
    ("name", "heading"),
    [
        ("TOP_FIELDS", "## Top level"),
        ("DEFAULTS_FIELDS", "## Defaults"),
        ("SEQUENCE_FIELDS", "## Sequences"),
        ("SHOT_FIELDS", "## Shots"),
        ("PASS_FIELDS", "## Coverage passes"),
    ],
)
def test_every_field_the_loader_knows_is_documented(name: str, heading: str) -> None:
    text = DOC.read_text(encoding="utf-8")
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    for field in getattr(plan_module, name):
        assert f"`{field}`" in section, f"{field} is not documented under {heading}"


def _schema() -> dict[str, Any]:
    data = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize(
    ("pointer", "name"),
    [
        ("", "TOP_FIELDS"),
        ("defaults", "DEFAULTS_FIELDS"),
        ("sequence", "SEQUENCE_FIELDS"),
        ("shot", "SHOT_FIELDS"),
        ("frames", "FRAMES_FIELDS"),
        ("coverage_pass", "PASS_FIELDS"),
        ("segment", "SEGMENT_FIELDS"),
        ("entity", "ENTITY_FIELDS"),
    ],
)
def test_the_schema_describes_exactly_the_fields_the_loader_knows(pointer: str, name: str) -> None:
    schema = _schema()
    node = schema["$defs"][pointer] if pointer else schema
    assert set(node["properties"]) == set(getattr(plan_module, name))
    assert node["additionalProperties"] is False
    assert "^x-" in node["patternProperties"]


def test_schema_is_draft_2020_12_with_the_choice_lists_of_the_loader() -> None:
    schema = _schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["required"] == ["sequences"]
    assert schema["$defs"]["aspect_ratio"]["enum"] == list(plan_module.ALLOWED_ASPECT_RATIOS)
    assert schema["$defs"]["resolution"]["enum"] == list(plan_module.ALLOWED_RESOLUTIONS)
    assert schema["$defs"]["duration"]["maximum"] == plan_module.MAX_DURATION_S


def test_the_example_and_doc_plans_validate_against_the_schema() -> None:
    validator = jsonschema.Draft202012Validator(_schema())
    validator.check_schema(_schema())
    for text in [EXAMPLE.read_text(encoding="utf-8"), *doc_plans()]:
        validator.validate(json.loads(text))


def test_the_schema_ships_with_the_package() -> None:
    from importlib.resources import files

    shipped = files("recoil_core").joinpath("schemas/plan.schema.json")
    assert json.loads(shipped.read_text(encoding="utf-8"))["title"] == "Recoil episode plan"


def test_the_example_episode_is_valid() -> None:
    assert len(load_plan(EXAMPLE).shots) >= 12
