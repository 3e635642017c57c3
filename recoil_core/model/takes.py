"""Takes and their workflows: steps (one provider call each), receipts, take and step states.

Takes are documents the runner moves through the take state machine, so they are mutable;
every change to them is persisted by the runner before the side effect that follows it.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from typing import Any

import attrs

from recoil_core.model.base import copy_data, utc_now


class StepState(enum.StrEnum):
    """The state of one workflow step (one provider call); see ``FINAL_STEP_STATES``."""

    PLANNED = "planned"
    SKIPPED = "skipped"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    FAILED_BUT_BILLED = "failed_but_billed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


@attrs.define
class RunResult:
    """What one executed step produced."""

    success: bool
    output_path: str | None = None
    output_sha256: str | None = None
    cost_usd: float = 0.0
    error_code: str | None = None
    error: str | None = None
    metadata: dict[str, Any] = attrs.field(factory=dict)

    def copy(self) -> RunResult:
        """A deep copy: changing it leaves this one as it is."""
        return attrs.evolve(self, metadata=copy_data(self.metadata))


@attrs.define
class GenerationReceipt:
    """The record of one paid (or free) generation: who served it, what it cost, what came back."""

    receipt_id: str
    take_id: str
    step_id: str
    modality: str
    provider: str
    model: str
    job_id: str | None
    timestamp_utc: str
    run_result: RunResult

    def copy(self) -> GenerationReceipt:
        """A deep copy: changing it leaves this one as it is."""
        return attrs.evolve(self, run_result=self.run_result.copy())


@attrs.define
class WorkflowStep:
    """One provider call inside a take's workflow (a keyframe, a video...).

    ``inputs`` maps a role of this step's request (``first_frame``) to the ``step_id``
    whose output feeds it. ``payload`` is what the modality runner built; providers map
    it to their own request format.
    """

    step_id: str
    modality: str
    payload: dict[str, Any] = attrs.field(factory=dict)
    provider: str | None = None
    model: str | None = None
    inputs: dict[str, str] = attrs.field(factory=dict)
    state: StepState = StepState.PLANNED
    seed: int | None = None
    job_id: str | None = None
    estimate_usd: float = 0.0
    estimate_source: str | None = None
    """Which price table (and date) the estimate came from, when the estimator says."""
    request_key: str | None = None
    """The provider-facing identity of this step's current create: drawn at random before
    every create (a resubmit draws a new one) and persisted with ``submitting``, so a
    create whose answer was lost is found by it and never confused with another take's."""
    lookup_missed_at: str | None = None
    """When a search for this step's lost create first found nothing (see
    :attr:`recoil_core.contracts.provider.ProviderSpec.find_consistency_s`)."""
    submitting_at: str | None = None
    submitted_at: str | None = None
    finished_at: str | None = None
    receipt: GenerationReceipt | None = None
    error: str | None = None

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STEP_STATES

    def copy(self) -> WorkflowStep:
        """A deep copy: changing it leaves this one as it is."""
        return attrs.evolve(
            self,
            payload=copy_data(self.payload),
            inputs=dict(self.inputs),
            receipt=self.receipt.copy() if self.receipt is not None else None,
        )


FINAL_STEP_STATES = frozenset(
    {
        StepState.SKIPPED,
        StepState.SUCCEEDED,
        StepState.FAILED,
        StepState.FAILED_BUT_BILLED,
        StepState.CANCELLED,
    }
)
"""The step states that never change again."""


@attrs.define
class Workflow:
    """The steps a modality runner built for one take, and the provenance they share."""

    workflow_id: str
    steps: list[WorkflowStep] = attrs.field(factory=list)
    provenance: dict[str, Any] = attrs.field(factory=dict)

    def copy(self) -> Workflow:
        """A deep copy: changing it leaves this one as it is."""
        return attrs.evolve(
            self,
            steps=[step.copy() for step in self.steps],
            provenance=copy_data(self.provenance),
        )

    def step(self, step_id: str) -> WorkflowStep:
        for step in self.steps:
            if step.step_id == step_id:
                return step
        raise KeyError(step_id)


# --------------------------------------------------------------------------- identity


def new_identity(prefix: str) -> str:
    """A fresh random identity (128 bits): no two takes or creates share one."""
    return f"{prefix}_{secrets.token_hex(16)}"


def seed_for(request_key: str) -> int:
    """The seed a create with ``request_key`` sends (0..2**31-1), so a lost create can also
    be matched by seed where a provider echoes nothing else."""
    digest = hashlib.sha256(request_key.encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def take_id_for(beat_id: str, index: int, version: int = 1) -> str:
    """A take's id: unique within its episode across scene versions and attempts."""
    if version > 1:
        return f"{beat_id}_v{version}_take_{index}"
    return f"{beat_id}_take_{index}"


class TakeState(enum.StrEnum):
    """The take state machine. See ARCHITECTURE "Takes: the state machine that never pays twice"."""

    PLANNED = "planned"
    RESERVED = "reserved"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    FAILED_BUT_BILLED = "failed_but_billed"
    BUILD_ERROR = "build_error"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


FINAL_TAKE_STATES = frozenset(
    {
        TakeState.SUCCEEDED,
        TakeState.FAILED,
        TakeState.FAILED_BUT_BILLED,
        TakeState.BUILD_ERROR,
        TakeState.CANCELLED,
    }
)
"""The take states that never change again."""


@attrs.define
class Take:
    """One attempt at rendering a beat."""

    take_id: str
    index: int
    workflow: Workflow
    state: TakeState = TakeState.PLANNED
    uid: str = ""
    """Unique across projects, episodes, scene versions and attempts; stable across
    resume (drawn by :meth:`Beat.new_take`, persisted with the take's first write)."""
    version: int = 1
    """The scene version the take was made in (its id and render name carry it from 2 on)."""
    created_at: str = attrs.field(factory=utc_now)
    updated_at: str = attrs.field(factory=utc_now)
    estimate_usd: float = 0.0
    cost_usd: float = 0.0
    render_path: str | None = None
    sidecar_path: str | None = None
    error: str | None = None
    attention: str | None = None
    metadata: dict[str, Any] = attrs.field(factory=dict)

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_TAKE_STATES

    def copy(self) -> Take:
        """A deep copy: changing it leaves this one as it is."""
        return attrs.evolve(self, workflow=self.workflow.copy(), metadata=copy_data(self.metadata))

    @property
    def counts_as_rendered(self) -> bool:
        """A take whose render landed: succeeded, so its render and sidecar are on disk
        (a take that was only started, failed, or is still at the provider is not)."""
        return self.state == TakeState.SUCCEEDED and self.render_path is not None
