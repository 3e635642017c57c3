"""The example grouping strategy: every shot is its own scene and its own clip."""

from __future__ import annotations

from collections.abc import Sequence

from recoil_core.api import (
    CanonicalShot,
    Group,
    GroupIdentity,
    GroupingContext,
    RenderUnit,
    Segment,
)


class MypluginStrategy:
    """One scene per shot, in plan order; each holds one ``video_i2v`` unit."""

    name = "myplugin"
    description = "one clip per shot, in plan order"

    def assemble(self, shots: Sequence[CanonicalShot], ctx: GroupingContext) -> list[Group]:
        groups = []
        for ordinal, shot in enumerate(sorted(shots, key=lambda s: s.order), start=1):
            identity = GroupIdentity(self.name, ordinal, [shot.shot_id])
            segment = Segment(shot.shot_id, shot.duration_s, shot.prompt, shot.shot_type)
            unit = RenderUnit(f"{shot.shot_id}__one", identity, "video_i2v", [segment])
            groups.append(Group(shot.shot_id, identity, [unit]))
        return groups
