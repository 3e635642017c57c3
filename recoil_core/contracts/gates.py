"""Preflight gates and run observers: what a plugin can refuse before anything is
reserved, and the take and scene events it can watch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from recoil_core.events import SceneEventKind, scene_event_kind

if TYPE_CHECKING:
    from recoil_core.model import (
        CanonicalPlan,
        Scene,
        Take,
    )


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
