"""The video_i2v runner (on the video runner base) through the registry: workflows,
payloads, keyframes and fallbacks, and renders written from them (seed rows S13, S16, S22).
The image_t2i runner alone: recoil_plugins_video/tests/test_image_t2i_runner.py."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from recoil_core.api import (
    Beat,
    BuildContext,
    CanonicalPlan,
    CanonicalShot,
    GroupIdentity,
    PayloadBuildError,
    Segment,
    Workflow,
    shotset_hash,
)
from recoil_core.testing.installed import InstalledPlugins
from recoil_core.testing.renders import write_step_render


@pytest.fixture(scope="module")
def registry() -> InstalledPlugins:
    return InstalledPlugins()


def _shot(shot_id: str, index: int = 1, **kwargs: Any) -> CanonicalShot:
    options: dict[str, Any] = {
        "sequence_id": "SEQ11",
        "scene_index": index,
        "location_id": "LOC_A",
        "duration_s": 2.0,
        "prompt": f"prompt of {shot_id}",
        "aspect_ratio": "9:16",
        **kwargs,
    }
    return CanonicalShot(shot_id=shot_id, **options)


def _ctx(
    *shots: CanonicalShot,
    image_provider: str | None = None,
    take_index: int = 0,
    defaults: Mapping[str, Any] | None = None,
    scene_id: str = "SCENE",
    source_path: str | None = None,
) -> BuildContext:
    plan = CanonicalPlan(
        project="p",
        episode_id="EP001",
        shots=shots,
        defaults=dict(defaults or {}),
        source_path=source_path,
    )
    return BuildContext(
        project="p",
        episode="ep_001",
        scene_id=scene_id,
        plan=plan,
        take_index=take_index,
        video_provider="animatic",
        image_provider=image_provider,
    )


def _solo_beat(shot: CanonicalShot, **kwargs: Any) -> Beat:
    return Beat(
        beat_id=shot.shot_id,
        modality="video_i2v",
        grouping=GroupIdentity("solo", 0, (shot.shot_id,)),
        segments=[Segment(shot.shot_id, shot.duration_s, shot.prompt)],
        **kwargs,
    )


def _write(workflow: Workflow, beat: Beat, dest: Path, tmp_path: Path) -> Path:
    """Write a render for the workflow's video step the way the runner does."""
    media = f"video of {beat.beat_id}".encode()
    return write_step_render(
        beat, workflow, dest, media=media, cost_usd=0.1, project="p", episode="ep_001"
    )


# --------------------------------------------------------------------------- seed rows


def test_s13_below_threshold_solo_beats_write_distinct_solo_stems(
    registry: InstalledPlugins, tmp_path: Path
) -> None:
    start = tmp_path / "start.png"
    start.write_bytes(b"png")
    shots = [
        _shot("EP001_SH01", 1, frames={"first_frame": str(start)}),
        _shot("EP001_SH02", 2, frames={"first_frame": str(start)}),
    ]
    ctx = _ctx(*shots, scene_id="BATCH_002")
    runner = registry.runner("video_i2v")
    dest = tmp_path / "renders"

    beats = [_solo_beat(shot) for shot in shots]
    paths = [_write(runner.build_workflow(beat, ctx), beat, dest, tmp_path) for beat in beats]

    names = [path.name for path in paths]
    assert names == ["EP001_SH1_take1.mp4", "EP001_SH2_take1.mp4"]
    assert len({name.rsplit("_take", 1)[0] for name in names}) == 2
    assert all("_CONT_" not in name for name in names)
    assert [path.read_bytes() for path in paths] == [b"video of EP001_SH01", b"video of EP001_SH02"]


def test_s16_single_shot_oner_keeps_identity_through_payload_name_and_sidecar(
    registry: InstalledPlugins, tmp_path: Path
) -> None:
    start = tmp_path / "start.png"
    start.write_bytes(b"png")
    shot = _shot("EP001_SH05", frames={"first_frame": str(start)}, duration_s=4.0)
    grouping = {
        "strategy": "oner",
        "ordinal": 1,
        "shot_ids": ["EP001_SH05"],
        "source_pass_id": None,
        "shotset_hash": shotset_hash(["EP001_SH05"]),
    }
    beat = Beat(
        beat_id="ONER_001__oner",
        modality="video_i2v",
        grouping=GroupIdentity.from_dict(grouping),
        segments=[Segment("EP001_SH05", 4.0, "one shot oner")],
    )

    workflow = registry.runner("video_i2v").build_workflow(beat, _ctx(shot, scene_id="ONER_001"))
    payload = workflow.step("video").payload
    path = _write(workflow, beat, tmp_path / "renders", tmp_path)

    assert payload["grouping"] == grouping
    assert workflow.provenance["grouping"] == grouping
    assert workflow.provenance["scene_id"] == "ONER_001"
    assert "_ONER_001_" in path.name
    assert path.name == "EP001_ONER_001_SH05_take1.mp4"
    assert path.name != "EP001_SH5_take1.mp4"
    sidecar = json.loads(path.with_name(path.name + ".json").read_text())
    assert sidecar["provenance"]["grouping"] == grouping
    assert sidecar["render"] == path.name


