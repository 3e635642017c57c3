"""Glue between a finished step and the kernel's render writer: name, provenance, sidecar."""

from __future__ import annotations

from pathlib import Path

from recoil_core.contracts.provider import JobStatus
from recoil_core.model import Beat, GroupIdentity, Take, WorkflowStep
from recoil_core.render import RenderRecord, build_provenance, render_name, write_render


def output_name(beat: Beat, take: Take, step: WorkflowStep, episode: str, suffix: str) -> str:
    """The runner's name for a step's output, or the one ``render_name`` derives."""
    explicit = step.payload.get("output_filename")
    if isinstance(explicit, str) and explicit:
        marker = f"_v{take.version}"
        if take.version > 1 and marker not in explicit:
            # a runner that named it without the version would overwrite an earlier
            # version's paid render
            stem, dot, ext = explicit.rpartition(".")
            return f"{stem}{marker}.{ext}" if dot and stem else f"{explicit}{marker}"
        return explicit
    identity = beat.grouping or GroupIdentity("solo", 0, beat.shot_ids or [beat.beat_id])
    last = step is take.workflow.steps[-1]
    return render_name(
        identity,
        episode=episode,
        take_number=take.index + 1,
        version=take.version,
        suffix=suffix,
        tag=None if last else step.step_id.replace("_", "-"),
    )


def render_media(
    *,
    renders_dir: Path,
    project: str,
    episode: str,
    beat: Beat,
    take: Take,
    step: WorkflowStep,
    status: JobStatus,
    media: Path,
    provider_version: str | None,
) -> RenderRecord:
    """Move a downloaded media file into place with its provenance sidecar."""
    provenance = build_provenance(
        beat,
        take,
        step,
        provider_version=provider_version,
        cost_usd=status.cost_usd,
        provider_metadata=status.metadata,
        project=project,
        episode=episode,
    )
    name = output_name(beat, take, step, episode, status.media_suffix)
    return write_render(renders_dir, name, media, provenance)
