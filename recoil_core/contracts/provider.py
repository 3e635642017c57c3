"""The provider contract: how the kernel submits, polls, cancels and downloads, and
what a provider declares it can do (models, durations, limits, cancel, lost-create
search, retention, prices).

Register a provider with the ``recoil_providers`` hook (:mod:`recoil_core.hookspecs`);
``recoil_core.testing.providers`` is the conformance suite every provider passes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import attrs

if TYPE_CHECKING:
    from recoil_core.model import (
        WorkflowStep,
    )


def _frozen(values: Iterable[str]) -> frozenset[str]:
    return frozenset(values)


JobStateName = Literal["queued", "running", "succeeded", "failed", "cancelled", "expired"]
"""The states of a provider job (:attr:`JobStatus.state`)."""

FINAL_JOB_STATES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled", "expired"})
"""The states a job never leaves: the runner stops polling and charges what it billed."""


@attrs.frozen
class SubmitRequest:
    """One paid call: what the provider should generate for a workflow step.

    ``request_key`` is this create's identity: random, drawn afresh for every create
    (a resubmit gets a new one) and persisted before the call. Send it where the provider
    stores and echoes a caller string (Ark: ``safety_identifier``), so :meth:`Provider.find`
    can tell this create from every other take's, in any project or episode. ``seed`` is
    derived from it, for providers that echo nothing else. ``submitting_at`` is when the
    take entered ``submitting``: a job created before it is never the take's.
    """

    take_id: str
    step_id: str
    modality: str
    model: str
    payload: Mapping[str, Any]
    seed: int
    inputs: Mapping[str, Path] = attrs.field(factory=dict)
    submitting_at: datetime | None = None
    request_key: str = ""


@attrs.frozen
class JobStatus:
    """The provider's view of a job. ``cost_usd`` is what the provider billed (0 if not):
    a finite number >= 0; a final status billing anything else stops the run."""

    job_id: str
    state: JobStateName
    cost_usd: float = 0.0
    media_url: str | None = None
    media_suffix: str = ".mp4"
    error_code: str | None = None
    error_message: str | None = None
    metadata: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def is_final(self) -> bool:
        """Whether the job is in one of :data:`FINAL_JOB_STATES`."""
        return self.state in FINAL_JOB_STATES


@runtime_checkable
class Provider(Protocol):
    """A live connection to a generation service. Created per run by a ProviderSpec factory.

    Errors: raise the :mod:`recoil_core.errors` provider tree. The provider owns transport
    retries, and is the only layer that retries: polls, searches, downloads and cancels on
    timeouts and 5xx, creates only on a 429 (nothing was made), bounded and honouring
    Retry-After. What it raises is its last word; the kernel retries nothing and handles
    state only. ``submit`` must never be retried after a response was lost (raise
    ProviderUnavailable instead and let the runner ask :meth:`find`).

    Optional: ``remember(job_id: str, request: SubmitRequest) -> None``. When a provider
    has it, the kernel calls it before it polls a job, with the request the job was
    created from as the take persisted it before the create: a run resumed after a kill,
    a render node taking a take over and ``recoil reconcile`` poll jobs another provider
    object sent. A service whose bill depends on what was asked (output seconds at a
    resolution) and whose API stops showing it (Replicate removes a prediction's input
    after an hour) prices the job from this instead of guessing. It must be quick and
    make no call to the service; what it raises is logged and the poll goes on.
    """

    async def submit(self, request: SubmitRequest) -> str:
        """Create the job; return its id."""
        ...

    async def poll(self, job_id: str) -> JobStatus:
        """Current status of the job."""
        ...

    async def find(self, request: SubmitRequest) -> str | None:
        """The id of the job created for ``request`` whose create response was lost, or
        ``None`` when the provider has none. Accept a job only when it carries the
        request's identity (``request_key``, else the seed) and was created after
        ``submitting_at``; raise :class:`recoil_core.errors.LookupAmbiguous` when more than
        one job could be it (never guess: adopting another take's job pays twice)."""
        ...

    async def download(self, status: JobStatus, dest: Path) -> None:
        """Write the finished job's media to ``dest`` (the runner renames it into place).
        Raise :class:`recoil_core.errors.OutputExpired` when the service no longer keeps the
        output (past ``ProviderSpec.output_retention_s``): the take becomes
        ``failed_but_billed`` with the bill and that reason, and nothing is retried. Any
        other :class:`~recoil_core.errors.ProviderError` leaves the take for a re-run."""
        ...

    async def cancel(self, job_id: str) -> None:
        """Cancel a job in one of the spec's ``cancellable_states``. The runner never
        cancels a finished job (on some providers that erases its record)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


@attrs.frozen
class ProviderLimits:
    """Limits the runner enforces for a provider on top of the global concurrency."""

    concurrency: int = 4
    """Jobs at this provider at once, from the create until the job is final and, unless
    ``download_in_slot`` is false, its output downloaded; the run's ``--concurrency`` may
    lower it, never raise it."""
    download_in_slot: bool = True
    """Whether a finished job keeps its slot while its output is downloaded. Leave it true
    when the download is part of the provider's work or load (a local renderer, a server
    that streams the result itself). Set it false when the provider's limit counts only
    the jobs it is running and the output comes from elsewhere (object storage, a CDN):
    the next job then starts while the last one's output comes down. Downloads stay
    bounded by the run's takes in flight."""
    requests_per_minute: int | None = None
    poll_interval_s: float = 5.0
    job_timeout_s: float = 3600.0


