"""The read side of the review page: an episode's scenes, beats, takes, review marks and
spend, as JSON-ready data, read through the backend protocol only. Writes nothing."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import attrs

from recoil_core.api import Beat, PersistenceBackend, Scene, Take, TakeState, WorkflowStep


class Mark(Protocol):
    """A beat's review mark as the kernel's selection API returns it."""

    @property
    def selected_take(self) -> str | None: ...

    def to_dict(self) -> dict[str, Any]: ...


class Selection(Protocol):
    """The kernel's selection API (``recoil_core.selection``), handed in by ``recoil
    review``: the page reads marks and changes them through it alone."""

    def load_marks(
        self, backend: PersistenceBackend, project: str, episode: str
    ) -> Mapping[tuple[str, str], Mark]: ...

    def select_take(
        self,
        backend: PersistenceBackend,
        project: str,
        episode: str,
        scene_id: str,
        beat_id: str,
        take_id: str,
        *,
        by: str,
    ) -> Mark: ...

    def approve(
        self,
        backend: PersistenceBackend,
        project: str,
        episode: str,
        scene_id: str,
        beat_id: str,
        *,
        by: str,
        note: str = "",
    ) -> Mark: ...

    def reject(
        self,
        backend: PersistenceBackend,
        project: str,
        episode: str,
        scene_id: str,
        beat_id: str,
        *,
        by: str,
        note: str,
    ) -> Mark: ...

    def request_retake(
        self,
        backend: PersistenceBackend,
        project: str,
        episode: str,
        scene_id: str,
        beat_id: str,
        *,
        by: str,
    ) -> Mark: ...

    def cut_take(self, beat: Beat, mark: Any) -> Take | None: ...

    def pending_retakes(self, mark: Any, beat: Beat) -> int: ...


@attrs.frozen
class Episode:
    """The episode a review server shows, and how to reach it."""

    backend: PersistenceBackend
    selection: Selection
    project: str
    episode: str
    cap_usd: Decimal | None = None
    """The spend cap to show the episode's spend against (``None``: no cap given)."""
    shot_order: tuple[str, ...] = ()
    """The plan's shot ids in plan order: scenes and beats are shown in it."""


def _video_step(take: Take, modality: str) -> WorkflowStep | None:
    """The step that renders the take's video (its beat's modality; else the last step)."""
    steps = take.workflow.steps
    for step in reversed(steps):
        if step.modality == modality:
            return step
    return steps[-1] if steps else None


def inside(path: str | None, folder: str) -> Path | None:
    """``path`` as an existing file inside ``folder`` (symlinks resolved), else None: the
    server sends only files the episode's renders folder holds."""
    if not path:
        return None
    resolved = Path(path).resolve()
    root = Path(folder).resolve()
    if not resolved.is_relative_to(root) or not resolved.is_file():
        return None
    return resolved


def _media_url(*parts: str) -> str:
    return "/media/" + "/".join(quote(part, safe="") for part in parts)


def _references(
    take: Take, step: WorkflowStep | None, ids: tuple[str, str], renders: str
) -> list[dict[str, Any]]:
    """What guided the take: the plan's frames and references, and the outputs of the
    steps feeding it (keyframes), each with a link when the file is in the renders folder."""
    if step is None:
        return []
    found: list[dict[str, Any]] = []
    payload = step.payload
    for role in ("first_frame", "last_frame"):
        value = payload.get(role)
        if isinstance(value, str) and value:
            found.append({"role": role, "source": "plan", "name": _name(value), "url": None})
    for value in payload.get("reference_images") or ():
        if isinstance(value, str) and value:
            found.append({"role": "reference", "source": "plan", "name": _name(value), "url": None})
    for role, step_id in step.inputs.items():
        try:
            source = take.workflow.step(step_id)
        except KeyError:
            continue
        output = source.receipt.run_result.output_path if source.receipt is not None else None
        url = _media_url(*ids, take.take_id, step_id) if inside(output, renders) else None
        name = _name(output) if output else f"{step_id} (not rendered)"
        found.append({"role": role, "source": step_id, "name": name, "url": url})
    return found


def _name(value: str) -> str:
    return value if value.startswith(("http://", "https://")) else os.path.basename(value)


def _money(value: float) -> str:
    return f"{Decimal(repr(float(value))):.4f}"