def test_s22_pass_config_overrides_payload_mirrors_hints_and_merges_elements(
    registry: InstalledPlugins,
) -> None:
    generation_config = {
        "tier": "pro",
        "seed": 1234,
        "resolution": "1080p",
        "format_mode": "C",
        "anchor_duration_s": 8,
        "regen_previz_for_segment": True,
    }
    element_config = {"location_id": "LOC_A", "character_elements": [{"char_id": "JADE"}]}
    shots = [_shot("EP001_SH01", 1, seed=99), _shot("EP001_SH02", 2)]
    beat = Beat(
        beat_id="EP001_PASS_011_SH01_02_A_JADE__cov",
        modality="video_i2v",
        grouping=GroupIdentity("coverage", 11, ("EP001_SH01", "EP001_SH02"), "EP001_PASS_011"),
        segments=[Segment("EP001_SH01", 2, "a"), Segment("EP001_SH02", 2, "b")],
        generation_config=generation_config,
        element_config=element_config,
    )
    ctx = _ctx(
        *shots,
        defaults={
            "provider_hints": {"keep": "value", "tier": "fast"},
            "element_config": {"existing": True},
        },
    )

    payload = registry.runner("video_i2v").build_workflow(beat, ctx).step("video").payload

    for key, value in generation_config.items():
        assert payload[key] == value
    assert payload["provider_hints"]["keep"] == "value"
    assert payload["provider_hints"]["tier"] == "pro"
    assert payload["provider_hints"]["seed"] == 1234
    assert payload["element_config"] == {
        "existing": True,
        "location_id": "LOC_A",
        "character_elements": [{"char_id": "JADE"}],
    }


# --------------------------------------------------------------------------- payload


def test_video_payload_follows_the_conventions(registry: InstalledPlugins, tmp_path: Path) -> None:
    start = tmp_path / "start.png"
    end = tmp_path / "end.png"
    start.write_bytes(b"a")
    end.write_bytes(b"b")
    shot = _shot(
        "EP001_SH03",
        frames={"first_frame": str(start), "last_frame": str(end)},
        video_model="seeddance-2.0-fast",
        resolution="480p",
        has_dialogue=True,
        characters=("JADE",),
    )
    beat = _solo_beat(shot)

    workflow = registry.runner("video_i2v").build_workflow(beat, _ctx(shot, take_index=2))
    step = workflow.step("video")

    assert [s.step_id for s in workflow.steps] == ["video"]
    assert (step.modality, step.provider, step.model) == (
        "video_i2v",
        "animatic",
        "seeddance-2.0-fast",
    )
    assert step.payload == {
        "prompt": "prompt of EP001_SH03",
        "model": "seeddance-2.0-fast",
        "duration_s": 2.0,
        "aspect_ratio": "9:16",
        "resolution": "480p",
        "seed": None,
        "generate_audio": True,
        "camera_fixed": False,
        "watermark": False,
        "grouping": GroupIdentity("solo", 0, ("EP001_SH03",)).to_dict(),
        "shot_ids": ["EP001_SH03"],
        "segments": [
            {
                "shot_id": "EP001_SH03",
                "duration_s": 2.0,
                "prompt": "prompt of EP001_SH03",
                "shot_type": "MS",
                "location_id": "LOC_A",
                "characters": ["JADE"],
            }
        ],
        "first_frame": str(start.resolve()),
        "last_frame": str(end.resolve()),
        "provider_hints": {},
        "element_config": {},
        "output_filename": "EP001_SH3_take3.mp4",
    }
    assert workflow.workflow_id == "EP001_SH03_take_2"
    assert workflow.provenance["keyframes"] == "plan"
    assert workflow.provenance["fallback"] is None
    assert "pass_counter" not in step.payload


def test_multi_segment_prompt_is_composed_on_a_timeline(registry: InstalledPlugins) -> None:
    shots = [_shot("EP001_SH01", 1, prompt=""), _shot("EP001_SH02", 2, duration_s=3.0)]
    beat = Beat(
        beat_id="BATCH_001__cont",
        modality="video_i2v",
        grouping=GroupIdentity("continuity", 1, ("EP001_SH01", "EP001_SH02")),
        segments=[Segment("EP001_SH01", 2.0), Segment("EP001_SH02", 3.0, "she turns")],
    )

    payload = registry.runner("video_i2v").build_workflow(beat, _ctx(*shots)).step("video").payload

    assert payload["prompt"] == "[0-2s] MS shot at LOC_A [2-5s] she turns"
    assert payload["duration_s"] == 5.0
    assert payload["output_filename"] == "EP001_CONT_001_SH01_02_take1.mp4"


