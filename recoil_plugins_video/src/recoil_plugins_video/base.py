"""VideoRunnerBase: the workflow (keyframe + video steps) every video modality runner builds.

Subclasses set ``modality`` and say whether they need a first frame or reference images;
payload assembly and pass-config handling live here once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import attrs

from recoil_core.api import Beat, BuildContext, CanonicalShot, Workflow, WorkflowStep
from recoil_plugins_video.payload import (
    apply_pass_config,
    beat_identity,
    beat_segments,
    compose_prompt,
    output_filename,
    plan_default,
    plan_flag,
    plan_shots,
    resolve_frame,
    segment_dicts,
)

VIDEO_STEP = "video"
KEYFRAME_STEP = "kf"
KEYFRAME_MODALITY = "image_t2i"
DEFAULT_PREVIS_MODEL = "previs"
NO_IMAGE_PROVIDER = "text_to_video: no image_t2i provider configured"


@attrs.frozen
class KeyframePlan:
    """The keyframe steps feeding the video step, its inputs, and any fallback taken."""

    steps: tuple[WorkflowStep, ...] = ()
    inputs: dict[str, str] = attrs.field(factory=dict)
    source: str = "none"
    """``plan`` (frames from the plan), ``generated`` (keyframe steps) or ``none``."""
    fallback: str | None = None


def keyframe_step(
    step_id: str,
    beat: Beat,
    shot: CanonicalShot,
    ctx: BuildContext,
    video_payload: dict[str, Any],
    *,
    tag: str | None,
    provider: str | None,
) -> WorkflowStep:
    """An ``image_t2i`` step rendering the opening frame of ``shot`` for this beat."""
    segments = [s for s in video_payload["segments"] if s["shot_id"] == shot.shot_id]
    model = shot.previs_model or DEFAULT_PREVIS_MODEL
    payload: dict[str, Any] = {
        "prompt": segments[0]["prompt"] if segments else shot.prompt,
        "model": model,
        "aspect_ratio": video_payload["aspect_ratio"],
        "resolution": video_payload["resolution"],
        "shot_id": shot.shot_id,
        "grouping": video_payload["grouping"],
        "output_filename": output_filename(beat, ctx, suffix=".png", tag=tag),
        "segments": segments,
    }
    return WorkflowStep(
        step_id=step_id, modality=KEYFRAME_MODALITY, payload=payload, provider=provider, model=model
    )


def opening_and_closing_shots(
    beat: Beat, shots: Sequence[CanonicalShot], ctx: BuildContext
) -> tuple[CanonicalShot, CanonicalShot]:
    """The shots of the beat's first and last real segments (its first and last shots if none)."""
    real = [ctx.plan.shot(s.shot_id) for s in beat.segments if s.shot_id is not None]
    ordered = real or list(shots)
    return ordered[0], ordered[-1]


class VideoRunnerBase:
    """Builds ``[keyframe steps..., video step]`` for a beat; subclasses pick the frames."""

    modality: str = "video"
    description: str = "video modality runner"
    needs_first_frame: ClassVar[bool] = False
    """Whether the video step starts from a first frame (made by a keyframe step if absent)."""

    # ------------------------------------------------------------------ workflow

    def build_workflow(self, beat: Beat, ctx: BuildContext) -> Workflow:
        shots = plan_shots(beat, ctx)
        payload = self.build_payload(beat, shots, ctx)
        keyframes = self.plan_keyframes(beat, shots, ctx, payload)
        video = WorkflowStep(
            step_id=VIDEO_STEP,
            modality=self.modality,
            payload=payload,
            provider=ctx.video_provider,
            model=str(payload["model"]),
            inputs=dict(keyframes.inputs),
        )
        return Workflow(
            workflow_id=f"{beat.beat_id}_take_{ctx.take_index}",
            steps=[*keyframes.steps, video],
            provenance={
                "grouping": beat_identity(beat).to_dict(),
                "scene_id": ctx.scene_id,
                "beat_id": beat.beat_id,
                "modality": self.modality,
                "keyframes": keyframes.source,
                "fallback": keyframes.fallback,
            },
        )

    # ------------------------------------------------------------------ payload

    def build_payload(
        self, beat: Beat, shots: Sequence[CanonicalShot], ctx: BuildContext
    ) -> dict[str, Any]:
        """The video step's payload (see the payload conventions), pass config applied."""
        first = shots[0]
        segments = segment_dicts(beat_segments(beat, shots), ctx)
        payload: dict[str, Any] = {
            "prompt": compose_prompt(segments),
            "model": first.video_model,
            "duration_s": float(sum(s["duration_s"] for s in segments)),
            "aspect_ratio": first.aspect_ratio,
            "resolution": first.resolution,
            "seed": first.seed,
            "generate_audio": plan_flag(ctx, "generate_audio")
            or any(shot.has_dialogue for shot in shots),
            "camera_fixed": plan_flag(ctx, "camera_fixed"),
            "watermark": plan_flag(ctx, "watermark"),
            "grouping": beat_identity(beat).to_dict(),
            "shot_ids": list(beat.shot_ids),
            "segments": segments,
            "provider_hints": plan_default(ctx, "provider_hints"),
            "element_config": plan_default(ctx, "element_config"),
            "output_filename": output_filename(beat, ctx),
        }
        payload.update(self.frame_fields(beat, shots, ctx))
        return apply_pass_config(payload, beat)

    def frame_fields(
        self, beat: Beat, shots: Sequence[CanonicalShot], ctx: BuildContext
    ) -> dict[str, Any]:
        """``first_frame`` / ``last_frame`` from the plan: the first shot's opening frame and
        the last shot's closing frame, local paths checked."""
        fields: dict[str, Any] = {}
        first, last = opening_and_closing_shots(beat, shots, ctx)
        if first.frames.get("first_frame"):
            fields["first_frame"] = resolve_frame(
                beat, first.shot_id, "first_frame", first.frames["first_frame"], ctx
            )
        if last.frames.get("last_frame"):
            fields["last_frame"] = resolve_frame(
                beat, last.shot_id, "last_frame", last.frames["last_frame"], ctx
            )
        return fields

    # ------------------------------------------------------------------ keyframes

    def plan_keyframes(
        self,
        beat: Beat,
        shots: Sequence[CanonicalShot],
        ctx: BuildContext,
        payload: dict[str, Any],
    ) -> KeyframePlan:
        """A keyframe step for the first frame when the runner needs one and the plan has none;
        text-to-video (recorded as the fallback) when no image provider is configured."""
        if not self.needs_first_frame:
            return KeyframePlan()
        if "first_frame" in payload:
            return KeyframePlan(source="plan")
        if ctx.image_provider is None:
            return KeyframePlan(fallback=NO_IMAGE_PROVIDER)
        opening, _ = opening_and_closing_shots(beat, shots, ctx)
        step = keyframe_step(
            KEYFRAME_STEP, beat, opening, ctx, payload, tag="kf", provider=ctx.image_provider
        )
        return KeyframePlan(
            steps=(step,), inputs={"first_frame": KEYFRAME_STEP}, source="generated"
        )


__all__ = [
    "DEFAULT_PREVIS_MODEL",
    "KEYFRAME_STEP",
    "NO_IMAGE_PROVIDER",
    "VIDEO_STEP",
    "KeyframePlan",
    "VideoRunnerBase",
    "keyframe_step",
    "opening_and_closing_shots",
]
