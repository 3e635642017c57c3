"""R2VMultiRunner: one multi-shot clip guided by reference images of the beat's shots."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from recoil_plugins_video.base import (
    KEYFRAME_STEP,
    KeyframePlan,
    ReferencePlacement,
    VideoRunnerBase,
    keyframe_step,
)
from recoil_plugins_video.payload import reference_frames, resolve_frame

from recoil_core.api import Beat, BuildContext, CanonicalShot

MAX_REFERENCE_IMAGES = 9
"""Seedance 2.0 takes at most 9 reference images per request."""
REFERENCE_ROLE = "reference_image_{}"
"""Input role of the n-th generated reference (1-based), fed by step ``kf_<n>``."""
NO_REFERENCES = (
    "text_to_video: no reference images in the plan and no image_t2i provider configured"
)


class R2VMultiRunner(VideoRunnerBase):
    """Reference-to-video over several shots and segments (wildcards keep their prompts).

    References are the shots' plan frames (first frame, then ``reference*`` frames), in
    segment order, without repeats, capped at 9; first/last frames are not sent (Seedance
    refuses frames mixed with references). With no plan references and an image provider,
    one keyframe per real shot (capped at 9) is rendered and fed in as references
    (input roles ``reference_image_1``..); with neither, the clip is text-to-video.
    """

    modality: str = "r2v_multi"
    description: str = "reference images to one multi-shot video"
    max_reference_images: ClassVar[int] = MAX_REFERENCE_IMAGES

    def place_references(
        self, payload: dict[str, Any], references: Sequence[tuple[str, str]], ctx: BuildContext
    ) -> ReferencePlacement:
        """The unit's asset references first (lead character first, location last), then
        the plan's shot references, each once, within the model's limit; the rest dropped."""
        if not references:
            return ReferencePlacement()
        limit, _mixing = self.reference_limits(payload, ctx)
        combined: dict[str, str] = {}
        for asset_id, image in references:
            combined.setdefault(image, asset_id)
        for image in payload.get("reference_images") or []:
            combined.setdefault(image, "plan")
        ordered = [(asset_id, image) for image, asset_id in combined.items()]
        kept, over = ordered, []
        if limit is not None and len(ordered) > limit:
            kept, over = ordered[:limit], ordered[limit:]
        payload["reference_images"] = [image for _asset, image in kept]
        earlier = int(payload.pop("reference_images_dropped", 0))
        if over or earlier:
            payload["reference_images_dropped"] = len(over) + earlier
        reason = f"model {payload['model']} takes at most {limit} reference images"
        return ReferencePlacement(
            dropped=tuple({"asset": a, "reference": r, "reason": reason} for a, r in over)
        )

    def frame_fields(
        self, beat: Beat, shots: Sequence[CanonicalShot], ctx: BuildContext
    ) -> dict[str, Any]:
        references: dict[str, None] = {}
        for shot in _segment_order(beat, shots, ctx):
            for role, value in reference_frames(shot):
                references.setdefault(resolve_frame(beat, shot.shot_id, role, value, ctx), None)
        found = list(references)
        fields: dict[str, Any] = {"reference_images": found[: self.max_reference_images]}
        if len(found) > self.max_reference_images:
            fields["reference_images_dropped"] = len(found) - self.max_reference_images
        return fields

    def plan_keyframes(
        self,
        beat: Beat,
        shots: Sequence[CanonicalShot],
        ctx: BuildContext,
        payload: dict[str, Any],
    ) -> KeyframePlan:
        if payload.get("reference_images"):
            return KeyframePlan(source="plan")
        if ctx.image_provider is None:
            return KeyframePlan(fallback=NO_REFERENCES)
        ordered = _segment_order(beat, shots, ctx)[: self.max_reference_images]
        steps = []
        inputs: dict[str, str] = {}
        for number, shot in enumerate(ordered, start=1):
            step_id = f"{KEYFRAME_STEP}_{number}"
            steps.append(
                keyframe_step(
                    step_id,
                    beat,
                    shot,
                    ctx,
                    payload,
                    tag=f"kf{number}",
                    provider=ctx.image_provider,
                )
            )
            inputs[REFERENCE_ROLE.format(number)] = step_id
        return KeyframePlan(steps=tuple(steps), inputs=inputs, source="generated")


def _segment_order(
    beat: Beat, shots: Sequence[CanonicalShot], ctx: BuildContext
) -> list[CanonicalShot]:
    """The beat's real shots in segment order, without repeats (its shots if no segments)."""
    ids = [s.shot_id for s in beat.segments if s.shot_id is not None]
    if not ids:
        return list(shots)
    return [ctx.plan.shot(sid) for sid in dict.fromkeys(ids)]
