"""A finished step's render written the way the episode runner writes it, for tests of
what a runner's workflow becomes on disk (render name, provenance sidecar)::

    path = write_step_render(beat, workflow, tmp_path / "renders", media=b"clip")
    sidecar = json.loads(path.with_name(path.name + ".json").read_text())
"""

from __future__ import annotations

from pathlib import Path

from recoil_core.contracts.provider import JobStatus
from recoil_core.model import Beat, Workflow
from recoil_core.runner.renders import render_media

__all__ = ["write_step_render"]


def write_step_render(
    beat: Beat,
    workflow: Workflow,
    renders_dir: Path,
    *,
    media: bytes,
    step_id: str = "video",
    cost_usd: float = 0.0,
    project: str = "p",
    episode: str = "EP001",
    media_suffix: str = ".mp4",
) -> Path:
    """Write ``media`` as the render of step ``step_id`` of a new take of ``beat`` running
    ``workflow``, as the runner does once the job is downloaded: named by the step's
    ``output_filename`` (else from the beat's grouping identity), with its provenance
    sidecar ``<name>.json`` beside it. Returns the render's path."""
    take = beat.new_take(workflow)
    step = workflow.step(step_id)
    renders_dir.mkdir(parents=True, exist_ok=True)
    download = renders_dir / f"{take.take_id}_{step_id}.part"
    download.write_bytes(media)
    status = JobStatus(
        job_id=f"{take.take_id}-{step_id}",
        state="succeeded",
        cost_usd=cost_usd,
        media_suffix=media_suffix,
    )
    record = render_media(
        renders_dir=renders_dir,
        project=project,
        episode=episode,
        beat=beat,
        take=take,
        step=step,
        status=status,
        media=download,
        provider_version=None,
    )
    return record.path
