"""The ``solo`` strategy: every shot is its own scene and its own ``video_i2v`` clip."""

from __future__ import annotations

from collections.abc import Sequence

from recoil_core.api import CanonicalShot, Group, GroupingContext, OptionSpec
from recoil_plugins_grouping.helpers import in_plan_order, solo_unit


class SoloStrategy:
    """One scene per shot (scene id = shot id), identity ``solo`` with ordinal 0. No options."""

    name = "solo"
    description = "one video_i2v clip per shot"
    options: tuple[OptionSpec, ...] = ()

    def assemble(self, shots: Sequence[CanonicalShot], ctx: GroupingContext) -> list[Group]:
        groups: list[Group] = []
        for shot in in_plan_order(shots):
            unit = solo_unit(shot)
            groups.append(Group(shot.shot_id, unit.identity, (unit,)))
        return groups
