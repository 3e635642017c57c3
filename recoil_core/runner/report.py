"""What a run did: the typed run report (scenes, beats, takes, planned takes) and the
one-line attention note a take that is not done carries. JSON goes through the converter."""

from __future__ import annotations

from typing import Any

import attrs

from recoil_core.model import Scene, StepState, Take, TakeState
from recoil_core.takes import owes


@attrs.frozen
class TakeSummary:
    """One take as a report shows it."""

    take_id: str
    state: TakeState
    job_ids: list[str]
    render: str | None
    cost_usd: float
    error: str | None
    attention: str | None
    """What the user should know when the take is not done (see :func:`take_attention`)."""


@attrs.frozen
class BeatSummary:
    """One beat (render unit) and its takes."""

    beat_id: str
    modality: str
    shot_ids: list[str]
    succeeded: bool
    primary_take_id: str | None
    takes: list[TakeSummary]


@attrs.frozen
class SceneSummary:
    """One scene version and what the run did with it (``action``: a reconciliation
    action such as ``created`` or ``reused``, or ``persisted`` for ``recoil status``)."""

    scene_id: str
    version: int | None
    action: str
    beats: list[BeatSummary]


@attrs.frozen
class PlannedStep:
    """One step of a take a dry run would dispatch."""

    step_id: str
    modality: str
    provider: str | None
    model: str | None
    estimate_usd: float
    estimate_source: str | None


@attrs.define
class PlannedTake:
    """What a dry run would dispatch."""

    scene_id: str
    beat_id: str
    modality: str
    shot_ids: list[str]
    steps: list[PlannedStep]
    estimate_usd: float


def _count(items: list[Any]) -> str:
    """How a long list shows in the report's ``repr``: its length (a report of 10,000 takes
    is printed by asyncio whenever it reprs the run's task, and by test failures)."""
    return f"<{len(items)} items>"


@attrs.define
class RunReport:
    """What a run did, for humans and for ``--json`` (:meth:`to_dict`)."""

    project: str
    episode: str
    strategy: str
    provider: str
    dry_run: bool
    cap_usd: float | None
    spent_before_usd: float = 0.0
    charged_usd: float = 0.0
    scenes: list[SceneSummary] = attrs.field(factory=list, repr=_count)
    planned: list[PlannedTake] = attrs.field(factory=list, repr=_count)
    notices: list[str] = attrs.field(factory=list)
    rendered_shot_ids: list[str] = attrs.field(factory=list, repr=_count)
    halted: str | None = None

    def takes(self) -> list[TakeSummary]:
        return [take for scene in self.scenes for beat in scene.beats for take in beat.takes]

    @property
    def take_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for take in self.takes():
            counts[take.state.value] = counts.get(take.state.value, 0) + 1
        return counts

    @property
    def attention(self) -> list[str]:
        return [f"{take.take_id}: {take.attention}" for take in self.takes() if take.attention]

    @property
    def complete(self) -> bool:
        return (
            not self.dry_run
            and self.halted is None
            and all(beat.succeeded for scene in self.scenes for beat in scene.beats)
        )

    @property
    def estimated_usd(self) -> float:
        """What the takes a dry run plans would cost, by their estimates."""
        return round(sum(p.estimate_usd for p in self.planned), 6)

    def to_dict(self) -> dict[str, Any]:
        """The ``recoil run --json`` report (without ``ok``)."""
        from recoil_core.convert import converter

        data: dict[str, Any] = converter.unstructure(self)
        data["take_counts"] = self.take_counts
        data["attention"] = self.attention
        data["complete"] = self.complete
        data["estimated_usd"] = self.estimated_usd
        return data


def take_attention(take: Take) -> str | None:
    """What the user should know about a take that is not done, or ``None``."""
    if take.state == TakeState.UNKNOWN or take.attention:
        return take.attention or take.state.value
    if take.state in (TakeState.SUBMITTING, TakeState.SUBMITTED, TakeState.RESERVED):
        jobs = [s.job_id for s in take.workflow.steps if s.state == StepState.SUBMITTED]
        job_list = ", ".join(filter(None, jobs)) or "-"
        billable = " (still billable)" if owes(take) else ""
        return f"{take.state.value} (job {job_list}){billable}; re-run to resume"
    return None


def take_summary(take: Take) -> TakeSummary:
    return TakeSummary(
        take_id=take.take_id,
        state=take.state,
        job_ids=[s.job_id for s in take.workflow.steps if s.job_id],
        render=take.render_path,
        cost_usd=round(take.cost_usd, 6),
        error=take.error,
        attention=take_attention(take),
    )


def scene_summary(scene: Scene, version: int | None, action: str) -> SceneSummary:
    """``scene`` (at ``version``) as a report shows it."""
    return SceneSummary(
        scene_id=scene.scene_id,
        version=version,
        action=str(action),
        beats=[
            BeatSummary(
                beat_id=beat.beat_id,
                modality=beat.modality,
                shot_ids=list(beat.shot_ids),
                succeeded=beat.succeeded,
                primary_take_id=beat.primary_take_id,
                takes=[take_summary(take) for take in beat.takes],
            )
            for beat in scene.beats
        ],
    )
