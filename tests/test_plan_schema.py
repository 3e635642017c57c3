"""The JSON Schema (recoil_core/schemas/plan.schema.json) and the plan loader agree.

The loader reads the schema's field names, choice lists and limits; these tests check
the rest of the rules too: every example plan passes both, and a table of broken plans
(each object's fields set to values of every JSON type, required fields dropped, unknown
fields added) is refused by both or accepted by both.

Where the loader is deliberately stricter than a schema can be, the tests only ask that
what the schema refuses the loader refuses as well: references (a shot range, a segment's
shot, a declared location or character), frame files that must exist, and shot ids that
passes refer to. Two more differences are by design and not generated here: the loader
reads ``null`` as "left out" for every optional field, and refuses whole-number floats
(``5.0``) where a whole number is asked for.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from recoil_core.errors import PlanError
from recoil_core.plan import load_plan, parse_plan

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "recoil_core/schemas/plan.schema.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
DOC = ROOT / "docs" / "plan-format.md"
EXAMPLES = sorted((ROOT / "examples").rglob("*plan*.json"))

BASE: dict[str, Any] = {
    "schema_version": 1,
    "project": "studio",
    "episode": "EP001",
    "title": "The courier",
    "defaults": {"duration_s": 4},
    "characters": {"KAI": {"name": "Kai", "description": "the courier"}},
    "sequences": {
        "SEQ01": {
            "location": "LOC_A",
            "description": "the square",
            "shots": [
                {"shot_id": "EP001_SH01", "duration_s": 3, "prompt": "wide", "frames": {}},
                {"shot_id": "EP001_SH02"},
            ],
        }
    },
    "coverage_passes": [
        {
            "pass_id": "EP001_PASS_001_A",
            "shot_range": ["EP001_SH01", "EP001_SH02"],
            "segments": [{"shot_id": "EP001_SH01"}, {"shot_id": "wildcard"}],
        }
    ],
}
"""A valid plan holding one object of every kind the schema describes."""

OBJECTS: dict[str, tuple[str | int, ...]] = {
    "": (),
    "defaults": ("defaults",),
    "entity": ("characters", "KAI"),
    "sequence": ("sequences", "SEQ01"),
    "shot": ("sequences", "SEQ01", "shots", 0),
    "frames": ("sequences", "SEQ01", "shots", 0, "frames"),
    "coverage_pass": ("coverage_passes", 0),
    "segment": ("coverage_passes", 0, "segments", 0),
}
"""Each schema object (``$defs`` name; ``""`` is the top) and where BASE holds one."""

VALUES: tuple[object, ...] = (
    0,
    7,
    -1,
    2.5,
    1e300,
    True,
    "",
    "KAI",
    "a b",
    "9" * 9000,
    [],
    ["KAI"],
    ["KAI", "KAI"],
    [7],
    {},
    {"KAI": 1},
    {"name": "x"},
)
"""What every field is set to in turn: each JSON type, in and out of the usual limits."""

LOADER_STRICTER = {
    ("", "locations"),  # declaring locations makes every shot's location a checked reference
    ("", "characters"),
    ("shot", "shot_id"),  # the coverage pass refers to it
    ("coverage_pass", "shot_range"),
    ("segment", "shot_id"),
    ("frames", "first_frame"),  # the file must exist
    ("frames", "last_frame"),
    ("frames", "references"),
    ("entity", "reference_images"),  # the files must exist
}


def node(kind: str) -> dict[str, Any]:
    return SCHEMA if kind == "" else SCHEMA["$defs"][kind]


def mutated(kind: str, change: Any) -> dict[str, Any]:
    plan = copy.deepcopy(BASE)
    target: Any = plan
    for step in OBJECTS[kind]:
        target = target[step]
    change(target)
    return plan


def schema_accepts(plan: object) -> bool:
    return VALIDATOR.is_valid(plan)


def loader_accepts(plan: object, base_dir: Path) -> bool:
    try:
        parse_plan(plan, base_dir=base_dir)
    except PlanError:
        return False
    return True


def doc_plans() -> list[str]:
    return re.findall(r"<!-- plan -->\s*```json\n(.*?)```", DOC.read_text("utf-8"), re.DOTALL)


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_the_base_plan_passes_both() -> None:
    assert schema_accepts(BASE)
    assert loader_accepts(BASE, ROOT)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_plan_passes_the_schema_and_the_loader(path: Path) -> None:
    VALIDATOR.validate(json.loads(path.read_text(encoding="utf-8")))
    assert load_plan(path).shots


@pytest.mark.parametrize("index", range(len(doc_plans())))
def test_every_plan_in_the_doc_passes_the_schema_and_the_loader(index: int) -> None:
    data = json.loads(doc_plans()[index])
    VALIDATOR.validate(data)
    assert parse_plan(data, base_dir=DOC.parent).shots


def test_there_are_example_plans() -> None:
    assert EXAMPLES
    assert len(doc_plans()) >= 2


FIELDS = [(kind, field) for kind in OBJECTS for field in node(kind)["properties"]]


@pytest.mark.parametrize(("kind", "field"), FIELDS)
def test_a_field_set_to_any_value_gets_the_same_verdict(
    kind: str, field: str, tmp_path: Path
) -> None:
    disagreements = []
    for value in VALUES:
        plan = mutated(kind, lambda target, v=value: target.__setitem__(field, copy.deepcopy(v)))
        by_schema, by_loader = schema_accepts(plan), loader_accepts(plan, tmp_path)
        if (kind, field) in LOADER_STRICTER:
            agree = by_loader <= by_schema  # what the schema refuses, the loader refuses
        else:
            agree = by_schema == by_loader
        if not agree:
            disagreements.append(f"{value!r:.40}: schema {by_schema}, loader {by_loader}")
    assert not disagreements, f"{kind or 'plan'}.{field}: " + "; ".join(disagreements)


def required() -> set[tuple[str, str]]:
    return {(kind, field) for kind in OBJECTS for field in node(kind).get("required", ())}


def test_the_schema_requires_the_fields_the_loader_asks_for() -> None:
    assert required() == {
        ("", "sequences"),
        ("sequence", "shots"),
        ("shot", "shot_id"),
        ("coverage_pass", "pass_id"),
        ("coverage_pass", "shot_range"),
        ("segment", "shot_id"),
    }


@pytest.mark.parametrize(("kind", "field"), FIELDS)
def test_leaving_a_field_out_gets_the_same_verdict(kind: str, field: str) -> None:
    plan = mutated(kind, lambda target: target.pop(field, None))
    assert schema_accepts(plan) is loader_accepts(plan, ROOT) is ((kind, field) not in required())


@pytest.mark.parametrize("kind", list(OBJECTS))
@pytest.mark.parametrize(
    ("field", "accepted"), [("x-studio-note", True), ("shot_idd", False), ("Prompt", False)]
)
def test_an_added_field_gets_the_same_verdict(kind: str, field: str, accepted: bool) -> None:
    plan = mutated(kind, lambda target: target.__setitem__(field, "KAI"))
    assert schema_accepts(plan) is accepted
    assert loader_accepts(plan, ROOT) is accepted


@pytest.mark.parametrize(
    ("kind", "field", "choices"),
    [
        ("shot", "aspect_ratio", "aspect_ratio"),
        ("shot", "resolution", "resolution"),
        ("defaults", "aspect_ratio", "aspect_ratio"),
        ("defaults", "resolution", "resolution"),
    ],
)
def test_every_choice_passes_both_and_a_near_miss_neither(
    kind: str, field: str, choices: str
) -> None:
    allowed = SCHEMA["$defs"][choices]["enum"]
    for value in allowed:
        plan = mutated(kind, lambda target, v=value: target.__setitem__(field, v))
        assert schema_accepts(plan) and loader_accepts(plan, ROOT), value
    for value in ("17:9", "4K", allowed[0].upper() + " ", allowed[-1] + "x"):
        plan = mutated(kind, lambda target, v=value: target.__setitem__(field, v))
        assert not schema_accepts(plan) and not loader_accepts(plan, ROOT), value