def _choices(values: Iterable[float]) -> tuple[float, ...]:
    return tuple(sorted({float(v) for v in values}))


_EPSILON_S = 1e-6
"""Durations closer than this are equal (planned durations are sums of floats)."""


@attrs.frozen
class Durations:
    """The clip lengths a model renders: explicit ``choices``, or ``min_s`` to ``max_s`` in
    steps of ``step_s``. Build one with :meth:`range` or :meth:`of`."""

    min_s: float
    """The shortest clip, in seconds."""
    max_s: float
    """The longest clip, in seconds: a unit longer than this is refused (or split)."""
    step_s: float = 1.0
    """Allowed lengths are ``min_s + k * step_s`` up to ``max_s`` (0: any length in the
    range; ignored with ``choices``)."""
    choices: tuple[float, ...] = attrs.field(default=(), converter=_choices)
    """The only lengths the model renders (Kling: 5 and 10 s); empty: the range above."""

    @classmethod
    def range(cls, min_s: float, max_s: float, step_s: float = 1.0) -> Durations:
        """Every length from ``min_s`` to ``max_s`` in steps of ``step_s`` (Seedance 2.0:
        ``Durations.range(4, 15)``)."""
        return cls(min_s=float(min_s), max_s=float(max_s), step_s=float(step_s))

    @classmethod
    def of(cls, *choices: float) -> Durations:
        """Only these lengths (``Durations.of(5, 10)``)."""
        ordered = _choices(choices)
        return cls(min_s=ordered[0], max_s=ordered[-1], choices=ordered)

    def deliverable(self, seconds: float) -> float | None:
        """The clip the model delivers for ``seconds`` of shots: the shortest allowed length
        covering them (a clip can be trimmed in the edit, never stretched); ``None`` when
        they are longer than :attr:`max_s`."""
        if seconds > self.max_s + _EPSILON_S:
            return None
        if self.choices:
            return next(c for c in self.choices if c + _EPSILON_S >= seconds)
        if seconds <= self.min_s + _EPSILON_S:
            return self.min_s
        if self.step_s <= 0:  # any length in the range
            return seconds
        steps = -(-(seconds - self.min_s - _EPSILON_S) // self.step_s)
        return min(self.max_s, self.min_s + steps * self.step_s)

    def describe(self) -> str:
        """``4-15 s (step 1 s)`` or ``5, 10 s``."""
        if self.choices:
            return ", ".join(f"{c:g}" for c in self.choices) + " s"
        return f"{self.min_s:g}-{self.max_s:g} s (step {self.step_s:g} s)"

    def to_dict(self) -> dict[str, Any]:
        if self.choices:
            return {"choices": list(self.choices), "min_s": self.min_s, "max_s": self.max_s}
        return {"min_s": self.min_s, "max_s": self.max_s, "step_s": self.step_s}


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


@attrs.frozen
class ModelCapabilities:
    """What one model of a provider can render, read by the kernel before anything is
    reserved (``recoil group``, ``recoil run --dry-run`` and preflight): a unit longer
    than the model's longest clip is refused, never clamped, and a shorter one is
    rounded up to a length the model renders. Every field is optional: what is not
    declared is not checked."""

    durations: Durations | None = None
    """The clip lengths it renders (:class:`Durations`); ``None``: not declared, any length
    is sent as planned."""
    resolutions: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    """Resolutions it takes (``"720p"``...); empty: not declared."""
    aspect_ratios: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    """Aspect ratios it takes (``"16:9"``...); empty: not declared."""
    max_reference_images: int | None = None
    """How many reference images one request may carry (Seedance 2.0: 9; 0: none);
    ``None``: not declared."""
    frames_with_references: bool = True
    """Whether a request may carry first/last frames and reference images together
    (Seedance 2.0: no; a request has either frames or references)."""

    def to_dict(self) -> dict[str, Any]:
        """The capabilities as ``recoil providers show --json`` prints them."""
        return {
            "durations": self.durations.to_dict() if self.durations else None,
            "resolutions": list(self.resolutions),
            "aspect_ratios": list(self.aspect_ratios),
            "max_reference_images": self.max_reference_images,
            "frames_with_references": self.frames_with_references,
        }


class _FrozenCapabilities(Mapping[str, ModelCapabilities]):
    """A read-only, hashable model -> capabilities map (a spec stays hashable)."""

    __slots__ = ("_data",)

    def __init__(self, values: Mapping[str, ModelCapabilities]) -> None:
        self._data = dict(values)

    def __getitem__(self, model: str) -> ModelCapabilities:
        return self._data[model]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __repr__(self) -> str:
        return repr(self._data)


def _capabilities(values: Mapping[str, ModelCapabilities]) -> Mapping[str, ModelCapabilities]:
    return _FrozenCapabilities(values)


@attrs.frozen
class ProviderContext:
    """What a provider factory receives: environment (for keys, base URLs) and settings."""

    env: Mapping[str, str]
    """The process environment: read keys and base URLs here, never from ``os.environ``."""
    settings: Mapping[str, Any] = attrs.field(factory=dict)
    """Run settings: ``concurrency`` is the run's ``--concurrency``."""


@attrs.frozen
class ProviderSpec:
    """How a plugin declares a provider. Cheap to build: ``factory`` does the heavy imports."""

    name: str
    modalities: frozenset[str] = attrs.field(converter=_frozen)
    factory: Callable[[ProviderContext], Provider]
    models: frozenset[str] = attrs.field(default=frozenset(), converter=_frozen)
    """Model names served; empty means any model."""
    limits: ProviderLimits = ProviderLimits()
    can_find_by_request: bool = False
    """Whether :meth:`Provider.find` can look up a create whose answer was lost."""
    find_window_s: float | None = None
    """How far back ``find`` can see (Ark lists the last 7 days); ``None``: no limit. A
    lost create older than this is left for a person (``--resubmit-unknown``)."""
    find_consistency_s: float = 0.0
    """How long a new job may stay invisible to ``find``. A lost create is resubmitted
    automatically only after two searches at least this far apart both missed it."""
    cancellable_states: frozenset[str] = attrs.field(default=frozenset(), converter=_frozen)
    """Job states in which :meth:`Provider.cancel` stops the job before it is billed (Ark:
    ``queued`` only). A job past them is followed to its end and charged what it bills;
    empty (the default) means a job is never cancelled."""
    bills_failures: bool = False
    output_retention_s: float | None = None
    """How long the service keeps a finished job's output (result and media) after the job
    ends (fal: a queue result for about an hour; Replicate: one hour). ``None`` (the
    default): not declared, as for a service that keeps it for as long as the job can be
    looked up. Declare it where an output can be gone before a run downloads it: the
    provider then reports such a job as a final ``expired`` status carrying its bill and
    a reason, so the take is ``failed_but_billed`` instead of waiting forever."""
    description: str = ""
    check: Callable[[ProviderContext], list[str]] | None = None
    """Optional: problems that stop a run before anything is reserved (a missing key)."""
    model_capabilities: Mapping[str, ModelCapabilities] = attrs.field(
        factory=dict, converter=_capabilities
    )
    """What each model renders, by the model name a plan uses (:class:`ModelCapabilities`);
    declare every name in ``models``. A unit on an undeclared model is not checked.
    ``recoil providers show NAME`` prints them."""
    cancel_running_billed: bool = False
    """Whether cancelling a job past ``cancellable_states`` (running) is still billed
    (fal, Replicate: yes, for the time it ran). Shown by ``recoil providers show``."""
    mirrors_models: bool = False
    """A previs provider (the animatic) standing in for the paid one: for a model it
    declares no capabilities of, the kernel uses those another installed provider
    declares for that model name, so previs refuses and rounds what the paid provider
    would, and the video step asks for the clip the paid provider would deliver."""

    def serves(self, modality: str, model: str | None = None) -> bool:
        if modality not in self.modalities:
            return False
        return model is None or self.serves_model(model)

    def serves_model(self, model: str) -> bool:
        """Whether it renders ``model``: any name when it lists no ``models``."""
        return not self.models or model in self.models

    def capabilities_for(self, model: str) -> ModelCapabilities | None:
        """The capabilities this provider declares for ``model`` (``None``: none)."""
        return self.model_capabilities.get(model)

    @property
    def listed_models(self) -> tuple[str, ...]:
        """Every model name it declares (``models`` and ``model_capabilities``), sorted."""
        return tuple(sorted(set(self.models) | set(self.model_capabilities)))


@attrs.frozen
class CostEstimator:
    """Estimates the cost in USD of one workflow step on one provider."""

    provider: str
    estimate: Callable[[WorkflowStep], float]
    description: str = ""
    source: Callable[[], str] | None = None
    """Optional: which price table (and its date) the estimates come from right now, e.g.
    ``"shipped 2026-10-15"``; recorded with every step's estimate."""
