"""The domain model: plans, grouping identities, scenes, beats, takes, workflows, receipts.

Plan-side values are frozen attrs classes. Scenes, beats and takes are documents the
runner moves through the take state machine, so they are mutable; every change to them
is persisted by the runner before the side effect that follows it.
"""

from __future__ import annotations

import enum
import hashlib
import math
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs

from recoil_core.hashing import WILDCARD, shotset_hash

SCHEMA_VERSION = 2
"""v2: takes carry ``uid``; steps carry ``request_key`` and ``lookup_missed_at``."""


def utc_now() -> str:
    """Current UTC time as ISO 8601 with offset."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _tuple(value: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(value)


def _dict(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value or {})


# --------------------------------------------------------------------------- plans


@attrs.frozen
class CanonicalShot:
    """One shot of a plan after loading and validation (docs/plan-format.md, "Shots")."""

    shot_id: str
    """Unique in the plan, e.g. ``EP001_SH01``; renders are named from it."""
    sequence_id: str
    """The sequence the shot belongs to."""
    scene_index: int
    """1-based position of the shot's sequence in the plan."""
    location_id: str
    """The shot's location (the sequence's unless the shot names its own)."""
    duration_s: float
    """Seconds, more than 0 and at most 60."""
    prompt: str = ""
    """What the shot shows."""
    characters: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    """Character ids in the shot, each once."""
    shot_type: str = "MS"
    """``WS``, ``MS``, ``CU``..."""
    video_model: str = "seeddance-2.0"
    """Friendly name of the video model; the provider maps it to its own model id."""
    previs_model: str | None = None
    pipeline: str = "video"
    is_env_only: bool = False
    """An environment-only shot (it lists no characters)."""
    has_dialogue: bool = False
    aspect_ratio: str = "16:9"
    resolution: str = "720p"
    quality: str | None = None
    cinematography: str | None = None
    seed: int | None = None
    """The plan's explicit seed, if it gives one."""
    frames: dict[str, str] = attrs.field(factory=dict, converter=_dict)
    """``first_frame``, ``last_frame`` and ``reference_image_<n>``: absolute paths or URLs
    (:func:`~recoil_core.plan.reference_images` lists the references)."""
    order: int = 0
    """Position of the shot in the whole plan (0 for the first)."""
    raw: dict[str, Any] = attrs.field(factory=dict, converter=_dict, eq=False, repr=False)
    """The shot's ``x-`` fields from the plan file, untouched."""


@attrs.frozen
class CoverageSegment:
    """One segment of a coverage pass: a real shot, or a wildcard (no shot of the plan)."""

    index: int
    shot_id: str
    shot_type: str = "MS"
    duration_s: float = 2.0
    prompt: str = ""
    is_wildcard: bool = False

    @property
    def is_real(self) -> bool:
        return not self.is_wildcard and self.shot_id != WILDCARD


@attrs.frozen
class CoveragePass:
    """A coverage pass block of a plan (id like ``EP001_PASS_011_SH01_02_A_ENV``)."""

    pass_id: str
    episode_id: str
    shot_range: tuple[str, str] = attrs.field(converter=tuple)
    camera_side: str = "A"
    label: str = ""
    focus_character: str = ""
    pass_type: str = "env"
    segments: tuple[CoverageSegment, ...] = attrs.field(default=(), converter=_tuple)
    generation_config: dict[str, Any] = attrs.field(factory=dict, converter=_dict)
    element_config: dict[str, Any] = attrs.field(factory=dict, converter=_dict)
    wildcard_enabled: bool = False

    @property
    def real_shot_ids(self) -> list[str]:
        """Shot ids of the real segments, in segment order, without repeats."""
        seen: dict[str, None] = {}
        for segment in sorted(self.segments, key=lambda s: s.index):
            if segment.is_real:
                seen.setdefault(segment.shot_id, None)
        return list(seen)

    @property
    def shot_ids(self) -> list[str]:
        """Real shot ids; a wildcard-only pass stands for its shot range."""
        return self.real_shot_ids or [sid for sid in dict.fromkeys(self.shot_range)]

    @property
    def shotset_hash(self) -> str:
        return shotset_hash(self.shot_ids)

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self, recurse=True)
        data["shot_range"] = list(self.shot_range)
        data["shot_ids"] = self.shot_ids
        data["shotset_hash"] = self.shotset_hash
        return data


@attrs.frozen
class CanonicalPlan:
    """A validated episode plan: shots in plan order, coverage passes, defaults."""

    project: str
    episode_id: str
    shots: tuple[CanonicalShot, ...] = attrs.field(converter=_tuple)
    coverage_passes: tuple[CoveragePass, ...] = attrs.field(default=(), converter=_tuple)
    sequence_ids: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    defaults: dict[str, Any] = attrs.field(factory=dict, converter=_dict)
    source_path: str | None = None
    _by_id: dict[str, CanonicalShot] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {shot.shot_id: shot for shot in self.shots})

    def shot(self, shot_id: str) -> CanonicalShot:
        """The shot with this id; ``KeyError`` if the plan has none."""
        return self._by_id[shot_id]

    def has_shot(self, shot_id: str) -> bool:
        return shot_id in self._by_id

    def pass_by_id(self, pass_id: str) -> CoveragePass:
        for coverage_pass in self.coverage_passes:
            if coverage_pass.pass_id == pass_id:
                return coverage_pass
        raise KeyError(pass_id)