# --------------------------------------------------------------------------- keyframes


def test_keyframe_step_feeds_the_first_frame_when_the_plan_has_none(
    registry: InstalledPlugins,
) -> None:
    shot = _shot("EP001_SH01", previs_model="flux-schnell")
    beat = _solo_beat(shot)

    workflow = registry.runner("video_i2v").build_workflow(
        beat, _ctx(shot, image_provider="images")
    )

    kf, video = workflow.steps
    assert (kf.step_id, kf.modality, kf.provider, kf.model) == (
        "kf",
        "image_t2i",
        "images",
        "flux-schnell",
    )
    assert kf.payload["prompt"] == "prompt of EP001_SH01"
    assert kf.payload["shot_id"] == "EP001_SH01"
    assert kf.payload["output_filename"] == "EP001_SH1_take1_kf.png"
    assert kf.payload["grouping"] == video.payload["grouping"]
    assert (kf.payload["aspect_ratio"], kf.payload["resolution"]) == ("9:16", "720p")
    assert (video.modality, video.provider) == ("video_i2v", "animatic")
    assert video.inputs == {"first_frame": "kf"}
    assert "first_frame" not in video.payload
    assert workflow.provenance["keyframes"] == "generated"
    assert workflow.provenance["fallback"] is None


def test_keyframe_model_defaults_to_previs(registry: InstalledPlugins) -> None:
    shot = _shot("EP001_SH01")
    workflow = registry.runner("video_i2v").build_workflow(
        _solo_beat(shot), _ctx(shot, image_provider="images")
    )
    assert workflow.step("kf").model == "previs"


def test_plan_frames_skip_the_keyframe_step(registry: InstalledPlugins, tmp_path: Path) -> None:
    start = tmp_path / "start.png"
    start.write_bytes(b"png")
    shot = _shot("EP001_SH01", frames={"first_frame": str(start)})

    workflow = registry.runner("video_i2v").build_workflow(
        _solo_beat(shot), _ctx(shot, image_provider="images")
    )

    assert [s.step_id for s in workflow.steps] == ["video"]
    assert workflow.step("video").inputs == {}
    assert workflow.step("video").payload["first_frame"] == str(start.resolve())


def test_without_image_provider_i2v_falls_back_to_text_to_video(registry: InstalledPlugins) -> None:
    shot = _shot("EP001_SH01")

    workflow = registry.runner("video_i2v").build_workflow(_solo_beat(shot), _ctx(shot))

    (video,) = workflow.steps
    assert video.modality == "video_i2v"
    assert "first_frame" not in video.payload
    assert video.inputs == {}
    assert workflow.provenance["fallback"] == "text_to_video: no image_t2i provider configured"


def test_missing_frame_file_is_a_payload_build_error(
    registry: InstalledPlugins, tmp_path: Path
) -> None:
    shot = _shot("EP001_SH04", frames={"first_frame": "frames/missing.png"})
    ctx = _ctx(shot, source_path=str(tmp_path / "plan.json"))

    with pytest.raises(PayloadBuildError) as caught:
        registry.runner("video_i2v").build_workflow(_solo_beat(shot), ctx)

    message = str(caught.value)
    assert "EP001_SH04" in message
    assert str(tmp_path / "frames" / "missing.png") in message


def test_relative_frame_paths_resolve_against_the_plan(
    registry: InstalledPlugins, tmp_path: Path
) -> None:
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "a.png").write_bytes(b"png")
    shot = _shot("EP001_SH04", frames={"first_frame": "frames/a.png"})
    ctx = _ctx(shot, source_path=str(tmp_path / "plan.json"))

    payload = registry.runner("video_i2v").build_workflow(_solo_beat(shot), ctx).steps[0].payload

    assert payload["first_frame"] == str((tmp_path / "frames" / "a.png").resolve())


def test_frame_urls_are_passed_through(registry: InstalledPlugins) -> None:
    shot = _shot("EP001_SH04", frames={"first_frame": "https://cdn.example/a.png"})
    workflow = registry.runner("video_i2v").build_workflow(_solo_beat(shot), _ctx(shot))
    assert workflow.step("video").payload["first_frame"] == "https://cdn.example/a.png"


def test_beat_naming_a_shot_missing_from_the_plan_is_a_payload_build_error(
    registry: InstalledPlugins,
) -> None:
    shot = _shot("EP001_SH01")
    beat = _solo_beat(_shot("EP001_SH09"))
    with pytest.raises(PayloadBuildError, match="EP001_SH09"):
        registry.runner("video_i2v").build_workflow(beat, _ctx(shot))
