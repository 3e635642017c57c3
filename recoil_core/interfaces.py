"""What plugins hand to the kernel: the typed objects returned by registration hooks.

Every registration hook in :mod:`recoil_core.hookspecs` returns a list of the objects
defined here. The registry turns them into name maps; the rest of the kernel only
ever sees these types.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import attrs

from recoil_core.events import SceneEventKind, scene_event_kind

if TYPE_CHECKING:
    from recoil_core.model import (
        Beat,
        CanonicalPlan,
        CanonicalShot,
        CoveragePass,
        Group,
        Scene,
        Take,
        Workflow,
        WorkflowStep,
    )
    from recoil_core.persistence.protocol import PersistenceBackend


# --------------------------------------------------------------------------- grouping


@attrs.frozen
class GroupingContext:
    """Everything a grouping strategy may look at besides the shots."""

    project: str
    """The project the plan belongs to."""
    episode: str
    """The episode id of the plan."""
    plan: CanonicalPlan
    """The whole validated plan (all shots, coverage passes, defaults)."""
    selected_passes: tuple[CoveragePass, ...] = ()
    """The coverage passes chosen for this run (``--pass``); empty when none were chosen."""
    options: Mapping[str, Any] = attrs.field(factory=dict)
    """Every option the strategy declares, converted to its type, with the default of each
    one not given (see :class:`OptionSpec`)."""


@attrs.frozen
class OptionSpec:
    """One option a plugin accepts (``recoil run --option name=value``).

    ``type`` is ``int``, ``float``, ``bool`` or ``str``; ``default`` is used when the option
    is not given (``None``: no value). ``help`` says what it does, for ``recoil plugins
    show``.
    """

    name: str
    """What users write before ``=`` in ``--option name=value``."""
    type: type = str
    """``int``, ``float``, ``bool`` or ``str``: what the value is converted to."""
    default: Any = None
    """The value when the option is not given (``None``: no value)."""
    help: str = ""
    """One line for ``recoil plugins show``."""


@runtime_checkable
class GroupingStrategy(Protocol):
    """Turns the shots of a plan into groups (scenes) of render units.

    ``assemble`` must be deterministic: the same shots and context give equal groups,
    so re-deriving a plan finds the scenes it persisted before.

    Options: a strategy that takes ``--option key=value`` declares them in an ``options``
    attribute, a sequence of :class:`OptionSpec` (absent or empty: it takes none; not a
    protocol member, so a strategy without it still satisfies the protocol). The kernel
    checks the given options against it before calling ``assemble``: an undeclared option
    or a value not of the declared type is an :class:`~recoil_core.errors.OptionError`
    (exit 2) and the strategy is not called. ``ctx.options`` then holds every declared
    option, converted to its type, with the default for those not given. Range checks
    (e.g. "greater than 0") stay with the strategy: raise ``OptionError`` for those.

    Errors: raise a :class:`~recoil_core.errors.RecoilError` (``OptionError``,
    ``PlanError``) for a problem the user can fix. Any other exception escaping
    ``assemble``, or a result that is not a list of groups, is reported as a bug in the
    plugin (:class:`~recoil_core.errors.PluginCodeError`, exit 7), naming it and its
    distribution.
    """

    name: str
    description: str

    def assemble(self, shots: Sequence[CanonicalShot], ctx: GroupingContext) -> list[Group]: ...


# --------------------------------------------------------------------------- runners


@attrs.frozen
class BuildContext:
    """What a modality runner gets besides the beat it builds a workflow for."""

    project: str
    """The project of the run."""
    episode: str
    """The episode id of the run."""
    scene_id: str
    """The scene the beat belongs to."""
    plan: CanonicalPlan
    """The whole validated plan; :meth:`shots_for` finds the beat's shots in it."""
    take_index: int
    """Which take of the beat this workflow is for (0 for the first)."""
    video_provider: str
    """The provider serving video steps (``--provider``): set it as the step's ``provider``."""
    image_provider: str | None
    """The provider serving ``image_t2i`` keyframes, or ``None`` when none is configured."""
    settings: Mapping[str, Any] = attrs.field(factory=dict)
    """Run settings the runner passes on (empty unless a caller sets some)."""
    scene_version: int = 1
    """The scene version the take belongs to: pass it to
    :func:`recoil_core.render.render_name` (``version=``) when naming outputs, so a
    re-derived version never overwrites an earlier version's renders."""

    def shots_for(self, beat: Beat) -> list[CanonicalShot]:
        """The plan shots a beat covers, in beat order (wildcards have no shot)."""
        return [self.plan.shot(sid) for sid in beat.shot_ids if self.plan.has_shot(sid)]


