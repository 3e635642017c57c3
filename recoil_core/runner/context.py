"""What every dispatch step works on: the scene session, the run's dispatch options, and a
:class:`TakeContext` naming the take being moved (its scene and beat with it)."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from recoil_core.contracts.provider import SubmitRequest
from recoil_core.errors import AuthenticationFailed
from recoil_core.model import Beat, Scene, Take, WorkflowStep


@attrs.define
class SceneSession:
    """A scene being run: the active version it was loaded at, and whether it may grow takes."""

    scene: Scene
    version: int
    dispatch_new_takes: bool = True
    needs_create: bool = False
    """A new scene not written yet: its first save creates it as version 1."""
    lock: asyncio.Lock = attrs.field(factory=asyncio.Lock, eq=False, repr=False)
    saves_asked: int = attrs.field(default=0, eq=False, repr=False)
    """Saves of the scene asked for so far (see :meth:`Journal.save`)."""
    saved_through: int = attrs.field(default=0, eq=False, repr=False)
    """The last save whose state a completed write holds: every save asked up to it."""


@attrs.frozen
class DispatchOptions:
    project: str
    episode: str
    video_provider: str
    image_provider: str | None
    renders_dir: Path
    resubmit_unknown: bool = False
    auto_resubmit: bool = True
    """Resubmit a lost create by itself once the provider's search has missed it twice."""
    creates: bool = True
    """False (``recoil reconcile``): follow jobs the takes own, never create one."""
    job_timeout_s: float | None = None
    poll_interval_s: float | None = None
    settings: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class TakeContext:
    """The take a dispatch step moves, with the scene session and beat it belongs to."""

    session: SceneSession
    beat: Beat
    take: Take

    @property
    def scene_id(self) -> str:
        return self.session.scene.scene_id


class StepOutcome(enum.StrEnum):
    """How running one step ended for its take."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PENDING = "pending"
    """Not settled in this run: the take keeps its state (and its job) for a later one."""


@attrs.define
class Refusal:
    """The run's first refusal of the credentials: once seen, no create leaves this run."""

    first: AuthenticationFailed | None = None

    def note(self, exc: AuthenticationFailed) -> AuthenticationFailed:
        """Remember ``exc`` unless a refusal was seen already; return the first one, to raise."""
        self.first = self.first or exc
        return self.first


def parse_time(value: str | None) -> datetime | None:
    """An ISO time a step recorded, or None."""
    return datetime.fromisoformat(value) if value else None


def request_for(ctx: TakeContext, step: WorkflowStep) -> SubmitRequest:
    """What the provider is sent (or searched by) for the take's step."""
    inputs: dict[str, Path] = {}
    for role, source_id in step.inputs.items():
        source = ctx.take.workflow.step(source_id)
        path = source.receipt.run_result.output_path if source.receipt else None
        if path:
            inputs[role] = Path(path)
    return SubmitRequest(
        take_id=ctx.take.take_id,
        step_id=step.step_id,
        modality=step.modality,
        model=step.model or "",
        payload=step.payload,
        seed=step.seed if step.seed is not None else -1,
        inputs=inputs,
        submitting_at=parse_time(step.submitting_at),
        request_key=step.request_key or "",
    )
