"""The r2v_multi runner through the registry: grouping in payload and provenance (seed row
S17), reference images from the plan, generated references, text-to-video fallback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from recoil_core.api import (
    Beat,
    BuildContext,
    CanonicalPlan,
    CanonicalShot,
    GroupIdentity,
    Segment,
    shotset_hash,
)
from recoil_core.testing.installed import InstalledPlugins

PASS_ID = "EP001_PASS_011_SH01_02_A_JADE"


@pytest.fixture(scope="module")
def registry() -> InstalledPlugins:
    return InstalledPlugins()


def _shot(shot_id: str, index: int, **kwargs: Any) -> CanonicalShot:
    options: dict[str, Any] = {
        "sequence_id": "SEQ11",
        "scene_index": index,
        "location_id": "LOC_A",
        "duration_s": 2.0,
        "prompt": f"prompt of {shot_id}",
        **kwargs,
    }
    return CanonicalShot(shot_id=shot_id, **options)


def _ctx(*shots: CanonicalShot, image_provider: str | None = None) -> BuildContext:
    return BuildContext(
        project="p",
        episode="ep_001",
        scene_id=PASS_ID,
        plan=CanonicalPlan(project="p", episode_id="EP001", shots=shots),
        take_index=0,
        video_provider="seeddance",
        image_provider=image_provider,
    )


def _coverage_beat(*segments: Segment, shot_ids: tuple[str, ...] | None = None) -> Beat:
    ids = shot_ids or tuple(dict.fromkeys(s.shot_id for s in segments if s.shot_id))
    return Beat(
        beat_id=f"{PASS_ID}__cov",
        modality="r2v_multi",
        grouping=GroupIdentity("coverage", 11, ids, PASS_ID),
        segments=list(segments),
    )


def _two_segments() -> tuple[Segment, Segment]:
    return Segment("EP001_SH01", 1.0, "a"), Segment("EP001_SH02", 1.0, "b")


def test_s17_workflow_payload_and_provenance_carry_the_beat_grouping(
    registry: InstalledPlugins,
) -> None:
    grouping = {
        "strategy": "coverage",
        "ordinal": 11,
        "shot_ids": ["EP001_SH01", "EP001_SH02"],
        "source_pass_id": PASS_ID,
        "shotset_hash": shotset_hash(["EP001_SH01", "EP001_SH02"]),
    }
    beat = _coverage_beat(*_two_segments())
    assert beat.grouping is not None and beat.grouping.to_dict() == grouping

    workflow = registry.runner("r2v_multi").build_workflow(
        beat, _ctx(_shot("EP001_SH01", 1), _shot("EP001_SH02", 2))
    )
    payload = workflow.step("video").payload

    assert payload["grouping"] == grouping
    assert payload["output_filename"] == "EP001_COV_011_SH01_02_take1.mp4"
    assert workflow.provenance["grouping"] == grouping
    assert workflow.provenance["modality"] == "r2v_multi"
    assert payload["shot_ids"] == ["EP001_SH01", "EP001_SH02"]
    assert all("pass_counter" not in step.payload for step in workflow.steps)
    assert "pass_counter" not in workflow.provenance


def test_references_come_from_the_shots_frames_in_segment_order(
    registry: InstalledPlugins, tmp_path: Path
) -> None:
    files = {}
    for name in ("f1", "r1", "f2"):
        files[name] = tmp_path / f"{name}.png"
        files[name].write_bytes(name.encode())
    shots = [
        _shot(
            "EP001_SH01",
            1,
            frames={"first_frame": str(files["f1"]), "reference_image_1": str(files["r1"])},
        ),
        _shot(
            "EP001_SH02",
            2,
            frames={"first_frame": str(files["f2"]), "last_frame": str(files["f1"])},
        ),
    ]
    beat = _coverage_beat(Segment("EP001_SH02", 1.0, "b"), Segment("EP001_SH01", 1.0, "a"))

    workflow = registry.runner("r2v_multi").build_workflow(
        beat, _ctx(*shots, image_provider="images")
    )

    (video,) = workflow.steps
    assert video.payload["reference_images"] == [
        str(files["f2"].resolve()),
        str(files["f1"].resolve()),
        str(files["r1"].resolve()),
    ]
    assert "first_frame" not in video.payload
    assert "last_frame" not in video.payload
    assert workflow.provenance["keyframes"] == "plan"


def test_references_are_capped_at_nine(registry: InstalledPlugins, tmp_path: Path) -> None:
    shots = []
    for index in range(1, 12):
        frame = tmp_path / f"{index}.png"
        frame.write_bytes(b"png")
        shots.append(_shot(f"EP001_SH{index:02d}", index, frames={"first_frame": str(frame)}))
    beat = _coverage_beat(*[Segment(s.shot_id, 1.0) for s in shots])

    payload = registry.runner("r2v_multi").build_workflow(beat, _ctx(*shots)).steps[0].payload

    assert len(payload["reference_images"]) == 9
    assert payload["reference_images_dropped"] == 2


def test_wildcard_segments_keep_their_prompts(registry: InstalledPlugins) -> None:
    beat = _coverage_beat(
        Segment("EP001_SH01", 1.0, "a"),
        Segment(None, 1.5, "wide establishing sweep", "WS"),
        Segment("EP001_SH02", 1.0, "b"),
    )

    payload = (
        registry.runner("r2v_multi")
        .build_workflow(beat, _ctx(_shot("EP001_SH01", 1), _shot("EP001_SH02", 2)))
        .step("video")
        .payload
    )

    wildcard = payload["segments"][1]
    assert wildcard == {
        "shot_id": None,
        "duration_s": 1.5,
        "prompt": "wide establishing sweep",
        "shot_type": "WS",
        "location_id": None,
        "characters": [],
    }
    assert payload["prompt"] == "[0-1s] a [1-2.5s] wide establishing sweep [2.5-3.5s] b"
    assert payload["duration_s"] == 3.5


def test_without_plan_references_one_keyframe_per_real_shot_feeds_the_video(
    registry: InstalledPlugins,
) -> None:
    beat = _coverage_beat(
        Segment("EP001_SH01", 1.0, "a"), Segment(None, 1.0, "w"), Segment("EP001_SH02", 1.0, "b")
    )

    workflow = registry.runner("r2v_multi").build_workflow(
        beat, _ctx(_shot("EP001_SH01", 1), _shot("EP001_SH02", 2), image_provider="images")
    )

    kf1, kf2, video = workflow.steps
    assert [(s.step_id, s.modality, s.provider) for s in (kf1, kf2)] == [
        ("kf_1", "image_t2i", "images"),
        ("kf_2", "image_t2i", "images"),
    ]
    assert (kf1.payload["shot_id"], kf1.payload["prompt"]) == ("EP001_SH01", "a")
    assert kf2.payload["output_filename"] == "EP001_COV_011_SH01_02_take1_kf2.png"
    assert video.inputs == {"reference_image_1": "kf_1", "reference_image_2": "kf_2"}
    assert video.payload["reference_images"] == []
    assert workflow.provenance["keyframes"] == "generated"


def test_without_references_or_image_provider_r2v_is_text_to_video(
    registry: InstalledPlugins,
) -> None:
    beat = _coverage_beat(*_two_segments())

    workflow = registry.runner("r2v_multi").build_workflow(
        beat, _ctx(_shot("EP001_SH01", 1), _shot("EP001_SH02", 2))
    )

    (video,) = workflow.steps
    assert video.modality == "r2v_multi"
    assert video.payload["reference_images"] == []
    assert workflow.provenance["fallback"].startswith("text_to_video:")
