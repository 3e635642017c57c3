"""Any input gives a CanonicalPlan or a PlanError, never another exception."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recoil_core.errors import PlanError
from recoil_core.model import CanonicalPlan
from recoil_core.plan import load_plan, parse_plan

pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["wildcard", "EP001_SH01", "SEQ11", "16:9", "720p", "..", "a/b", "x-y"])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)

SHOT_KEYS = [
    "shot_id", "duration_s", "prompt", "location", "characters", "shot_type", "model",
    "video_model", "previs_model", "aspect_ratio", "resolution", "has_dialogue", "is_env_only",
    "seed", "frames", "cinematography", "quality", "pipeline", "x-note", "lcation",
]  # fmt: skip
PASS_KEYS = [
    "pass_id", "shot_range", "camera_side", "label", "focus_character", "pass_type",
    "segments", "generation_config", "element_config", "wildcard_enabled",
]  # fmt: skip
SHOT_IDS = st.sampled_from(["EP001_SH01", "EP001_SH02", "EP001_SH03", "wildcard", "NOPE"])
plausible = st.one_of(
    json_values,
    SHOT_IDS,
    st.lists(SHOT_IDS, max_size=3),
    st.sampled_from([2, 3.5, 0, -1, 61, "4", True, "LOC_A", ["A"], {"first_frame": "x.png"}]),
)


def shot_like() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"shot_id": SHOT_IDS},
        optional={key: plausible for key in SHOT_KEYS if key != "shot_id"},
    )


def segment_like() -> st.SearchStrategy[Any]:
    return (
        st.fixed_dictionaries(
            {"shot_id": SHOT_IDS},
            optional={k: plausible for k in ("shot_type", "duration_s", "prompt", "extra")},
        )
        | json_values
    )


def pass_like() -> st.SearchStrategy[Any]:
    return (
        st.fixed_dictionaries(
            {
                "pass_id": st.sampled_from(["EP001_PASS_011_SH01_02_A", "P", "EP001_PASS_1"]),
                "shot_range": st.lists(SHOT_IDS, min_size=0, max_size=3),
            },
            optional={
                **{key: plausible for key in PASS_KEYS[2:]},
                "segments": st.lists(segment_like(), max_size=4) | json_values,
            },
        )
        | json_values
    )


def plan_like() -> st.SearchStrategy[dict[str, Any]]:
    sequence = st.fixed_dictionaries(
        {"shots": st.lists(shot_like() | json_values, max_size=4) | json_values},
        optional={"location": plausible, "description": plausible, "junk": plausible},
    )
    entity_map = st.dictionaries(
        st.sampled_from(["LOC_A", "A", "JO", "../x", ""]), json_values, max_size=3
    )
    return st.fixed_dictionaries(
        {
            "sequences": st.dictionaries(
                st.sampled_from(["SEQ11", "SEQ12", "a/b"]), sequence | json_values, max_size=3
            )
        },
        optional={
            "schema_version": st.sampled_from([1, 2, 0, "1", None, 1.0]),
            "project": plausible,
            "episode": plausible,
            "title": plausible,
            "defaults": st.dictionaries(
                st.sampled_from(
                    [
                        "video_model",
                        "model",
                        "aspect_ratio",
                        "resolution",
                        "duration_s",
                        "shot_type",
                        "generate_audio",
                        "nope",
                    ]
                ),
                plausible,
                max_size=4,
            )
            | json_values,
            "locations": entity_map | json_values,
            "characters": entity_map | json_values,
            "coverage_passes": st.lists(pass_like(), max_size=3) | json_values,
            "other": plausible,
        },
    )


LOCATIONS = ["LOC_A", "LOC_B", "LOC_C"]
CHARACTERS = ["JO", "AL", "MAYA"]


@st.composite
def valid_plans(draw: st.DrawFn) -> dict[str, Any]:
    """A plan that follows every rule (many shapes: maps or not, passes or not)."""
    declare = draw(st.booleans())
    sequences: dict[str, Any] = {}
    shot_ids: list[str] = []
    for seq in range(draw(st.integers(1, 3))):
        shots = []
        for _ in range(draw(st.integers(1, 3))):
            shot_ids.append(f"EP001_SH{len(shot_ids) + 1:02d}")
            shot: dict[str, Any] = {"shot_id": shot_ids[-1]}
            if draw(st.booleans()):
                shot["duration_s"] = draw(st.floats(0.5, 6) | st.integers(1, 60))
            if draw(st.booleans()):
                shot["location"] = draw(st.sampled_from(LOCATIONS))
            if draw(st.booleans()):
                shot["characters"] = draw(st.lists(st.sampled_from(CHARACTERS), unique=True))
            if draw(st.booleans()):
                shot["shot_type"] = draw(st.sampled_from(["WS", "MS", "CU", "OTS"]))
                shot["aspect_ratio"] = draw(st.sampled_from(["16:9", "9:16", "adaptive"]))
                shot["seed"] = draw(st.integers(0, 2**32 - 1))
                shot["prompt"] = draw(st.text(max_size=30))
            shots.append(shot)
        sequences[f"SEQ{seq + 1}"] = {"location": draw(st.sampled_from(LOCATIONS)), "shots": shots}
    data: dict[str, Any] = {"schema_version": 1, "sequences": sequences}
    if declare:
        data["locations"] = {loc: {"name": loc} for loc in LOCATIONS}
        data["characters"] = {c: {} for c in CHARACTERS}
    passes = []
    for number in range(draw(st.integers(0, 2))):
        first = draw(st.integers(0, len(shot_ids) - 1))
        last = draw(st.integers(first, len(shot_ids) - 1))
        in_range = shot_ids[first : last + 1]
        entry: dict[str, Any] = {
            "pass_id": f"EP001_PASS_{number + 1:03d}_A",
            "shot_range": [shot_ids[first], shot_ids[last]],
        }
        if draw(st.booleans()):
            segs = draw(st.lists(st.sampled_from([*in_range, "wildcard"]), min_size=1, max_size=4))
            entry["segments"] = [{"shot_id": sid} for sid in segs]
        passes.append(entry)
    if passes:
        data["coverage_passes"] = passes
    return data


def _dicts_in(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value, *(d for v in value.values() for d in _dicts_in(v))]
    if isinstance(value, list):
        return [d for v in value for d in _dicts_in(v)]
    return []


@st.composite
def mutated_plans(draw: st.DrawFn) -> dict[str, Any]:
    """A valid plan with one field somewhere set to junk (a known field name or a new one)."""
    data = draw(valid_plans())
    target = draw(st.sampled_from(_dicts_in(data)))
    key = draw(st.sampled_from([*target, *SHOT_KEYS, *PASS_KEYS, "junk"]))
    target[key] = draw(plausible)
    return data


def check(data: object, base_dir: Path | None = None) -> None:
    try:
        plan = parse_plan(data, source="fuzz.json", base_dir=base_dir)
    except PlanError as exc:
        assert exc.issues
        assert all(isinstance(i.location, str) and i.message for i in exc.issues)
        str(exc).encode("utf-8")  # printable: no lone surrogates
    else:
        assert isinstance(plan, CanonicalPlan)
        assert plan.shots
        assert [s.order for s in plan.shots] == list(range(len(plan.shots)))


@FUZZ
@given(json_values)
def test_any_json_value_gives_a_plan_or_a_plan_error(data: object) -> None:
    check(data)


@FUZZ
@given(plan_like())
def test_plan_shaped_junk_gives_a_plan_or_a_plan_error(data: dict[str, Any]) -> None:
    check(data)


@FUZZ
@given(valid_plans())
def test_generated_valid_plans_load_with_every_shot(data: dict[str, Any]) -> None:
    plan = parse_plan(data, source="fuzz.json")
    expected = [s["shot_id"] for seq in data["sequences"].values() for s in seq["shots"]]
    assert [s.shot_id for s in plan.shots] == expected
    assert len(plan.coverage_passes) == len(data.get("coverage_passes", []))


@FUZZ
@given(mutated_plans())
def test_plans_with_one_junk_field_give_a_plan_or_a_plan_error(data: dict[str, Any]) -> None:
    check(data)


@FUZZ
@given(st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_file_bytes_give_a_plan_or_a_plan_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fuzz.json"
    path.write_bytes(content)
    try:
        load_plan(path)
    except PlanError as exc:
        assert exc.issues and exc.source == str(path)


@FUZZ
@given(plan_like())
def test_plan_shaped_junk_written_to_a_file_gives_a_plan_or_a_plan_error(
    tmp_path: Path, data: dict[str, Any]
) -> None:
    path = tmp_path / "fuzz.json"
    path.write_text(json.dumps(data), encoding="utf-8", errors="surrogatepass")
    try:
        plan = load_plan(path)
    except PlanError as exc:
        assert exc.issues
    else:
        assert plan.source_path == str(path.absolute())
