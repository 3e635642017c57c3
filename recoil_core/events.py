"""What a run tells as it goes: the kinds of scene event, and typed progress events.

Progress events go to the caller of a run (the CLI draws them); scene events go to
observer plugins (``recoil_on_scene_event``). Both become JSON through the one converter.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs


class SceneEventKind(enum.StrEnum):
    """What happened to a scene (``SceneEvent.kind``). A ``str``: ``kind == "created"``
    still holds for an observer written against the plain strings."""

    CREATED = "created"
    """A new scene was written with its first take."""
    REUSED = "reused"
    """The active version matches the plan: its takes are resumed, nothing is derived."""
    REPLACED = "replaced"
    """An unrendered active version was replaced by the new derivation."""
    CANDIDATE_STAGED = "candidate_staged"
    """A rendered scene changed: the new version waits as a candidate (``rederive``)."""
    CANDIDATE_EXISTS = "candidate_exists"
    """The candidate for this change was already staged by an earlier run."""
    FINISHED = "finished"
    """The run is done with the scene (``detail`` says how many beats rendered)."""


def scene_event_kind(value: str) -> SceneEventKind:
    """``value`` as a :class:`SceneEventKind` (a member, or its string); ValueError names
    the kinds there are."""
    try:
        return SceneEventKind(value)
    except ValueError:
        kinds = ", ".join(kind.value for kind in SceneEventKind)
        raise ValueError(f"unknown scene event kind {value!r} (one of {kinds})") from None


@attrs.frozen
class Notice:
    """Something the user should read now (a repaired ledger line, a wait for a lock)."""

    message: str


@attrs.frozen
class RunStarted:
    """Dispatch begins: how much there is to do and what the budget stands at."""

    beats: int
    scenes: int
    cap_usd: float | None
    spent_usd: float


@attrs.frozen
class BeatFinished:
    """A beat's takes are settled for this run (rendered or not)."""

    beat_id: str
    succeeded: bool
    takes: tuple[str, ...]
    """The state of each of its takes, in take order."""
    spent_usd: float
    cap_usd: float | None


ProgressEvent = Notice | RunStarted | BeatFinished
"""Every event a run reports to its ``progress`` callback."""

EVENT_KINDS: dict[type[Any], str] = {
    Notice: "notice",
    RunStarted: "start",
    BeatFinished: "beat",
}
"""The ``kind`` each progress event has in JSON."""


def event_to_dict(event: ProgressEvent) -> dict[str, Any]:
    """``{"kind": ..., **fields}``: a progress event as JSON-ready data."""
    from recoil_core.convert import converter

    data: dict[str, Any] = converter.unstructure(event)
    return {"kind": EVENT_KINDS[type(event)], **data}
