"""A scene's copy() is a deep snapshot: the same document, and changing the scene (its
takes, steps, receipts, free-form data) afterwards leaves the copy as it was."""

from __future__ import annotations

from recoil_core.convert import converter
from recoil_core.model import (
    Beat,
    GenerationReceipt,
    GroupIdentity,
    RunResult,
    Scene,
    Segment,
    StepState,
    TakeState,
    Workflow,
    WorkflowStep,
)


def scene_with_a_take() -> Scene:
    step = WorkflowStep(
        step_id="video",
        modality="video_i2v",
        payload={"prompt": "walk", "shot_ids": ["EP001_SH05"], "nested": {"a": [1]}},
        inputs={"first_frame": "kf"},
    )
    step.receipt = GenerationReceipt(
        receipt_id="r1",
        take_id="B_take_0",
        step_id="video",
        modality="video_i2v",
        provider="animatic",
        model="previs",
        job_id="anim-1",
        timestamp_utc="2025-01-01T00:00:00+00:00",
        run_result=RunResult(success=True, metadata={"frames": [1, 2]}),
    )
    beat = Beat(
        beat_id="B",
        grouping=GroupIdentity("solo", 0, ("EP001_SH05",)),
        segments=[Segment("EP001_SH05", 4.0)],
        generation_config={"tier": {"name": "pro"}},
    )
    beat.new_take(Workflow("wf", [step], {"scene_id": "S", "grouping": {"strategy": "solo"}}))
    return Scene(scene_id="S", beats=[beat, Beat(beat_id="C")], metadata={"k": ["v"]})


def test_a_copy_is_the_same_document() -> None:
    scene = scene_with_a_take()

    copied = scene.copy()

    assert copied == scene
    assert converter.unstructure(copied) == converter.unstructure(scene)


def test_changing_the_scene_leaves_its_copy_as_it_was() -> None:
    scene = scene_with_a_take()
    copied = scene.copy()
    before = converter.unstructure(copied)

    take = scene.beats[0].takes[0]
    step = take.workflow.steps[0]
    take.state = TakeState.SUBMITTED
    take.metadata["note"] = "x"
    step.state = StepState.SUBMITTED
    step.payload["nested"]["a"].append(2)
    step.inputs["last_frame"] = "kf2"
    assert step.receipt is not None
    step.receipt.run_result.metadata["frames"].append(3)
    take.workflow.provenance["grouping"]["strategy"] = "oner"
    scene.beats[0].generation_config["tier"]["name"] = "lite"
    scene.beats[0].takes.append(take)
    scene.beats.append(Beat(beat_id="D"))
    scene.metadata["k"].append("w")

    assert converter.unstructure(copied) == before
