"""The plan builders in recoil_core.testing.plans produce what the loader would."""

from __future__ import annotations

from pathlib import Path

import pytest

from recoil_core.model import CoverageSegment
from recoil_core.plan import load_plan
from recoil_core.testing.plans import (
    canonical_plan,
    canonical_shot,
    coverage_pass,
    coverage_pass_dict,
    plan_dict,
    write_plan,
)


def test_canonical_shot_has_the_fixture_defaults() -> None:
    shot = canonical_shot("EP001_SH01")
    assert (shot.sequence_id, shot.scene_index, shot.location_id) == ("SEQ11", 1, "LOC_A")
    assert (shot.shot_type, shot.duration_s, shot.aspect_ratio) == ("MS", 2.0, "9:16")
    assert (shot.video_model, shot.pipeline, shot.characters) == ("seeddance-2.0", "video", ())
    assert canonical_shot("X", 3, location_id="LOC_B").scene_index == 3
    assert canonical_shot("X", 3, location_id="LOC_B").location_id == "LOC_B"


def test_canonical_plan_orders_shots_and_collects_sequences() -> None:
    shots = [
        canonical_shot("S1", sequence_id="A"),
        canonical_shot("S2", sequence_id="B"),
        canonical_shot("S3", sequence_id="A"),
    ]
    plan = canonical_plan(shots, episode="EP002")
    assert [s.order for s in plan.shots] == [0, 1, 2]
    assert plan.sequence_ids == ("A", "B")
    assert (plan.project, plan.episode_id) == ("p", "EP002")
    assert plan.shot("S2").sequence_id == "B"


def test_coverage_pass_builder_makes_wildcards_from_the_word() -> None:
    built = coverage_pass(segments=["EP001_SH02", "wildcard", "EP001_SH01"])
    assert [s.is_wildcard for s in built.segments] == [False, True, False]
    assert built.real_shot_ids == ["EP001_SH02", "EP001_SH01"]
    assert built.wildcard_enabled is True
    plain = coverage_pass()
    assert [s.shot_id for s in plain.segments] == ["EP001_SH01", "EP001_SH02"]
    explicit = coverage_pass(segments=[CoverageSegment(0, "EP001_SH01", duration_s=3)])
    assert explicit.segments[0].duration_s == 3


def test_written_plans_load_back(tmp_path: Path) -> None:
    path = write_plan(
        tmp_path,
        sequences={"SEQ11": ["EP001_SH01", {"shot_id": "EP001_SH02", "duration_s": 3}]},
        passes=[coverage_pass_dict(segments=["EP001_SH01", "wildcard"])],
        defaults={"aspect_ratio": "9:16"},
    )
    plan = load_plan(path)
    assert [s.shot_id for s in plan.shots] == ["EP001_SH01", "EP001_SH02"]
    assert plan.shot("EP001_SH02").duration_s == 3
    assert plan.shots[0].aspect_ratio == "9:16"
    assert plan.coverage_passes[0].segments[1].is_wildcard


def test_default_plan_dict_is_the_classic_two_shot_sequence() -> None:
    data = plan_dict()
    assert data["sequences"] == {
        "SEQ11": {"shots": [{"shot_id": "EP001_SH01"}, {"shot_id": "EP001_SH02"}]}
    }


def test_write_plan_refuses_both_a_dict_and_arguments(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        write_plan(tmp_path, plan_dict(), project="x")
