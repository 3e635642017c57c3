"""Selection as data: per beat, the take chosen for the cut, an approve/reject verdict with
a note, and retake requests, each recorded with who and when.

Marks are stored through the backend protocol (``load_marks`` / ``save_mark``, one small
document per beat, compare-and-set by revision); they never touch takes, the ledger or
renders. Rendering a requested retake is the runner's business (:func:`pending_retakes`
says how many a beat is owed); this module only reads scenes to check what is marked.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs

from recoil_core.convert import converter, dump_document, load_document
from recoil_core.errors import CorruptDocumentError, RecoilError
from recoil_core.model import Beat, CanonicalPlan, Scene, Take, TakeState, utc_now

if TYPE_CHECKING:
    from recoil_core.persistence.protocol import PersistenceBackend

__all__ = [
    "MARK_KIND",
    "BeatMark",
    "Cut",
    "CutEvent",
    "MarkAction",
    "MarkConflictError",
    "MarkEvent",
    "SelectionError",
    "Verdict",
    "approve",
    "cut_take",
    "describe_mark",
    "episode_cut",
    "load_marks",
    "mark_lines",
    "marks_by_beat",
    "pending_retakes",
    "reject",
    "request_retake",
    "select_take",
]

MARK_KIND: Final = "beat_mark"
"""Document kind of one beat's mark (the ``document`` given to ``save_mark``)."""

_SAVE_ATTEMPTS = 20


class Verdict(enum.StrEnum):
    """A reviewer's verdict on a beat's take (compares equal to its string)."""

    APPROVED = "approved"
    REJECTED = "rejected"


class MarkAction(enum.StrEnum):
    """What one :class:`MarkEvent` did."""

    SELECT = "select"
    APPROVE = "approve"
    REJECT = "reject"
    RETAKE = "retake"


class SelectionError(RecoilError):
    """A mark named a scene, beat or take that cannot be marked that way."""

    exit_code = 2


class MarkConflictError(RecoilError):
    """A beat's mark kept changing under this writer; nothing was written."""

    exit_code = 4


def _verdict(value: Verdict | str | None) -> Verdict | None:
    return None if value is None else Verdict(value)


@attrs.frozen
class MarkEvent:
    """One change to a beat's mark: what, by whom, when (UTC ISO 8601)."""

    action: MarkAction = attrs.field(converter=MarkAction)
    by: str
    at: str
    take_id: str | None = None
    note: str = ""


def _events(events: Iterable[MarkEvent]) -> tuple[MarkEvent, ...]:
    return tuple(events)