def take_view(
    take: Take, beat: Beat, scene_id: str, renders: str, *, selected: str | None, cut: str | None
) -> dict[str, Any]:
    """One take as the page shows it."""
    step = _video_step(take, beat.modality)
    ids = (scene_id, beat.beat_id)
    playable = take.state == TakeState.SUCCEEDED and inside(take.render_path, renders) is not None
    payload = step.payload if step is not None else {}
    return {
        "take_id": take.take_id,
        "index": take.index,
        "version": take.version,
        "state": take.state.value,
        "selected": take.take_id == selected,
        "in_cut": take.take_id == cut,
        "prompt": payload.get("prompt") if isinstance(payload.get("prompt"), str) else None,
        "provider": step.provider if step is not None else None,
        "model": step.model if step is not None else None,
        "seed": step.seed if step is not None else None,
        "references": _references(take, step, ids, renders),
        "cost_usd": _money(take.cost_usd),
        "estimate_usd": _money(take.estimate_usd),
        "error": take.error,
        "attention": take.attention,
        "created_at": take.created_at,
        "video_url": _media_url(*ids, take.take_id) if playable else None,
    }


def _position(order: Mapping[str, int], shot_ids: Sequence[str]) -> int:
    return min((order.get(shot_id, len(order)) for shot_id in shot_ids), default=len(order))


def beat_view(
    episode: Episode, scene: Scene, beat: Beat, mark: Mark | None, renders: str
) -> dict[str, Any]:
    """One beat: its shots, its review mark and its takes, oldest first."""
    cut = episode.selection.cut_take(beat, mark)
    cut_id = cut.take_id if cut is not None else None
    selected = mark.selected_take if mark is not None else None
    return {
        "beat_id": beat.beat_id,
        "modality": beat.modality,
        "shot_ids": beat.shot_ids,
        "segments": [
            {"shot_id": s.shot_id, "duration_s": s.duration_s, "prompt": s.prompt}
            for s in beat.segments
        ],
        "max_takes": beat.max_takes,
        "cut_take_id": cut_id,
        "mark": mark.to_dict() if mark is not None else None,
        "pending_retakes": episode.selection.pending_retakes(mark, beat),
        "takes": [
            take_view(take, beat, scene.scene_id, renders, selected=selected, cut=cut_id)
            for take in beat.takes
        ],
    }


def spend_view(episode: Episode) -> dict[str, Any]:
    """What the ledger says the episode has spent, against the cap when one is given."""
    entries = episode.backend.read_ledger(episode.project, episode.episode)
    spent = sum((Decimal(repr(float(e.amount_usd))) for e in entries), Decimal(0))
    cap = episode.cap_usd
    return {
        "spent_usd": f"{spent:.4f}",
        "cap_usd": None if cap is None else f"{cap:.4f}",
        "remaining_usd": None if cap is None else f"{max(cap - spent, Decimal(0)):.4f}",
        "over_cap": cap is not None and spent > cap,
        "charges": len(entries),
    }


def episode_view(episode: Episode) -> dict[str, Any]:
    """The whole page's data: scenes in plan order, their beats and takes, the marks and
    the spend, with a ``revision`` that changes whenever any of it does."""
    backend, project, name = episode.backend, episode.project, episode.episode
    renders = backend.renders_dir(project, name)
    marks = episode.selection.load_marks(backend, project, name)
    order = {shot_id: i for i, shot_id in enumerate(episode.shot_order)}
    scenes: list[tuple[int, dict[str, Any]]] = []
    for scene_id in backend.list_scenes(project, name):
        found = backend.load_active(project, name, scene_id)
        if found is None:
            continue
        scene, version = found
        beats = sorted(scene.beats, key=lambda b: _position(order, b.shot_ids))
        scene_data = {
            "scene_id": scene_id,
            "version": version,
            "beats": [
                beat_view(episode, scene, beat, marks.get((scene_id, beat.beat_id)), renders)
                for beat in beats
            ],
        }
        first = min((_position(order, b.shot_ids) for b in beats), default=len(order))
        scenes.append((first, scene_data))
    data: dict[str, Any] = {
        "project": project,
        "episode": name,
        "spend": spend_view(episode),
        "scenes": [scene for _, scene in sorted(scenes, key=lambda pair: pair[0])],
    }
    encoded = json.dumps(data, sort_keys=True, default=str).encode()
    data["revision"] = hashlib.sha256(encoded).hexdigest()[:16]
    return data
