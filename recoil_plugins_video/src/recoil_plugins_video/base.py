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
    DEFAULT_PROMPT_TEMPLATE,
    apply_pass_config,
    asset_references,
    assets_used,
    beat_identity,
    beat_segments,
    cast_prompt,
    compose_prompt,
    model_limits,
    output_filename,
    plan_default,
    plan_flag,
    plan_shots,
    resolve_frame,
    segment_dicts,
    unit_cast,
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


@attrs.frozen
class ReferencePlacement:
    """Where a unit's asset references went: the video step's payload, the keyframe step
    (a model that takes no references beside frames), and what was dropped and why."""

    keyframe: tuple[str, ...] = ()
    dropped: tuple[dict[str, str], ...] = ()


def _dropped(references: Sequence[tuple[str, str]], reason: str) -> tuple[dict[str, str], ...]:
    return tuple({"asset": a, "reference": r, "reason": reason} for a, r in references)


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
        cast = unit_cast(beat, shots, ctx)
        placement = self.place_references(payload, asset_references(cast), ctx)
        keyframes = self.plan_keyframes(beat, shots, ctx, payload)
        dropped = list(placement.dropped)
        if placement.keyframe:
            if keyframes.steps:
                for step in keyframes.steps:
                    step.payload["reference_images"] = list(placement.keyframe)
            else:  # no first frame after all (text to video): no frames to mix with
                payload["reference_images"] = list(placement.keyframe)
        video = WorkflowStep(
            step_id=VIDEO_STEP,
            modality=self.modality,
            payload=payload,
            provider=ctx.video_provider,
            model=str(payload["model"]),
            inputs=dict(keyframes.inputs),
        )
        provenance: dict[str, Any] = {
            "grouping": beat_identity(beat).to_dict(),
            "scene_id": ctx.scene_id,
            "beat_id": beat.beat_id,
            "modality": self.modality,
            "keyframes": keyframes.source,
            "fallback": keyframes.fallback,
        }
        used = assets_used(cast)
        if used:
            provenance["assets"] = used
            provenance["references_dropped"] = dropped
        return Workflow(
            workflow_id=f"{beat.beat_id}_take_{ctx.take_index}",
            steps=[*keyframes.steps, video],
            provenance=provenance,
        )

    # ------------------------------------------------------------------ references

    prompt_template: ClassVar[str] = DEFAULT_PROMPT_TEMPLATE
    """``{prompt}`` then ``{cast}``; a plan's ``prompt_templates[modality]`` overrides it."""
    max_reference_images: ClassVar[int | None] = None
    """References per request when the provider declares no limit for the model."""
    frames_with_references: ClassVar[bool] = False
    """Whether the model takes references beside first/last frames when the provider does
    not say (Seedance 2.0 does not, so the safe default is no)."""

    def reference_limits(
        self, payload: dict[str, Any], ctx: BuildContext
    ) -> tuple[int | None, bool]:
        """(most references per request, frames and references together) for the model."""
        return model_limits(
            ctx,
            str(payload["model"]),
            max_references=self.max_reference_images,
            frames_with_references=self.frames_with_references,
        )

    def place_references(
        self, payload: dict[str, Any], references: Sequence[tuple[str, str]], ctx: BuildContext
    ) -> ReferencePlacement:
        """Put the unit's asset references (asset id, image) into the request within the
        model's limits: beside the frames when it takes both; else into the keyframe that
        makes the first frame; a plan frame wins over them (said in ``dropped``)."""
        if not references:
            return ReferencePlacement()
        limit, mixing = self.reference_limits(payload, ctx)
        model = payload["model"]
        kept, over = list(references), []
        if limit is not None and len(kept) > limit:
            kept, over = kept[:limit], kept[limit:]
        dropped = _dropped(over, f"model {model} takes at most {limit} reference images")
        framed = [role for role in ("first_frame", "last_frame") if role in payload]
        images = [image for _asset, image in kept]
        if framed and not mixing:
            reason = (
                f"model {model} takes no reference images beside first/last frames; "
                f"the plan's {' and '.join(framed)} is used"
            )
            return ReferencePlacement(dropped=dropped + _dropped(kept, reason))
        if self.needs_first_frame and not framed and not mixing:
            return ReferencePlacement(keyframe=tuple(images), dropped=dropped)
        payload["reference_images"] = images
        return ReferencePlacement(dropped=dropped)

    # ------------------------------------------------------------------ payload

    def build_payload(
        self, beat: Beat, shots: Sequence[CanonicalShot], ctx: BuildContext
    ) -> dict[str, Any]:
        """The video step's payload (see the payload conventions), pass config applied."""
        first = shots[0]
        segments = segment_dicts(beat_segments(beat, shots), ctx)
        prompt = compose_prompt(segments)
        cast = unit_cast(beat, shots, ctx)
        payload: dict[str, Any] = {
            "prompt": cast_prompt(prompt, cast, ctx, self.modality, self.prompt_template),
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
    "ReferencePlacement",
    "VideoRunnerBase",
    "keyframe_step",
    "opening_and_closing_shots",
]