# --------------------------------------------------------------------------- grouping


@attrs.frozen
class GroupIdentity:
    """Who a render unit is: ``{strategy, ordinal, shot_ids, source_pass_id, shotset_hash}``.

    ``shotset_hash`` is derived from ``shot_ids`` and so can never disagree with them.
    """

    strategy: str
    """The name of the strategy that made the unit."""
    ordinal: int
    """The unit's number within its strategy (it names multi-shot renders)."""
    shot_ids: tuple[str, ...] = attrs.field(converter=_tuple)
    """The plan shots the unit covers, in its order."""
    source_pass_id: str | None = None
    """The coverage pass the unit was made from, if any."""

    @property
    def shotset_hash(self) -> str:
        """Digest of the sorted real shot ids: tells whether a unit still covers the same shots."""
        return shotset_hash(self.shot_ids)

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "ordinal": self.ordinal,
            "shot_ids": list(self.shot_ids),
            "source_pass_id": self.source_pass_id,
            "shotset_hash": self.shotset_hash,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GroupIdentity:
        return cls(
            strategy=str(data["strategy"]),
            ordinal=int(data["ordinal"]),
            shot_ids=tuple(data.get("shot_ids") or ()),
            source_pass_id=data.get("source_pass_id"),
        )


@attrs.frozen
class Segment:
    """A piece of a render unit's timeline: a plan shot or a wildcard."""

    shot_id: str | None
    """The plan shot shown, or ``None`` for a wildcard (a moment that is no shot of the plan)."""
    duration_s: float
    prompt: str = ""
    shot_type: str = "MS"

    @property
    def is_wildcard(self) -> bool:
        return self.shot_id is None


@attrs.frozen
class RenderUnit:
    """One render unit (becomes one beat): what a strategy asks to be rendered as one clip."""

    unit_id: str
    """Unique in the plan; becomes the beat id."""
    identity: GroupIdentity
    modality: str
    """The modality runner that builds it (``video_i2v``, ``r2v_multi``...)."""
    segments: tuple[Segment, ...] = attrs.field(converter=_tuple)
    generation_config: dict[str, Any] = attrs.field(factory=dict, converter=_dict)
    """Free-form settings handed to the runner (a coverage pass's ``generation_config``)."""
    element_config: dict[str, Any] = attrs.field(factory=dict, converter=_dict)
    """Free-form settings handed to the runner (a coverage pass's ``element_config``)."""

    @property
    def shot_ids(self) -> tuple[str, ...]:
        return self.identity.shot_ids

    @property
    def duration_s(self) -> float:
        return sum(segment.duration_s for segment in self.segments)


@attrs.frozen
class Group:
    """What a grouping strategy returns: one scene's worth of render units."""

    scene_id: str
    """Becomes a file name: letters, digits, ``_``, ``-``."""
    identity: GroupIdentity
    units: tuple[RenderUnit, ...] = attrs.field(converter=_tuple)

    @property
    def modality(self) -> str:
        """The unit modality when all units share one, else ``"mixed"``."""
        kinds = {unit.modality for unit in self.units}
        return kinds.pop() if len(kinds) == 1 else "mixed"

    @property
    def duration_s(self) -> float:
        return sum(unit.duration_s for unit in self.units)