@attrs.frozen
class BeatMark:
    """A beat's review state. ``by`` and ``at`` are those of its latest change;
    ``history`` holds every change, oldest first. ``retakes_requested`` counts every
    retake ever asked for (:func:`pending_retakes` says how many are still owed).
    ``revision`` is the stored revision it was read at (0: never stored)."""

    scene_id: str
    beat_id: str
    selected_take: str | None = None
    verdict: Verdict | None = attrs.field(default=None, converter=_verdict)
    note: str = ""
    retakes_requested: int = 0
    by: str = ""
    at: str = ""
    history: tuple[MarkEvent, ...] = attrs.field(default=(), converter=_events)
    revision: int = attrs.field(default=0, eq=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``--json`` output, the review page); ``history`` included."""
        data: dict[str, Any] = converter.unstructure(self)
        return data


# ------------------------------------------------------------------ reading


def _decode(document: dict[str, Any], revision: int, source: str) -> BeatMark:
    if document.get("document") != MARK_KIND:
        found = document.get("document")
        raise CorruptDocumentError(source, f"expected a {MARK_KIND} document, found {found!r}")
    data = {**document, "revision": revision}
    return load_document(MARK_KIND, data, BeatMark, source=source)


def load_marks(
    backend: PersistenceBackend, project: str, episode: str
) -> dict[tuple[str, str], BeatMark]:
    """Every marked beat of the episode, by ``(scene_id, beat_id)``."""
    stored = backend.load_marks(project, episode)
    return {
        key: _decode(document, revision, f"mark of {project}/{episode}/{key[0]}/{key[1]}")
        for key, (revision, document) in stored.items()
    }


def cut_take(beat: Beat, mark: BeatMark | None) -> Take | None:
    """The take the cut uses: the selected one while it is a succeeded take of the beat,
    else the newest succeeded take (``None``: nothing rendered)."""
    if mark is not None and mark.selected_take is not None:
        for take in beat.takes:
            if take.take_id == mark.selected_take and take.state == TakeState.SUCCEEDED:
                return take
    for take in reversed(beat.takes):
        if take.state == TakeState.SUCCEEDED:
            return take
    return None


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def pending_retakes(mark: BeatMark | None, beat: Beat) -> int:
    """Retakes asked for and not yet started: each request is used up by the first take
    that reached a provider after it was made (in whichever scene version), so a take
    started for it, paid or not, settles it, and a run never starts two for one request."""
    if mark is None or not mark.retakes_requested:
        return 0
    from recoil_core.takes import never_dispatched

    started = sorted(_when(t.created_at) for t in beat.takes if not never_dispatched(t))
    owed = 0
    for request in sorted(_when(e.at) for e in mark.history if e.action == MarkAction.RETAKE):
        later = [stamp for stamp in started if stamp > request]
        if later:
            started.remove(later[0])
        else:
            owed += 1
    return owed


def describe_mark(mark: BeatMark | None, beat: Beat | None = None) -> str:
    """One line for ``recoil status``: ``selected B_take_1, approved by ana, 1 retake
    pending`` (empty when the beat carries no mark)."""
    if mark is None:
        return ""
    parts: list[str] = []
    if mark.selected_take:
        parts.append(f"selected {mark.selected_take}")
    if mark.verdict is not None:
        judged = [e for e in mark.history if e.action in (MarkAction.APPROVE, MarkAction.REJECT)]
        said = f"{mark.verdict.value} by {judged[-1].by if judged else mark.by}"
        parts.append(f"{said}: {mark.note}" if mark.note else said)
    if mark.retakes_requested:
        owed = pending_retakes(mark, beat) if beat is not None else mark.retakes_requested
        parts.append(f"{owed} retake(s) pending" if owed else "retake(s) started")
    return ", ".join(parts)


def mark_lines(
    backend: PersistenceBackend, project: str, episode: str, scenes: Iterable[Scene]
) -> dict[tuple[str, str], str]:
    """For ``recoil status``: :func:`describe_mark` of every marked beat of ``scenes``,
    by ``(scene_id, beat_id)`` (one read of the episode's marks)."""
    marks = load_marks(backend, project, episode)
    if not marks:
        return {}
    lines: dict[tuple[str, str], str] = {}
    for scene in scenes:
        for beat in scene.beats:
            mark = marks.get((scene.scene_id, beat.beat_id))
            if mark is not None:
                lines[(scene.scene_id, beat.beat_id)] = describe_mark(mark, beat)
    return lines


# ------------------------------------------------------------------ writing


def _beat(
    backend: PersistenceBackend, project: str, episode: str, scene_id: str, beat_id: str
) -> Beat:
    found = backend.load_active(project, episode, scene_id)
    if found is None:
        known = ", ".join(backend.list_scenes(project, episode)) or "none"
        raise SelectionError(
            f"{project}/{episode} has no scene {scene_id!r} (scenes: {known}); "
            "run the episode first, or check the name in `recoil status`"
        )
    scene = found[0]
    for beat in scene.beats:
        if beat.beat_id == beat_id:
            return beat
    known = ", ".join(b.beat_id for b in scene.beats) or "none"
    raise SelectionError(f"scene {scene_id} has no beat {beat_id!r} (beats: {known})")


def _update(
    backend: PersistenceBackend,
    project: str,
    episode: str,
    scene_id: str,
    beat_id: str,
    change: Callable[[BeatMark], BeatMark],
) -> BeatMark:
    """Apply ``change`` to the beat's current mark and store it (compare-and-set, retried
    when another reviewer or process saved in between)."""
    key = (scene_id, beat_id)
    for _ in range(_SAVE_ATTEMPTS):
        current = load_marks(backend, project, episode).get(key) or BeatMark(scene_id, beat_id)
        changed = change(current)
        document = dump_document(MARK_KIND, attrs.evolve(changed, revision=0))
        document.pop("revision", None)
        revision = backend.save_mark(
            project, episode, scene_id, beat_id, document, expected_revision=current.revision
        )
        if revision is not None:
            return attrs.evolve(changed, revision=revision)
    raise MarkConflictError(
        f"the mark of {scene_id}/{beat_id} changed {_SAVE_ATTEMPTS} times while saving it; "
        "nothing was written, try again"
    )


def _record(mark: BeatMark, event: MarkEvent, **changes: Any) -> BeatMark:
    return attrs.evolve(mark, by=event.by, at=event.at, history=(*mark.history, event), **changes)


def _require_by(by: str) -> str:
    if not by.strip():
        raise SelectionError("say who marks it (by=...; the CLI takes --by, default the login)")
    return by.strip()


def select_take(
    backend: PersistenceBackend,
    project: str,
    episode: str,
    scene_id: str,
    beat_id: str,
    take_id: str,
    *,
    by: str,
) -> BeatMark:
    """Choose ``take_id`` for the cut. Refuses a take the beat does not have, or one that
    did not succeed. A new choice clears the verdict (it was about the other take)."""
    by = _require_by(by)
    beat = _beat(backend, project, episode, scene_id, beat_id)
    take = next((t for t in beat.takes if t.take_id == take_id), None)
    if take is None:
        known = ", ".join(t.take_id for t in beat.takes) or "none yet"
        raise SelectionError(f"beat {beat_id} has no take {take_id!r} (takes: {known})")
    if take.state != TakeState.SUCCEEDED:
        raise SelectionError(
            f"take {take_id} is {take.state.value}, not succeeded: only a rendered take "
            "can be selected"
        )
    event = MarkEvent(MarkAction.SELECT, by, utc_now(), take_id=take_id)

    def change(mark: BeatMark) -> BeatMark:
        if mark.selected_take == take_id:
            return _record(mark, event)
        return _record(mark, event, selected_take=take_id, verdict=None, note="")

    return _update(backend, project, episode, scene_id, beat_id, change)


def _judge(
    backend: PersistenceBackend,
    project: str,
    episode: str,
    scene_id: str,
    beat_id: str,
    verdict: Verdict,
    by: str,
    note: str,
) -> BeatMark:
    by = _require_by(by)
    beat = _beat(backend, project, episode, scene_id, beat_id)
    marks = load_marks(backend, project, episode)
    take = cut_take(beat, marks.get((scene_id, beat_id)))
    if take is None:
        raise SelectionError(
            f"beat {beat_id} has no succeeded take to {verdict.value[:-1]}; run the episode first"
        )
    action = MarkAction.APPROVE if verdict is Verdict.APPROVED else MarkAction.REJECT
    event = MarkEvent(action, by, utc_now(), take_id=take.take_id, note=note)

    def change(mark: BeatMark) -> BeatMark:
        # the verdict is about the take the reviewer saw: it becomes the selected one
        return _record(mark, event, selected_take=take.take_id, verdict=verdict, note=note)

    return _update(backend, project, episode, scene_id, beat_id, change)


def approve(
    backend: PersistenceBackend,
    project: str,
    episode: str,
    scene_id: str,
    beat_id: str,
    *,
    by: str,
    note: str = "",
) -> BeatMark:
    """Approve the beat's cut take (the selected one, else the newest succeeded, which
    then becomes the selected one)."""
    return _judge(backend, project, episode, scene_id, beat_id, Verdict.APPROVED, by, note)


def reject(
    backend: PersistenceBackend,
    project: str,
    episode: str,
    scene_id: str,
    beat_id: str,
    *,
    by: str,
    note: str,
) -> BeatMark:
    """Reject the beat's cut take, saying why in ``note`` (required)."""
    if not note.strip():
        raise SelectionError("say why the take is rejected (a note; the CLI takes --note)")
    return _judge(backend, project, episode, scene_id, beat_id, Verdict.REJECTED, by, note)


def request_retake(
    backend: PersistenceBackend,
    project: str,
    episode: str,
    scene_id: str,
    beat_id: str,
    *,
    by: str,
    note: str = "",
) -> BeatMark:
    """Ask for one more take of the beat on the next run (within that run's
    ``--max-takes`` and budget); the request is used up once that take starts."""
    by = _require_by(by)
    _beat(backend, project, episode, scene_id, beat_id)
    event = MarkEvent(MarkAction.RETAKE, by, utc_now(), note=note)

    def change(mark: BeatMark) -> BeatMark:
        return _record(mark, event, retakes_requested=mark.retakes_requested + 1)

    return _update(backend, project, episode, scene_id, beat_id, change)


def marks_by_beat(marks: Mapping[tuple[str, str], BeatMark], scene_id: str) -> dict[str, BeatMark]:
    """The marks of one scene, by beat id."""
    return {beat: mark for (scene, beat), mark in marks.items() if scene == scene_id}


# ------------------------------------------------------------------ the cut


@attrs.frozen
class CutEvent:
    """One plan shot in the cut: where it is in which take's render, or why there is none.

    ``source_in_s`` is where the shot starts inside the render (its segment's offset in a
    multi-shot clip); ``clip_duration_s`` is the whole render's length (as the provider
    reported it, else the beat's segments: a provider may round a clip up).
    ``render_path`` is a local absolute path, ``None`` when the shot has no render (then
    ``missing`` says why and the editor gets a gap of ``duration_s``).
    """

    shot_id: str
    duration_s: float
    scene_id: str | None = None
    beat_id: str | None = None
    take_id: str | None = None
    render_path: str | None = None
    source_in_s: float = 0.0
    clip_duration_s: float = 0.0
    metadata: dict[str, Any] = attrs.field(factory=dict)
    missing: str = ""


@attrs.frozen
class Cut:
    """An episode's cut in plan order: one :class:`CutEvent` per plan shot. ``fps`` is the
    frame rate the renders report (``None`` when none does)."""

    project: str
    episode: str
    events: tuple[CutEvent, ...]
    fps: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what ``recoil export`` hands to recoil-otio."""
        data: dict[str, Any] = converter.unstructure(self)
        return data


def _render_file(take: Take, renders_dir: Path) -> Path | None:
    if take.render_path is None:
        return None
    path = Path(take.render_path)
    if not path.is_absolute():
        path = renders_dir.parent / path
    return path


def _reported(take: Take) -> dict[str, Any]:
    """What the provider reported about the render (fps, duration_s...): from the receipt
    of the take's last step, else from the render's sidecar."""
    step = take.workflow.steps[-1] if take.workflow.steps else None
    if step is not None and step.receipt is not None and step.receipt.run_result.metadata:
        return step.receipt.run_result.metadata
    if take.sidecar_path is None:
        return {}
    from recoil_core import jsonio

    try:
        data = jsonio.loads(Path(take.sidecar_path).read_bytes())
    except (OSError, ValueError):
        return {}
    provenance = data.get("provenance") if isinstance(data, dict) else None
    reported = provenance.get("provider_metadata") if isinstance(provenance, dict) else None
    return reported if isinstance(reported, dict) else {}


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return float(value)


def _take_facts(take: Take, mark: BeatMark | None) -> dict[str, Any]:
    """The take's metadata for the editor: take, model, provider, seed, job, cost, verdict."""
    step = take.workflow.steps[-1] if take.workflow.steps else None
    return {
        "take_id": take.take_id,
        "take_uid": take.uid,
        "model": step.model if step is not None else None,
        "provider": step.provider if step is not None else None,
        "seed": step.seed if step is not None else None,
        "job_id": step.job_id if step is not None else None,
        "cost_usd": take.cost_usd,
        "selected": mark is not None and mark.selected_take == take.take_id,
        "verdict": None if mark is None or mark.verdict is None else mark.verdict.value,
        "note": "" if mark is None else mark.note,
    }


def episode_cut(backend: PersistenceBackend, plan: CanonicalPlan) -> Cut:
    """The plan's episode as an editor gets it: each plan shot, in plan order, from the cut
    take (:func:`cut_take`) of the beat that covers it; a shot of a multi-shot clip starts
    where its segment starts. A shot covered by several beats (a coverage pass beside its
    main unit) comes from one with a render, a main unit first. A shot without a render
    (not run, failed, or its file gone) is an event with ``missing`` set. Reads only."""
    project, episode = plan.project, plan.episode_id
    marks = load_marks(backend, project, episode)
    renders_dir = Path(backend.renders_dir(project, episode))
    # shot id -> candidates (rank, event); lower rank wins
    found: dict[str, list[tuple[tuple[int, int, int], CutEvent]]] = {}
    fps: float | None = None
    order = 0
    for scene_id in backend.list_scenes(project, episode):
        loaded = backend.load_active(project, episode, scene_id)
        if loaded is None:
            continue
        for beat in loaded[0].beats:
            order += 1
            mark = marks.get((scene_id, beat.beat_id))
            take = cut_take(beat, mark)
            media = None if take is None else _render_file(take, renders_dir)
            facts: dict[str, Any] = {}
            clip_s = sum(segment.duration_s for segment in beat.segments)
            if take is not None:
                facts = _take_facts(take, mark)
                reported = _reported(take)
                fps = fps or _number(reported.get("fps"))
                clip_s = _number(reported.get("duration_s")) or clip_s
            missing = ""
            if take is None:
                missing = "no succeeded take"
            elif media is None or not media.is_file():
                missing = f"render of {take.take_id} not found"
            is_pass = beat.grouping is not None and beat.grouping.source_pass_id is not None
            offset = 0.0
            for segment in beat.segments:
                if segment.shot_id is not None:
                    event = CutEvent(
                        shot_id=segment.shot_id,
                        duration_s=segment.duration_s,
                        scene_id=scene_id,
                        beat_id=beat.beat_id,
                        take_id=None if take is None else take.take_id,
                        render_path=None if missing or media is None else str(media),
                        source_in_s=offset,
                        clip_duration_s=clip_s,
                        metadata={**facts, "prompt": segment.prompt},
                        missing=missing,
                    )
                    rank = (1 if missing else 0, 1 if is_pass else 0, order)
                    found.setdefault(segment.shot_id, []).append((rank, event))
                offset += segment.duration_s
    events = []
    for shot in plan.shots:
        candidates = sorted(found.get(shot.shot_id, []), key=lambda item: item[0])
        if candidates:
            events.append(candidates[0][1])
        else:
            events.append(
                CutEvent(shot_id=shot.shot_id, duration_s=shot.duration_s, missing="not rendered")
            )
    return Cut(project=project, episode=episode, events=tuple(events), fps=fps)
