"""The image_t2i keyframe runner of the video runner base through the registry: one image
per shot of a keyframe-only beat, and the error without an image provider."""

from __future__ import annotations

from collections.abc import Mapping
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
)
from recoil_core.testing.installed import InstalledPlugins


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
    defaults: Mapping[str, Any] | None = None,
) -> BuildContext:
    plan = CanonicalPlan(
        project="p", episode_id="EP001", shots=shots, defaults=dict(defaults or {})
    )
    return BuildContext(
        project="p",
        episode="ep_001",
        scene_id="SCENE",
        plan=plan,
        take_index=0,
        video_provider="animatic",
        image_provider=image_provider,
    )


def _solo_beat(shot: CanonicalShot) -> Beat:
    return Beat(
        beat_id=shot.shot_id,
        modality="video_i2v",
        grouping=GroupIdentity("solo", 0, (shot.shot_id,)),
        segments=[Segment(shot.shot_id, shot.duration_s, shot.prompt)],
    )


def test_keyframe_only_beat_renders_one_image_per_shot(registry: InstalledPlugins) -> None:
    shot = _shot("EP001_SH01")
    beat = Beat(
        beat_id="EP001_SH01",
        modality="image_t2i",
        grouping=GroupIdentity("solo", 0, ("EP001_SH01",)),
        segments=[Segment("EP001_SH01", 2.0)],
    )

    workflow = registry.runner("image_t2i").build_workflow(
        beat, _ctx(shot, image_provider="images")
    )

    (step,) = workflow.steps
    assert (step.step_id, step.modality, step.provider, step.model) == (
        "kf",
        "image_t2i",
        "images",
        "previs",
    )
    assert step.payload["output_filename"] == "EP001_SH1_take1.png"
    assert workflow.provenance["grouping"] == beat.grouping.to_dict()  # type: ignore[union-attr]


def test_keyframe_only_beat_of_several_shots_tags_each_image(registry: InstalledPlugins) -> None:
    shots = [_shot("EP001_SH01", 1), _shot("EP001_SH02", 2, previs_model="flux")]
    beat = Beat(
        beat_id="BATCH_001__cont",
        modality="image_t2i",
        grouping=GroupIdentity("continuity", 1, ("EP001_SH01", "EP001_SH02")),
        segments=[Segment("EP001_SH01", 2.0), Segment("EP001_SH02", 2.0)],
    )

    workflow = registry.runner("image_t2i").build_workflow(
        beat, _ctx(*shots, image_provider="images")
    )

    assert [(s.step_id, s.model, s.payload["output_filename"]) for s in workflow.steps] == [
        ("kf_1", "previs", "EP001_CONT_001_SH01_02_take1_kf1.png"),
        ("kf_2", "flux", "EP001_CONT_001_SH01_02_take1_kf2.png"),
    ]


def test_keyframe_only_beat_without_image_provider_is_a_payload_build_error(
    registry: InstalledPlugins,
) -> None:
    shot = _shot("EP001_SH01")
    with pytest.raises(PayloadBuildError, match="image_t2i provider"):
        registry.runner("image_t2i").build_workflow(_solo_beat(shot), _ctx(shot))