# --------------------------------------------------------------------------- workflows


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
    :attr:`recoil_core.interfaces.ProviderSpec.find_consistency_s`)."""
    submitting_at: str | None = None
    submitted_at: str | None = None
    finished_at: str | None = None
    receipt: GenerationReceipt | None = None
    error: str | None = None

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STEP_STATES


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


# --------------------------------------------------------------------------- scenes


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

    @property
    def counts_as_rendered(self) -> bool:
        """A take whose render landed: succeeded, so its render and sidecar are on disk
        (a take that was only started, failed, or is still at the provider is not)."""
        return self.state == TakeState.SUCCEEDED and self.render_path is not None


@attrs.define
class Beat:
    """One render unit inside a scene, with its takes."""

    beat_id: str
    modality: str = "video_i2v"
    grouping: GroupIdentity | None = None
    segments: list[Segment] = attrs.field(factory=list)
    max_takes: int = 1
    takes: list[Take] = attrs.field(factory=list)
    primary_take_id: str | None = None
    generation_config: dict[str, Any] = attrs.field(factory=dict)
    element_config: dict[str, Any] = attrs.field(factory=dict)
    metadata: dict[str, Any] = attrs.field(factory=dict)

    @property
    def shot_ids(self) -> list[str]:
        if self.grouping is not None:
            return list(self.grouping.shot_ids)
        return [s.shot_id for s in self.segments if s.shot_id is not None]

    def new_take(self, workflow: Workflow, *, version: int = 1) -> Take:
        """Append a new planned take for ``workflow`` and return it.

        ``version`` is the scene version the take belongs to: takes of version 2 and later
        are named ``<beat>_v<version>_take_<n>``, so a re-derived version's takes never
        share an id (a ledger key, a render name) with an earlier version's.
        """
        index = len(self.takes)
        take = Take(
            take_id=take_id_for(self.beat_id, index, version),
            index=index,
            workflow=workflow,
            version=version,
            uid=new_identity("tk"),
        )
        self.takes.append(take)
        return take

    def take(self, take_id: str) -> Take:
        for take in self.takes:
            if take.take_id == take_id:
                return take
        raise KeyError(take_id)

    def select_primary(self) -> Take | None:
        """Make the newest succeeded take primary; returns it (``None`` if none succeeded)."""
        for take in reversed(self.takes):
            if take.state == TakeState.SUCCEEDED:
                self.primary_take_id = take.take_id
                return take
        return None

    @property
    def rendered_take_count(self) -> int:
        return sum(1 for take in self.takes if take.counts_as_rendered)

    @property
    def succeeded(self) -> bool:
        return any(take.state == TakeState.SUCCEEDED for take in self.takes)


@attrs.define
class Scene:
    """A persisted scene version: the beats derived from one group, and their takes."""

    scene_id: str
    beats: list[Beat] = attrs.field(factory=list)
    grouping: GroupIdentity | None = None
    project: str | None = None
    episode: str | None = None
    derivation_digest: str | None = None
    metadata: dict[str, Any] = attrs.field(factory=dict)

    def beat(self, beat_id: str) -> Beat:
        for beat in self.beats:
            if beat.beat_id == beat_id:
                return beat
        raise KeyError(beat_id)


class Downstream(enum.StrEnum):
    """Whether a scene version's renders have been derived from it."""

    DERIVED = "derived"
    NOT_DERIVED = "not_derived"


@attrs.define
class VersionEntry:
    """One version of a scene in its :class:`SceneManifest`."""

    version: int
    downstream: Downstream
    created_at: str = attrs.field(factory=utc_now)
    note: str = ""
    derivation_digest: str | None = None


@attrs.define
class SceneManifest:
    """Which versions of a scene exist and which one is active."""

    scene_id: str
    active_version: int
    versions: list[VersionEntry] = attrs.field(factory=list)

    def entry(self, version: int) -> VersionEntry:
        for entry in self.versions:
            if entry.version == version:
                return entry
        raise KeyError(version)

    @property
    def latest_version(self) -> int:
        return max((entry.version for entry in self.versions), default=0)

    def candidates(self) -> list[VersionEntry]:
        return [
            e
            for e in self.versions
            if e.downstream == Downstream.NOT_DERIVED and e.version != self.active_version
        ]


# --------------------------------------------------------------------------- money


class ChargeKind(enum.StrEnum):
    """What a ledger charge is for: a succeeded step, or a failed one the provider billed."""

    SUCCEEDED = "succeeded"
    FAILED_BUT_BILLED = "failed_but_billed"


def as_price(value: object) -> float | None:
    """``value`` in USD if it is a finite number >= 0, else None (NaN, infinity, a
    negative, text, a bool, None). NaN compares false with any cap, so an amount that is
    not a price must never reach the guard or the ledger."""
    if value is None or isinstance(value, (bool, str, bytes)):
        return None
    try:
        price = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return price if math.isfinite(price) and price >= 0 else None


def _check_price(_entry: object, _field: object, value: float) -> None:
    """attrs validator: ``value`` must be a price (see :func:`as_price`)."""
    if as_price(value) is None:
        raise ValueError(f"amount_usd must be a finite number >= 0, not {value!r}")


@attrs.frozen
class LedgerEntry:
    """One charge. ``entry_id`` is unique per (take, step, kind): charging twice is a no-op."""

    entry_id: str
    project: str
    episode: str
    scene_id: str
    beat_id: str
    take_id: str
    step_id: str
    provider: str
    model: str
    kind: ChargeKind
    amount_usd: float = attrs.field(validator=_check_price)
    """What the provider billed: a finite number >= 0 (NaN would compare false with the
    cap, so a ledger holding one could never stop a run)."""
    job_id: str | None
    at: str = attrs.field(factory=utc_now)
    take_uid: str | None = None
    """The take's :attr:`Take.uid` (absent on entries written before it existed)."""
    price_table: str | None = None
    """Which price table (and its date) the provider priced the bill with, when it says
    (``JobStatus.metadata["price_table"]``)."""


def charge_entry_id(take_id: str, step_id: str, kind: ChargeKind | str) -> str:
    return f"{take_id}:{step_id}:{ChargeKind(kind).value}"


def rendered_shot_ids(before: Mapping[str, int], beats: Sequence[Beat]) -> list[str]:
    """Shot ids of beats whose count of landed renders grew since ``before``.

    ``before`` maps beat id to :attr:`Beat.rendered_take_count` when the run started.
    """
    out: dict[str, None] = {}
    for beat in beats:
        if beat.rendered_take_count > before.get(beat.beat_id, 0):
            for shot_id in beat.shot_ids:
                out.setdefault(shot_id, None)
    return list(out)
