"""The modality runner contract: build the provider steps that render one beat.

Register a runner with the ``recoil_modality_runners`` hook (:mod:`recoil_core.hookspecs`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

if TYPE_CHECKING:
    from recoil_core.model import (
        Beat,
        CanonicalPlan,
        CanonicalShot,
        Workflow,
    )


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

    @property
    def modality(self) -> str: ...  # a plain or a frozen attribute does (read only here)
    @property
    def description(self) -> str: ...

    def build_workflow(self, beat: Beat, ctx: BuildContext) -> Workflow: ...
