"""The read side: what ``recoil status`` and ``recoil budget`` show, computed from what the
backend holds. Reads only; never locks an episode and never writes a document (the
filesystem backend's status index, a cache of what status read, is refreshed)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any, Protocol

import attrs

from recoil_core.budget import usd
from recoil_core.model import (
    Downstream,
    Scene,
    StepState,
    Take,
    TakeState,
    Workflow,
    WorkflowStep,
)
from recoil_core.persistence.protocol import PersistenceBackend
from recoil_core.runner.report import (
    BeatSummary,
    SceneSummary,
    scene_summary,
    take_attention,
    take_summary,
)
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
class StaleScene:
    """A scene whose inputs changed since its active version was derived: a candidate
    version waits, staged by a run, until ``conform`` makes it active."""

    scene_id: str
    active_version: int
    candidate_version: int
    note: str
    """What the run that staged the candidate recorded (``inputs changed``...)."""
    changes: list[str]
    """What differs between the active version and the candidate, beat by beat."""
    conform: str
    """The command that makes the candidate active."""


@attrs.frozen
class EpisodeStatus:
    """One episode as ``recoil status`` shows it."""

    episode: str
    scenes: list[PersistedScene]
    attention: list[str]
    billable: list[BillableTake]
    marks: dict[str, str] = attrs.field(factory=dict)
    """Review marks by ``SCENE/BEAT`` (see :func:`recoil_core.selection.mark_lines`)."""
    stale: list[StaleScene] = attrs.field(factory=list)
    """Scenes with a candidate version waiting, and why (see :func:`derivation_changes`)."""

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
            if not episode.stale:
                del data["stale"]  # present only for an episode with a candidate waiting
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
    return [_billable(take) for beat in scene.beats for take in beat.takes if owes(take)]


def needs_attention(scene: Scene) -> list[str]:
    """Human-readable problems in a persisted scene (for ``recoil status``)."""
    return [
        f"{take.take_id}: {message}"
        for beat in scene.beats
        for take in beat.takes
        if (message := take_attention(take)) is not None
    ]


def episode_status(backend: PersistenceBackend, project: str, episode: str) -> EpisodeStatus:
    """Every stored scene of ``episode``, what needs attention and what may still bill.

    A backend with ``load_status_documents`` (optional, see
    :class:`~recoil_core.persistence.protocol.PersistenceBackend`) hands over each scene's
    decoded manifest and active document, and only what status shows is built from them;
    any other backend's scenes are loaded whole. Both give the same report. A backend with
    ``status_index`` (the filesystem's) also keeps what :func:`status_fields` takes of
    each scene's documents, and hands it back while those files are unchanged."""
    read_documents: ReadDocuments | None = getattr(backend, "load_status_documents", None)
    index_of = getattr(backend, "status_index", None)
    index: StatusIndex | None = (
        index_of(project, episode, STATUS_FIELDS) if index_of is not None else None
    )
    scenes: list[PersistedScene] = []
    attention: list[str] = []
    billable: list[BillableTake] = []
    stale: list[StaleScene] = []
    listed: list[str] = []
    listing = index.scene_ids() if index is not None else backend.list_scenes(project, episode)
    for scene_id in listing:
        if index is not None:
            found = _read_indexed(index, backend, project, episode, scene_id)
        elif read_documents is not None:
            found = _read_light(read_documents, backend, project, episode, scene_id)
        else:
            found = _from_scene(backend, project, episode, scene_id)
        if found is None:
            continue
        summary, active, candidates, owed = found
        if candidates:
            attention.append(
                f"{scene_id}: candidate v{candidates[-1]} waits; "
                f"`recoil rederive --conform {scene_id}` makes it active"
            )
            if (why := stale_scene(backend, project, episode, scene_id, active)) is not None:
                stale.append(why)
        attention += [  # as needs_attention(scene), from the summary's takes
            f"{take.take_id}: {take.attention}"
            for beat in summary.beats
            for take in beat.takes
            if take.attention is not None
        ]
        billable += owed
        scenes.append(
            PersistedScene(
                scene_id=summary.scene_id,
                version=summary.version,
                action=summary.action,
                beats=summary.beats,
                candidates=candidates,
            )
        )
        listed.append(scene_id)
    if index is not None:
        index.save()
    marks = {
        f"{s}/{b}": line
        for (s, b), line in mark_lines(
            backend, project, episode, _loaded(backend, project, episode, listed)
        ).items()
    }
    return EpisodeStatus(
        episode=episode,
        scenes=scenes,
        attention=attention,
        billable=billable,
        marks=marks,
        stale=stale,
    )


ReadDocuments = Callable[[str, str, str], tuple[dict[str, Any], dict[str, Any]] | None]
"""A backend's optional ``load_status_documents``."""

_Found = tuple[SceneSummary, int, list[int], list[BillableTake]]
"""A scene as status reads it: its summary, active version, candidates and billable takes."""


def _from_scene(
    backend: PersistenceBackend, project: str, episode: str, scene_id: str
) -> _Found | None:
    manifest = backend.load_manifest(project, episode, scene_id)
    scene = backend.load_scene(project, episode, scene_id)
    if scene is None or manifest is None:
        return None
    summary = scene_summary(scene, manifest.active_version, "persisted")
    candidates = [c.version for c in manifest.candidates()]
    return summary, manifest.active_version, candidates, billable_takes(scene)


def _read_light(
    read_documents: ReadDocuments,
    backend: PersistenceBackend,
    project: str,
    episode: str,
    scene_id: str,
) -> _Found | None:
    """:func:`_from_documents` of what ``load_status_documents`` returns; a document it
    cannot read plainly (a field missing or of the wrong kind) is loaded whole instead, so
    that the backend says what is wrong with it as any read does."""
    documents = read_documents(project, episode, scene_id)
    try:
        return _from_documents(documents)
    except (KeyError, TypeError, ValueError, AttributeError):
        return _from_scene(backend, project, episode, scene_id)


class StatusIndex(Protocol):
    """A backend's optional ``status_index(project, episode, tag)``: what status kept of
    each scene at its last reading, used while the scene's files are unchanged (see
    :class:`recoil_core.persistence.status_index.StatusIndex`)."""

    def scene_ids(self) -> list[str]: ...

    def cached(self, scene_id: str) -> Any | None: ...

    def read(self, scene_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None: ...

    def keep(self, scene_id: str, fields: Any) -> None: ...

    def save(self) -> None: ...


STATUS_FIELDS = "status-fields-1"
"""The form of what :func:`status_fields` keeps; a new form must have a new name (an
index of another form is ignored)."""


def status_fields(manifest: dict[str, Any], document: dict[str, Any]) -> list[dict[str, Any]]:
    """Of a decoded manifest and scene document, every field :func:`_from_documents` reads
    (a field absent stays absent), as the JSON the status index keeps of a scene:
    ``[manifest, document]``."""
    versions = [_pick(entry, ("version", "downstream")) for entry in manifest["versions"]]
    beats = []
    for beat in document.get("beats", ()):
        kept = _pick(beat, ("beat_id", "modality", "primary_take_id"))
        if "grouping" in beat:
            grouping = beat["grouping"]
            kept["grouping"] = (
                None if grouping is None else {"shot_ids": list(grouping["shot_ids"])}
            )
        if "segments" in beat:
            kept["segments"] = [
                {"shot_id": s["shot_id"]} for s in beat["segments"] if s.get("shot_id") is not None
            ]
        if "takes" in beat:
            kept["takes"] = [_take_fields(take) for take in beat["takes"]]
        beats.append(kept)
    scene = {"scene_id": document["scene_id"]}
    if "beats" in document:
        scene["beats"] = beats
    return [{"active_version": manifest["active_version"], "versions": versions}, scene]


_TAKE_FIELDS = ("take_id", "state", "cost_usd", "render_path", "error", "attention")
_STEP_FIELDS = ("state", "job_id", "estimate_usd")


def _take_fields(take: dict[str, Any]) -> dict[str, Any]:
    kept = _pick(take, _TAKE_FIELDS)
    workflow = take["workflow"]
    kept["workflow"] = (
        {"steps": [_pick(step, _STEP_FIELDS) for step in workflow["steps"]]}
        if "steps" in workflow
        else {}
    )
    return kept


def _pick(data: dict[str, Any], names: Sequence[str]) -> dict[str, Any]:
    return {name: data[name] for name in names if name in data}


def _read_indexed(
    index: StatusIndex,
    backend: PersistenceBackend,
    project: str,
    episode: str,
    scene_id: str,
) -> _Found | None:
    """:func:`_read_light` through the status index: the fields it kept of an unchanged
    scene, else the documents read (and their fields kept)."""
    fields = index.cached(scene_id)
    if fields is not None:
        with contextlib.suppress(KeyError, TypeError, ValueError, AttributeError):
            return _from_documents(fields)
    documents = index.read(scene_id)
    try:
        found = _from_documents(documents)
    except (KeyError, TypeError, ValueError, AttributeError):
        return _from_scene(backend, project, episode, scene_id)
    if documents is not None:
        with contextlib.suppress(KeyError, TypeError, ValueError, AttributeError):
            index.keep(scene_id, status_fields(*documents))
    return found


def _from_documents(found: tuple[dict[str, Any], dict[str, Any]] | None) -> _Found | None:
    """:func:`_from_scene` from the decoded manifest and active scene documents: each take
    is built with only the fields its summary reads (state, steps' states, job ids and
    estimates, render, cost, error, attention), so the summaries are the same functions'."""
    if found is None:
        return None
    manifest, document = found
    active: int = manifest["active_version"]
    candidates = [
        entry["version"]
        for entry in manifest["versions"]
        if Downstream(entry["downstream"]) is Downstream.NOT_DERIVED and entry["version"] != active
    ]
    beats: list[BeatSummary] = []
    owed: list[BillableTake] = []
    for beat in document.get("beats", ()):
        takes = [_status_take(take) for take in beat.get("takes", ())]
        grouping = beat.get("grouping")
        shot_ids = (
            list(grouping["shot_ids"])
            if grouping is not None
            else [s["shot_id"] for s in beat.get("segments", ()) if s.get("shot_id") is not None]
        )
        beats.append(
            BeatSummary(
                beat_id=beat["beat_id"],
                modality=beat.get("modality", "video_i2v"),
                shot_ids=shot_ids,
                succeeded=any(take.state == TakeState.SUCCEEDED for take in takes),
                primary_take_id=beat.get("primary_take_id"),
                takes=[take_summary(take) for take in takes],
            )
        )
        owed += [_billable(take) for take in takes if owes(take)]
    summary = SceneSummary(
        scene_id=document["scene_id"], version=active, action="persisted", beats=beats
    )
    return summary, active, candidates, owed


def _status_take(data: dict[str, Any]) -> Take:
    """A take from its document, with what status reads of it (the rest left default)."""
    steps = [
        WorkflowStep(
            step_id="",
            modality="",
            state=StepState(step.get("state", StepState.PLANNED)),
            job_id=step.get("job_id"),
            estimate_usd=float(step.get("estimate_usd", 0.0)),
        )
        for step in data["workflow"].get("steps", ())
    ]
    return Take(
        take_id=data["take_id"],
        index=0,
        workflow=Workflow(workflow_id="", steps=steps),
        state=TakeState(data.get("state", TakeState.PLANNED)),
        created_at="",
        updated_at="",
        cost_usd=float(data.get("cost_usd", 0.0)),
        render_path=data.get("render_path"),
        error=data.get("error"),
        attention=data.get("attention"),
    )


def _billable(take: Take) -> BillableTake:
    return BillableTake(
        take_id=take.take_id,
        state=take.state,
        job_ids=[s.job_id for s in take.workflow.steps if s.job_id and s.state in OWED_STEP_STATES],
        estimate_usd=round(owed_estimate(take), 6),
    )


def _loaded(
    backend: PersistenceBackend, project: str, episode: str, scene_ids: Sequence[str]
) -> Iterator[Scene]:
    """The active versions of ``scene_ids``, loaded only when iterated (marks need the
    beats; an episode without marks never reads them)."""
    for scene_id in scene_ids:
        scene = backend.load_scene(project, episode, scene_id)
        if scene is not None:
            yield scene


def stale_scene(
    backend: PersistenceBackend, project: str, episode: str, scene_id: str, active: int
) -> StaleScene | None:
    """Why ``scene_id``'s latest candidate version waits: the note the run that staged it
    recorded and what differs between the active version and the candidate."""
    manifest = backend.load_manifest(project, episode, scene_id)
    waiting = manifest.candidates() if manifest is not None else []
    if not waiting:
        return None
    entry = waiting[-1]
    current = backend.load_scene(project, episode, scene_id, active)
    candidate = backend.load_scene(project, episode, scene_id, entry.version)
    changes = (
        derivation_changes(current, candidate)
        if current is not None and candidate is not None
        else []
    )
    return StaleScene(
        scene_id=scene_id,
        active_version=active,
        candidate_version=entry.version,
        note=entry.note,
        changes=changes,
        conform=f"recoil rederive --conform {scene_id}",
    )


def derivation_changes(active: Scene, candidate: Scene) -> list[str]:
    """What differs between two versions of a scene, one line per beat: beats added or
    removed, and of a beat derived differently which of its stored inputs changed (its
    shots, segments, generation or element config keys, the assets it records). A beat
    whose derivation digest changed with none of these is said to have changed in its
    shots' text or the looks and references of the assets they show (the digest covers
    them; the scene does not store them)."""
    before = {beat.beat_id: beat for beat in active.beats}
    after = {beat.beat_id: beat for beat in candidate.beats}
    lines = [f"{beat_id}: removed" for beat_id in before if beat_id not in after]
    for beat_id, new in after.items():
        old = before.get(beat_id)
        if old is None:
            lines.append(f"{beat_id}: added")
            continue
        what: list[str] = []
        if old.shot_ids != new.shot_ids:
            what.append(f"shots {', '.join(old.shot_ids)} -> {', '.join(new.shot_ids)}")
        passes = [b.grouping.source_pass_id if b.grouping else None for b in (old, new)]
        if passes[0] != passes[1]:
            what.append(f"pass {passes[0]} -> {passes[1]}")
        if old.segments != new.segments:
            what.append("segments")
        for name in ("generation_config", "element_config"):
            keys = _changed_keys(getattr(old, name), getattr(new, name))
            if keys:
                what.append(f"{name} ({', '.join(keys)})")
        what += _asset_changes(old.metadata.get("assets"), new.metadata.get("assets"))
        if not what and old.metadata.get("digest") != new.metadata.get("digest"):
            what.append("its shots or the looks and references of the assets they show")
        if what:
            lines.append(f"{beat_id}: {'; '.join(what)}")
    return lines


def _changed_keys(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


def _asset_changes(old: object, new: object) -> list[str]:
    """Assets whose fingerprint (``{asset, look, reference_images, approved}``, as a beat's
    metadata may record them) differs, and which parts."""
    if not isinstance(old, list) or not isinstance(new, list):
        return []
    before = {a.get("asset"): a for a in old if isinstance(a, dict)}
    after = {a.get("asset"): a for a in new if isinstance(a, dict)}
    lines = []
    for asset_id in sorted(before.keys() | after.keys(), key=str):
        a, b = before.get(asset_id), after.get(asset_id)
        if a == b:
            continue
        if a is None or b is None:
            lines.append(f"asset {asset_id} {'added' if a is None else 'removed'}")
        else:
            parts = ", ".join(
                k for k in ("look", "reference_images", "approved") if a.get(k) != b.get(k)
            )
            lines.append(f"asset {asset_id} ({parts or 'changed'})")
    return lines


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
