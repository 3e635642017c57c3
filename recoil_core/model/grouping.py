"""Grouping values: who a render unit is (its identity), its segments, units and groups."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from recoil_core.hashing import shotset_hash
from recoil_core.model.base import as_dict, as_tuple


@attrs.frozen
class GroupIdentity:
    """Who a render unit is: ``{strategy, ordinal, shot_ids, source_pass_id, shotset_hash}``.

    ``shotset_hash`` is derived from ``shot_ids`` and so can never disagree with them.
    """

    strategy: str
    """The name of the strategy that made the unit."""
    ordinal: int
    """The unit's number within its strategy (it names multi-shot renders)."""
    shot_ids: tuple[str, ...] = attrs.field(converter=as_tuple)
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
    segments: tuple[Segment, ...] = attrs.field(converter=as_tuple)
    generation_config: dict[str, Any] = attrs.field(factory=dict, converter=as_dict)
    """Free-form settings handed to the runner (a coverage pass's ``generation_config``)."""
    element_config: dict[str, Any] = attrs.field(factory=dict, converter=as_dict)
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
    units: tuple[RenderUnit, ...] = attrs.field(converter=as_tuple)

    @property
    def modality(self) -> str:
        """The unit modality when all units share one, else ``"mixed"``."""
        kinds = {unit.modality for unit in self.units}
        return kinds.pop() if len(kinds) == 1 else "mixed"

    @property
    def duration_s(self) -> float:
        return sum(unit.duration_s for unit in self.units)
