"""Invalid plans: every rule broken is reported with its location, all at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from recoil_core.errors import PlanError, PlanIssue
from recoil_core.plan import load_plan, parse_plan
from recoil_core.testing.plans import coverage_pass_dict, plan_dict, write_plan


def issues_of(data: object, **kwargs: Any) -> list[PlanIssue]:
    with pytest.raises(PlanError) as info:
        parse_plan(data, **kwargs)
    assert info.value.issues, "a PlanError must carry at least one issue"
    return info.value.issues


def locations(data: object) -> dict[str, str]:
    return {issue.location: issue.message for issue in issues_of(data)}


def test_every_problem_is_reported_at_once_with_its_location() -> None:
    data = plan_dict(
        {
            "SEQ11": [
                {"shot_id": "EP001_SH01"},
                {"shot_id": "EP001_SH02", "duration_s": 0},
                {"shot_id": "EP001_SH03", "aspect_ratio": "5:4"},
                {"shot_id": "EP001_SH04", "duration_s": -2, "resolution": "4k"},
            ]
        }
    )
    found = locations(data)
    assert set(found) == {
        "sequences.SEQ11.shots[1].duration_s",
        "sequences.SEQ11.shots[2].aspect_ratio",
        "sequences.SEQ11.shots[3].duration_s",
        "sequences.SEQ11.shots[3].resolution",
    }
    assert "5:4" in found["sequences.SEQ11.shots[2].aspect_ratio"]
    assert "16:9" in found["sequences.SEQ11.shots[2].aspect_ratio"]


@pytest.mark.parametrize("duration", [0, -1, 61, 1e309, "3", True, None, [], 10**400])
def test_bad_durations_are_rejected(duration: object) -> None:
    shot: dict[str, Any] = {"shot_id": "S1", "duration_s": duration}
    if duration is None:
        assert parse_plan(plan_dict({"SEQ1": [shot]})).shots[0].duration_s > 0
        return
    assert "sequences.SEQ1.shots[0].duration_s" in locations(plan_dict({"SEQ1": [shot]}))


def test_unknown_fields_are_reported_with_a_suggestion() -> None:
    data = plan_dict({"SEQ1": [{"shot_id": "S1", "lcation": "L"}]}, defualts={})
    found = locations(data)
    assert "did you mean 'location'" in found["sequences.SEQ1.shots[0].lcation"]
    assert "did you mean 'defaults'" in found["defualts"]


def test_duplicate_shot_ids_name_both_places() -> None:
    data = plan_dict({"SEQ1": ["S1", "S2"], "SEQ2": ["S1"]})
    found = locations(data)
    message = found["sequences.SEQ2.shots[0].shot_id"]
    assert "duplicate shot id 'S1'" in message
    assert "sequences.SEQ1.shots[0]" in message


@pytest.mark.parametrize(
    ("where", "bad_id"),
    [
        ("project", "../escape"),
        ("project", "a/b"),
        ("episode", "EP\x00001"),
        ("episode", "x" * 129),
        ("episode", ""),
        ("shot", "..\\up"),
        ("shot", "SH 01"),
        ("sequence", "SEQ/1"),
    ],
)
def test_unsafe_ids_are_rejected(where: str, bad_id: str) -> None:
    if where == "project":
        data = plan_dict(project=bad_id)
    elif where == "episode":
        data = plan_dict(episode=bad_id)
    elif where == "shot":
        data = plan_dict({"SEQ1": [bad_id]})
    else:
        data = plan_dict({bad_id: ["S1"]})
    issues = issues_of(data)
    assert len(issues) == 1
    assert where in issues[0].location or where in issues[0].message


def test_unknown_location_and_character_references_are_errors_when_declared() -> None:
    data = plan_dict(
        {
            "SEQ1": {
                "location": "LOC_X",
                "shots": [{"shot_id": "S1", "location": "LOC_Y", "characters": ["JO", "ZED"]}],
            }
        },
        locations={"LOC_A": {}},
        characters={"JO": {}},
    )
    found = locations(data)
    assert "unknown location 'LOC_X'" in found["sequences.SEQ1.location"]
    assert "unknown location 'LOC_Y'" in found["sequences.SEQ1.shots[0].location"]
    assert "unknown character 'ZED'" in found["sequences.SEQ1.shots[0].characters[1]"]
    assert len(found) == 3


def test_undeclared_references_are_free_when_no_maps_are_declared() -> None:
    data = plan_dict({"SEQ1": [{"shot_id": "S1", "location": "ANY", "characters": ["WHO"]}]})
    assert parse_plan(data).shots[0].location_id == "ANY"


def test_a_shot_without_location_is_an_error_when_locations_are_declared() -> None:
    data = plan_dict({"SEQ1": ["S1"]}, locations={"LOC_A": {}})
    assert "sequences.SEQ1.shots[0].location" in locations(data)


def test_env_only_shot_with_characters_is_an_error() -> None:
    data = plan_dict({"SEQ1": [{"shot_id": "S1", "is_env_only": True, "characters": ["A"]}]})
    assert "sequences.SEQ1.shots[0].is_env_only" in locations(data)


def test_missing_and_empty_structure_is_reported() -> None:
    assert "sequences" in locations({"project": "p"})
    assert "sequences" in locations({"sequences": {}})
    assert "sequences.SEQ1.shots" in locations({"sequences": {"SEQ1": {"shots": []}}})
    assert "sequences.SEQ1.shots[0].shot_id" in locations({"sequences": {"SEQ1": {"shots": [{}]}}})
    assert "sequences.SEQ1" in locations({"sequences": {"SEQ1": ["S1"]}})


def test_bad_seeds_and_flags_are_rejected() -> None:
    data = plan_dict(
        {
            "SEQ1": [
                {"shot_id": "S1", "seed": -1, "has_dialogue": "yes"},
                {"shot_id": "S2", "seed": 2**32},
            ]
        }
    )
    found = locations(data)
    assert {
        "sequences.SEQ1.shots[0].seed",
        "sequences.SEQ1.shots[0].has_dialogue",
        "sequences.SEQ1.shots[1].seed",
    } == set(found)


def test_model_given_twice_is_an_error() -> None:
    data = plan_dict({"SEQ1": [{"shot_id": "S1", "model": "a", "video_model": "b"}]})
    assert "sequences.SEQ1.shots[0].video_model" in locations(data)


def test_newer_schema_version_is_a_clear_error_alone() -> None:
    issues = issues_of({"schema_version": 2, "sequences": "junk", "typo": 1})
    assert len(issues) == 1
    assert issues[0].location == "schema_version"
    assert "newer" in issues[0].message and "upgrade" in issues[0].message


@pytest.mark.parametrize("version", [0, "1", 1.5, True])
def test_invalid_schema_version_is_reported(version: object) -> None:
    assert "schema_version" in locations(plan_dict(schema_version=version))


def test_coverage_pass_rules() -> None:
    shots = ["EP001_SH01", "EP001_SH02", "EP001_SH03", "EP001_SH04"]
    passes = [
        coverage_pass_dict("EP001_PASS_001_A", ("EP001_SH01", "EP001_SH09")),
        coverage_pass_dict("EP001_PASS_002_A", ("EP001_SH03", "EP001_SH01")),
        coverage_pass_dict(
            "EP001_PASS_003_A", ("EP001_SH01", "EP001_SH02"), ["EP001_SH04", "GHOST", "wildcard"]
        ),
        coverage_pass_dict("NO_ORDINAL", ("EP001_SH01", "EP001_SH02")),
        coverage_pass_dict("EP001_PASS_005_A", ("EP001_SH01", "EP001_SH02"), focus_character="X"),
        coverage_pass_dict("EP001_PASS_005_A", ("EP001_SH01", "EP001_SH02")),
        coverage_pass_dict("EP001_PASS_006_A", ("EP001_SH01",)),
        {"pass_id": "EP001_PASS_007", "shot_range": ["EP001_SH01", "EP001_SH02"], "segments": []},
    ]
    found = locations(plan_dict({"SEQ1": shots}, passes=passes, characters={"JO": {}}))
    assert "not a shot of this plan" in found["coverage_passes[0].shot_range[1]"]
    assert "swap" in found["coverage_passes[1].shot_range"]
    assert "outside the pass's shot_range" in found["coverage_passes[2].segments[0].shot_id"]
    assert "not a shot of this plan" in found["coverage_passes[2].segments[1].shot_id"]
    assert "coverage_passes[2].segments[2].shot_id" not in found
    assert "PASS_<number>" in found["coverage_passes[3].pass_id"]
    assert "unknown character 'X'" in found["coverage_passes[4].focus_character"]
    assert "also at coverage_passes[4]" in found["coverage_passes[5].pass_id"]
    assert "coverage_passes[6].shot_range" in found
    assert "coverage_passes[7].segments" in found


def test_duplicate_json_keys_are_reported_with_their_location(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(
        '{"sequences": {"SEQ1": {"shots": [{"shot_id": "A", "duration_s": 2, "duration_s": 3}]},'
        ' "SEQ1": {"shots": [{"shot_id": "B"}]}}}'
    )
    with pytest.raises(PlanError) as info:
        load_plan(path)
    found = {issue.location for issue in info.value.issues}
    assert "sequences.SEQ1" in found


def test_duplicate_keys_inside_a_shot_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(
        '{"sequences": {"S": {"shots": [{"shot_id": "A", "prompt": "x", "prompt": "y"}]}}}'
    )
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert [i.location for i in info.value.issues] == ["sequences.S.shots[0].prompt"]


def test_missing_frame_file_and_foreign_scheme_are_errors(tmp_path: Path) -> None:
    path = write_plan(
        tmp_path,
        plan_dict(
            {
                "SEQ1": [
                    {
                        "shot_id": "S1",
                        "frames": {"first_frame": "nope.png", "last_frame": "ftp://x/y"},
                    }
                ]
            }
        ),
    )
    with pytest.raises(PlanError) as info:
        load_plan(path)
    found = {i.location: i.message for i in info.value.issues}
    assert str(tmp_path / "nope.png") in found["sequences.SEQ1.shots[0].frames.first_frame"]
    assert "http(s)" in found["sequences.SEQ1.shots[0].frames.last_frame"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "line 1, column 1"),
        (b'{"sequences": {\n  "SEQ1": [,]}}', "line 2, column"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[1, 2]", "a plan must be an object, got array"),
        (b'{"sequences": NaN}', "NaN"),
        (b"[" * 100_000, "nested too deeply"),
        (b"1" * 5000, "not valid JSON"),
    ],
)
def test_unreadable_files_name_the_file_and_the_reason(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert info.value.source == str(path)
    assert str(path) in str(info.value)
    assert any(expected in issue.message for issue in info.value.issues), info.value.issues


def test_missing_file_and_directory_are_plan_errors(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="file not found"):
        load_plan(tmp_path / "missing.json")
    with pytest.raises(PlanError, match="directory"):
        load_plan(tmp_path)


def test_plan_error_message_lists_every_issue() -> None:
    with pytest.raises(PlanError) as info:
        parse_plan(
            plan_dict({"SEQ1": [{"shot_id": "S1", "duration_s": 0, "prompt": 3}]}), source="x.json"
        )
    text = str(info.value)
    assert text.startswith("x.json: 2 problem(s)")
    assert "sequences.SEQ1.shots[0].duration_s" in text and "sequences.SEQ1.shots[0].prompt" in text
    assert json.dumps([str(i) for i in info.value.issues])


def test_a_pass_number_too_long_says_how_long_it_may_be() -> None:
    passes = [coverage_pass_dict("EP001_PASS_99999999999999999999_A", ("EP001_SH01", "EP001_SH02"))]
    found = locations(plan_dict({"SEQ1": ["EP001_SH01", "EP001_SH02"]}, passes=passes))
    message = found["coverage_passes[0].pass_id"]
    assert "has 20 digits; use at most 6" in message and "PASS_<number>" not in message
