"""Loading valid plans: defaults, ordering, frames, coverage passes, the example episode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recoil_core.model import CanonicalPlan
from recoil_core.plan import BUILTIN_DEFAULTS, load_plan, parse_plan, pass_ordinal, reference_images
from recoil_core.testing.plans import coverage_pass_dict, plan_dict, write_plan

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "ep001" / "plan.json"


def test_minimal_legacy_form_loads_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(
        json.dumps(
            {
                "sequences": {
                    "SEQ11": {"shots": [{"shot_id": "EP001_SH01"}, {"shot_id": "EP001_SH02"}]}
                }
            }
        )
    )
    plan = load_plan(path)
    assert isinstance(plan, CanonicalPlan)
    assert plan.project == "default"
    assert plan.episode_id == "EP001"
    assert plan.sequence_ids == ("SEQ11",)
    assert [s.shot_id for s in plan.shots] == ["EP001_SH01", "EP001_SH02"]
    first = plan.shot("EP001_SH01")
    assert first.sequence_id == "SEQ11"
    assert first.scene_index == 1
    assert first.location_id == "SEQ11"
    assert first.duration_s == BUILTIN_DEFAULTS["duration_s"]
    assert first.video_model == "seeddance-2.0"
    assert first.aspect_ratio == "16:9"
    assert first.resolution == "720p"
    assert first.shot_type == "MS"
    assert plan.source_path == str(path.absolute())
    assert plan.defaults == BUILTIN_DEFAULTS


def test_scene_index_is_sequence_position_and_order_is_global() -> None:
    data = plan_dict({"SEQ_A": ["S1", "S2"], "SEQ_B": ["S3"], "SEQ_C": ["S4", "S5"]})
    plan = parse_plan(data)
    assert [(s.shot_id, s.scene_index, s.order) for s in plan.shots] == [
        ("S1", 1, 0),
        ("S2", 1, 1),
        ("S3", 2, 2),
        ("S4", 3, 3),
        ("S5", 3, 4),
    ]
    assert plan.sequence_ids == ("SEQ_A", "SEQ_B", "SEQ_C")


def test_plan_defaults_apply_and_shot_fields_override_them() -> None:
    data = plan_dict(
        {
            "SEQ1": [
                {"shot_id": "A"},
                {
                    "shot_id": "B",
                    "model": "seedance-1-5-pro",
                    "aspect_ratio": "1:1",
                    "resolution": "1080p",
                    "duration_s": 3,
                    "shot_type": "CU",
                    "seed": 7,
                    "has_dialogue": True,
                    "cinematography": "handheld",
                    "quality": "final",
                },
            ]
        },
        defaults={
            "video_model": "seeddance-2.0-fast",
            "aspect_ratio": "9:16",
            "duration_s": 2.5,
            "generate_audio": True,
        },
    )
    plan = parse_plan(data)
    a, b = plan.shots
    assert (a.video_model, a.aspect_ratio, a.duration_s) == ("seeddance-2.0-fast", "9:16", 2.5)
    assert (b.video_model, b.aspect_ratio, b.resolution) == ("seedance-1-5-pro", "1:1", "1080p")
    assert (b.duration_s, b.shot_type, b.seed, b.has_dialogue) == (3.0, "CU", 7, True)
    assert (b.cinematography, b.quality) == ("handheld", "final")
    assert plan.defaults["generate_audio"] is True
    assert plan.defaults["resolution"] == "720p"


def test_video_model_synonym_is_accepted_in_shots_and_defaults() -> None:
    data = plan_dict(
        {"SEQ1": [{"shot_id": "A", "video_model": "m-1"}, {"shot_id": "B"}]},
        defaults={"model": "m-2"},
    )
    plan = parse_plan(data)
    assert [s.video_model for s in plan.shots] == ["m-1", "m-2"]


def test_locations_and_characters_resolve_from_sequence_and_shot() -> None:
    data = plan_dict(
        {
            "SEQ1": {
                "location": "LOC_A",
                "shots": [
                    {"shot_id": "S1", "characters": ["JO", "AL"]},
                    {"shot_id": "S2", "location": "LOC_B"},
                ],
            }
        },
        locations={"LOC_A": {"name": "A"}, "LOC_B": {}},
        characters={"JO": {"name": "Jo", "description": "lead"}, "AL": {}},
    )
    plan = parse_plan(data)
    assert plan.shot("S1").location_id == "LOC_A"
    assert plan.shot("S1").characters == ("JO", "AL")
    assert plan.shot("S2").location_id == "LOC_B"


def test_null_optional_fields_mean_not_set() -> None:
    data = plan_dict(
        {"SEQ1": [{"shot_id": "S1", "duration_s": None, "seed": None, "prompt": None}]},
        defaults=None,
        coverage_passes=None,
    )
    shot = parse_plan(data).shots[0]
    assert shot.duration_s == BUILTIN_DEFAULTS["duration_s"]
    assert shot.seed is None
    assert shot.prompt == ""


def test_extension_fields_are_kept_in_raw_and_not_reported() -> None:
    data = plan_dict({"SEQ1": [{"shot_id": "S1", "x-editor": "kim"}]}, **{"x-studio": "north"})
    shot = parse_plan(data).shots[0]
    assert shot.raw["x-editor"] == "kim"


def test_relative_frames_resolve_against_the_plan_file_and_urls_pass_through(
    tmp_path: Path,
) -> None:
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "first.png").write_bytes(b"png")
    (tmp_path / "ref.png").write_bytes(b"png")
    url = "https://cdn.example.com/last.png"
    path = write_plan(
        tmp_path / "plans",
        plan_dict(
            {
                "SEQ1": [
                    {
                        "shot_id": "S1",
                        "frames": {
                            "first_frame": "../frames/first.png",
                            "last_frame": url,
                            "references": [str(tmp_path / "ref.png"), "data:image/png;base64,AAA"],
                        },
                    }
                ]
            }
        ),
    )
    shot = load_plan(path).shots[0]
    assert shot.frames["first_frame"] == str((tmp_path / "frames" / "first.png").resolve())
    assert shot.frames["last_frame"] == url
    assert reference_images(shot) == [
        str((tmp_path / "ref.png").resolve()),
        "data:image/png;base64,AAA",
    ]


def test_coverage_pass_segments_default_from_their_shots() -> None:
    shots = [
        {"shot_id": "EP001_SH01", "duration_s": 3, "prompt": "one", "shot_type": "WS"},
        {"shot_id": "EP001_SH02", "duration_s": 4, "prompt": "two"},
        {"shot_id": "EP001_SH03"},
    ]
    data = plan_dict(
        {"SEQ1": shots},
        passes=[
            coverage_pass_dict(
                "EP001_PASS_011_SH01_02_A_ENV",
                ("EP001_SH01", "EP001_SH02"),
                ["EP001_SH02", {"shot_id": "wildcard", "prompt": "wild"}, "EP001_SH01"],
                generation_config={"tier": 2},
            ),
            coverage_pass_dict("EP001_PASS_012_SH02_03_B_JO", ("EP001_SH02", "EP001_SH03")),
        ],
        characters={"JO": {}},
    )
    plan = parse_plan(data)
    first, second = plan.coverage_passes
    assert first.episode_id == "EP001"
    assert first.shot_range == ("EP001_SH01", "EP001_SH02")
    assert [(s.index, s.shot_id, s.is_wildcard) for s in first.segments] == [
        (0, "EP001_SH02", False),
        (1, "wildcard", True),
        (2, "EP001_SH01", False),
    ]
    assert first.segments[0].duration_s == 4.0 and first.segments[0].prompt == "two"
    assert first.segments[2].shot_type == "WS"
    assert first.segments[1].prompt == "wild" and first.segments[1].duration_s == 2.0
    assert first.wildcard_enabled is True
    assert first.generation_config == {"tier": 2}
    assert first.real_shot_ids == ["EP001_SH02", "EP001_SH01"]
    assert [s.shot_id for s in second.segments] == ["EP001_SH02", "EP001_SH03"]
    assert (second.camera_side, second.pass_type, second.wildcard_enabled) == ("A", "env", False)
    assert plan.pass_by_id("EP001_PASS_012_SH02_03_B_JO") is second


def test_pass_ordinal_reads_the_pass_number() -> None:
    assert pass_ordinal("EP001_PASS_011_SH01_02_A_ENV") == 11
    assert pass_ordinal("PASS_7") == 7
    with pytest.raises(ValueError):
        pass_ordinal("EP001_COV_011")


def test_utf8_byte_order_mark_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(plan_dict()).encode())
    assert len(load_plan(path).shots) == 2


def test_example_episode_loads_with_mixed_locations_and_a_wildcard_pass() -> None:
    plan = load_plan(EXAMPLE)
    assert (plan.project, plan.episode_id) == ("nightshift", "EP001")
    assert len(plan.sequence_ids) >= 3
    assert len(plan.shots) >= 12
    assert [s.shot_id for s in plan.shots][:2] == ["EP001_SH01", "EP001_SH02"]
    assert all(2 <= s.duration_s <= 6 for s in plan.shots)
    assert all(s.aspect_ratio == "16:9" and not s.frames for s in plan.shots)
    assert len({s.location_id for s in plan.shots}) >= 3
    assert sum(s.video_model == "seeddance-2.0" for s in plan.shots) > len(plan.shots) // 2
    assert any(seg.is_wildcard for p in plan.coverage_passes for seg in p.segments)
    # runs of consecutive same-location shots inside a sequence: some multi-shot, some solo
    runs: list[int] = []
    previous = None
    for shot in plan.shots:
        key = (shot.sequence_id, shot.location_id)
        if key == previous:
            runs[-1] += 1
        else:
            runs.append(1)
        previous = key
    assert any(n >= 2 for n in runs) and any(n == 1 for n in runs)