@runtime_checkable
class ModalityRunner(Protocol):
    """Builds the workflow (provider steps) that renders one beat of a given modality.

    Raise :class:`recoil_core.errors.PayloadBuildError` when the beat cannot be built;
    the take is then recorded as ``build_error`` and its budget reservation released.
    """

    modality: str
    description: str

    def build_workflow(self, beat: Beat, ctx: BuildContext) -> Workflow: ...


# --------------------------------------------------------------------------- providers


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
        """Write the finished job's media to ``dest`` (the runner renames it into place)."""
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


# --------------------------------------------------------------------------- persistence


@attrs.frozen
class BackendContext:
    """What a persistence backend factory receives."""

    projects_root: Path
    """``RECOIL_PROJECTS_ROOT``: where projects (and, for the built-in backends, renders) live."""
    env: Mapping[str, str] = attrs.field(factory=dict)
    """The process environment, for a backend's own settings (a DSN, a schema)."""
    lock_timeout_s: float | None = 0.0
    """Seconds to wait for an episode lock: 0 fails at once, ``None`` waits forever."""


@attrs.frozen
class BackendSpec:
    """A persistence backend a plugin offers, built lazily by ``factory``."""

    name: str
    factory: Callable[[BackendContext], PersistenceBackend]
    description: str = ""


# --------------------------------------------------------------------------- gates and events


@attrs.frozen
class PreflightContext:
    """What a preflight gate sees: the plan, the scenes about to run, the chosen providers."""

    project: str
    """The project of the run."""
    episode: str
    """The episode id of the run."""
    plan: CanonicalPlan
    """The whole validated plan."""
    scenes: tuple[Scene, ...]
    """The scenes about to run, with their beats and any takes from earlier runs."""
    video_provider: str
    """The provider serving video steps (``--provider``)."""
    budget_cap_usd: float | None
    """The run's budget cap (``--budget``), or ``None`` without one."""
    settings: Mapping[str, Any] = attrs.field(factory=dict)
    """Run settings the runner passes on (empty unless a caller sets some)."""


@attrs.frozen
class PreflightGate:
    """A check run before anything is reserved. ``check`` returns problems; any stops the run."""

    name: str
    check: Callable[[PreflightContext], list[str]]
    description: str = ""


@attrs.frozen
class TakeEvent:
    """A take changed state (already persisted when observers hear of it)."""

    project: str
    episode: str
    scene_id: str
    beat_id: str
    take: Take
    """The take as persisted, in its new ``state``."""
    previous_state: str | None
    """The state it left (a value of :class:`~recoil_core.model.TakeState`)."""


@attrs.frozen
class SceneEvent:
    """A scene event.

    ``kind`` is a :class:`~recoil_core.events.SceneEventKind` (``created``, ``reused``,
    ``replaced``, ``candidate_staged``, ``candidate_exists`` or ``finished``); a plain
    string naming one is converted, and compares equal to it.
    """

    project: str
    episode: str
    scene_id: str
    kind: SceneEventKind = attrs.field(converter=scene_event_kind)
    version: int | None = None
    """The scene version the event is about, when there is one."""
    detail: str = ""
    """A short human-readable note (why a scene was replaced...)."""
