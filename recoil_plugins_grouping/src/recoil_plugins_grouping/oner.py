"""The ``oner`` strategy: each sequence rendered as a single continuous take."""

from __future__ import annotations

from collections.abc import Sequence

from recoil_core.api import CanonicalShot, Group, GroupIdentity, GroupingContext, OptionSpec
from recoil_plugins_grouping.helpers import (
    by_sequence,
    multi_shot_group,
    numbered_id,
)


class OnerStrategy:
    """One scene ``ONER_nnn`` per sequence (numbered in plan order) with one unit
    ``ONER_nnn__oner`` holding all its shots: ``r2v_multi``, or ``video_i2v`` for a
    one-shot sequence, which keeps its ``oner`` identity. No options."""

    name = "oner"
    description = "each sequence as one continuous clip"
    options: tuple[OptionSpec, ...] = ()

    def assemble(self, shots: Sequence[CanonicalShot], ctx: GroupingContext) -> list[Group]:
        groups: list[Group] = []
        for number, (_sequence, members) in enumerate(by_sequence(shots), start=1):
            identity = GroupIdentity(self.name, number, [shot.shot_id for shot in members])
            groups.append(multi_shot_group(numbered_id("ONER", number), "oner", identity, members))
        return groups
