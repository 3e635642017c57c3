"""Glue between a finished step and the kernel's render writer: name, provenance, sidecar."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from recoil_core.interfaces import JobStatus
from recoil_core.model import Beat, GroupIdentity, Take, WorkflowStep
from recoil_core.render import RenderRecord, render_name, write_render


def _sha256(path: Path) -> str | None:
    try:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()
    except OSError:
        return None


def output_name(beat: Beat, take: Take, step: WorkflowStep, episode: str, suffix: str) -> str:
    explicit = step.payload.get("output_filename")
    if isinstance(explicit, str) and explicit:
        return explicit
    identity = beat.grouping or GroupIdentity("solo", 0, beat.shot_ids or [beat.beat_id])
    last = step is take.workflow.steps[-1]
    return render_name(
        identity,
        episode=episode,
        take_number=take.index + 1,
        suffix=suffix,
        tag=None if last else step.step_id,
    )


def render_media(
    *,
    renders_dir: Path,
    episode: str,
    scene_id: str,
    beat: Beat,
    take: Take,
    step: WorkflowStep,
    status: JobStatus,
    media: Path,
    provider_version: str | None,
) -> RenderRecord:
    """Move a downloaded media file into place with its provenance sidecar."""
    inputs: dict[str, Any] = {}
    for role, source_id in step.inputs.items():
        source = take.workflow.step(source_id)
        path = source.receipt.run_result.output_path if source.receipt else None
        if path:
            inputs[role] = {"path": path, "sha256": _sha256(Path(path))}
    for role in ("first_frame", "last_frame"):
        value = step.payload.get(role)
        if isinstance(value, str) and role not in inputs:
            local = Path(value)
            inputs[role] = {"path": value, "sha256": _sha256(local) if local.exists() else None}
    provenance: dict[str, Any] = {
        "grouping": beat.grouping.to_dict() if beat.grouping else None,
        "scene_id": scene_id,
        "beat_id": beat.beat_id,
        "take_id": take.take_id,
        "step_id": step.step_id,
        "modality": step.modality,
        "shots": beat.shot_ids,
        "prompt": step.payload.get("prompt"),
        "model": step.model,
        "provider": step.provider,
        "provider_version": provider_version,
        "job_id": step.job_id,
        "seed": step.payload.get("seed") if step.payload.get("seed") is not None else step.seed,
        "cost_usd": status.cost_usd,
        "timings": {
            "submitting_at": step.submitting_at,
            "submitted_at": step.submitted_at,
        },
        "inputs": inputs,
        "workflow": take.workflow.provenance,
        "provider_metadata": dict(status.metadata),
    }
    name = output_name(beat, take, step, episode, status.media_suffix)
    return write_render(renders_dir, name, media, provenance)
