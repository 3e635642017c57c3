"""The read side: what ``recoil status`` and ``recoil budget`` show, computed from what the
backend holds. Reads only; never locks an episode and never writes."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import attrs

from recoil_core.budget import usd
from recoil_core.model import Scene, TakeState
from recoil_core.persistence.protocol import PersistenceBackend
from recoil_core.runner.report import SceneSummary, scene_summary, take_attention
from recoil_core.selection import mark_lines
from recoil_core.takes import OWED_STEP_STATES, owed_estimate, owes

SPEND_GROUPINGS = {
    "model": "model",
    "scene": "scene_id",
    "kind": "kind",
    "provider": "provider",
    "episode": "episode",
    "price-table": "price_table",
}
"""``recoil budget --by`` names and the ledger entry field each groups by."""


@attrs.frozen
class PersistedScene(SceneSummary):
    """A stored scene's active version, and the candidate versions waiting behind it."""

    candidates: list[int] = attrs.field(factory=list)


@attrs.frozen
class BillableTake:
    """A take whose provider jobs may still bill (not yet charged)."""

    take_id: str
    state: TakeState
    job_ids: list[str]
    estimate_usd: float


@attrs.frozen
class EpisodeStatus:
    """One episode as ``recoil status`` shows it."""

    episode: str
    scenes: list[PersistedScene]
    attention: list[str]
    billable: list[BillableTake]
    marks: dict[str, str] = attrs.field(factory=dict)
    """Review marks by ``SCENE/BEAT`` (see :func:`recoil_core.selection.mark_lines`)."""

    @property
    def billable_estimate_usd(self) -> float:
        return round(sum(b.estimate_usd for b in self.billable), 6)


@attrs.frozen
class StatusReport:
    """``recoil status``: every episode asked for, scene by scene."""

    project: str
    episodes: list[EpisodeStatus]

    def to_dict(self) -> dict[str, Any]:
        from recoil_core.convert import converter

        episodes = []
        for episode in self.episodes:
            data = {
                **converter.unstructure(episode),
                "billable_estimate_usd": episode.billable_estimate_usd,
            }
            if not episode.marks:
                del data["marks"]  # present only for an episode with review marks
            episodes.append(data)
        return {"project": self.project, "episodes": episodes}


@attrs.frozen
class SpendReport:
    """``recoil budget``: the ledger's charges summed exactly, grouped ``by`` one field."""

    project: str
    episode: str | None
    by: str
    groups: dict[str, Decimal]
    entries: int

    @property
    def total_usd(self) -> Decimal:
        return sum(self.groups.values(), Decimal(0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "episode": self.episode,
            "by": self.by,
            "groups": {name: float(amount) for name, amount in sorted(self.groups.items())},
            "total_usd": float(self.total_usd),
            "entries": self.entries,
        }


def billable_takes(scene: Scene) -> list[BillableTake]:
    """Takes of ``scene`` whose provider jobs may still bill (not yet charged): a job that
    outlived a timeout, a run that was stopped, a create whose answer was lost."""
    return [
        BillableTake(
            take_id=take.take_id,
            state=take.state,
            job_ids=[
                s.job_id for s in take.workflow.steps if s.job_id and s.state in OWED_STEP_STATES
            ],
            estimate_usd=round(owed_estimate(take), 6),
        )
        for beat in scene.beats
        for take in beat.takes
        if owes(take)
    ]


def needs_attention(scene: Scene) -> list[str]:
    """Human-readable problems in a persisted scene (for ``recoil status``)."""
    return [
        f"{take.take_id}: {message}"
        for beat in scene.beats
        for take in beat.takes
        if (message := take_attention(take)) is not None
    ]


def episode_status(backend: PersistenceBackend, project: str, episode: str) -> EpisodeStatus:
    """Every stored scene of ``episode``, what needs attention and what may still bill."""
    scenes: list[PersistedScene] = []
    attention: list[str] = []
    billable: list[BillableTake] = []
    loaded: list[Scene] = []
    for scene_id in backend.list_scenes(project, episode):
        manifest = backend.load_manifest(project, episode, scene_id)
        scene = backend.load_scene(project, episode, scene_id)
        if scene is None or manifest is None:
            continue
        summary = scene_summary(scene, manifest.active_version, "persisted")
        candidates = [c.version for c in manifest.candidates()]
        if candidates:
            attention.append(
                f"{scene_id}: candidate v{candidates[-1]} waits; "
                f"`recoil rederive --conform {scene_id}` makes it active"
            )
        attention += [  # as needs_attention(scene), from the summary's takes
            f"{take.take_id}: {take.attention}"
            for beat in summary.beats
            for take in beat.takes
            if take.attention is not None
        ]
        billable += billable_takes(scene)
        scenes.append(
            PersistedScene(
                scene_id=summary.scene_id,
                version=summary.version,
                action=summary.action,
                beats=summary.beats,
                candidates=candidates,
            )
        )
        loaded.append(scene)
    marks = {
        f"{s}/{b}": line for (s, b), line in mark_lines(backend, project, episode, loaded).items()
    }
    return EpisodeStatus(
        episode=episode, scenes=scenes, attention=attention, billable=billable, marks=marks
    )


def status(backend: PersistenceBackend, project: str, episodes: Sequence[str]) -> StatusReport:
    """``recoil status`` of ``episodes`` of ``project``."""
    return StatusReport(
        project=project, episodes=[episode_status(backend, project, ep) for ep in episodes]
    )


def spend_field(by: str) -> str:
    """The ledger entry field ``recoil budget --by`` groups by; ValueError for a name
    that is neither a grouping nor a field."""
    fields = set(SPEND_GROUPINGS.values())
    field = SPEND_GROUPINGS.get(by, by)
    if field not in fields:
        names = ", ".join(SPEND_GROUPINGS)
        raise ValueError(f"--by must be one of {names} (got {by!r})")
    return field


def spend(
    backend: PersistenceBackend, project: str, episode: str | None, *, by: str = "kind"
) -> SpendReport:
    """What the ledger of ``project`` (one ``episode``, or all) holds, grouped ``by``."""
    field = spend_field(by)
    entries = backend.read_ledger(project, episode)
    groups: dict[str, Decimal] = {}
    for entry in entries:
        value = getattr(entry, field)
        name = value.value if hasattr(value, "value") else str(value or "not recorded")
        groups[name] = groups.get(name, Decimal(0)) + usd(entry.amount_usd)  # exact sums
    return SpendReport(project=project, episode=episode, by=by, groups=groups, entries=len(entries))
