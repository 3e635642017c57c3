"""Scenes: the persisted versions of a group's beats with their takes, and the manifest of
which version is active."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from recoil_core.model.base import copy_data, utc_now
from recoil_core.model.grouping import GroupIdentity, Segment
from recoil_core.model.takes import Take, TakeState, Workflow, new_identity, take_id_for


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

    def copy(self) -> Beat:
        """A deep copy: changing it (or its takes) leaves this one as it is."""
        return attrs.evolve(
            self,
            segments=list(self.segments),
            takes=[take.copy() for take in self.takes],
            generation_config=copy_data(self.generation_config),
            element_config=copy_data(self.element_config),
            metadata=copy_data(self.metadata),
        )

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

    def copy(self) -> Scene:
        """A deep copy, e.g. a snapshot to write while the runner goes on changing the
        scene's takes: changing either leaves the other as it is."""
        return attrs.evolve(
            self, beats=[beat.copy() for beat in self.beats], metadata=copy_data(self.metadata)
        )

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
