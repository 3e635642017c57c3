"""ImageT2IRunner: keyframe-only beats, one ``image_t2i`` step per real shot of the beat."""

from __future__ import annotations

from recoil_core.api import Beat, BuildContext, PayloadBuildError, Workflow
from recoil_plugins_video.base import KEYFRAME_STEP, VideoRunnerBase, keyframe_step
from recoil_plugins_video.payload import apply_pass_config, beat_identity, plan_shots

IMAGE_MODALITY = "image_t2i"


class ImageT2IRunner:
    """Renders the opening frame of each shot of a beat with the configured image provider.

    A keyframe-only beat is asked for its images, so plan frames do not skip these steps.
    One shot: step ``kf``, file ``EP001_SH1_take1.png``; several: ``kf_1``.. tagged ``kf1``..
    """

    modality: str = IMAGE_MODALITY
    description: str = "keyframe images (text to image), one per shot of the beat"

    def build_workflow(self, beat: Beat, ctx: BuildContext) -> Workflow:
        if ctx.image_provider is None:
            raise PayloadBuildError(
                beat.beat_id,
                "the beat renders keyframes but no image_t2i provider is configured; "
                "choose a provider that serves image_t2i",
            )
        shots = plan_shots(beat, ctx)
        video_payload = VideoRunnerBase().build_payload(beat, shots, ctx)
        single = len(shots) == 1
        steps = []
        for number, shot in enumerate(shots, start=1):
            step = keyframe_step(
                KEYFRAME_STEP if single else f"{KEYFRAME_STEP}_{number}",
                beat,
                shot,
                ctx,
                video_payload,
                tag=None if single else f"kf{number}",
                provider=ctx.image_provider,
            )
            apply_pass_config(step.payload, beat)
            step.model = str(step.payload["model"])
            steps.append(step)
        return Workflow(
            workflow_id=f"{beat.beat_id}_take_{ctx.take_index}",
            steps=steps,
            provenance={
                "grouping": beat_identity(beat).to_dict(),
                "scene_id": ctx.scene_id,
                "beat_id": beat.beat_id,
                "modality": self.modality,
                "keyframes": "generated",
                "fallback": None,
            },
        )
