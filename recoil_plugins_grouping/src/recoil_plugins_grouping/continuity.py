"""The ``continuity`` strategy: consecutive same-location shots rendered as one clip."""

from __future__ import annotations

from collections.abc import Sequence

from recoil_core.interfaces import GroupingContext
from recoil_core.model import CanonicalShot, Group, GroupIdentity
from recoil_plugins_grouping.helpers import (
    BatchLimits,
    batch_by_location,
    multi_shot_group,
    numbered_id,
    read_options,
    solo_unit,
)

DEFAULTS: dict[str, float | int] = {"max_shots": 4, "max_duration_s": 15.0, "min_multi_shots": 2}


class ContinuityStrategy:
    """Batches consecutive shots of a sequence that share a location.

    Batches are ``BATCH_001``, ``BATCH_002``... in plan order (the ordinal is the batch
    number). A batch of at least ``min_multi_shots`` shots is one ``r2v_multi`` unit
    ``BATCH_nnn__cont``; a smaller batch is one ``video_i2v`` unit per shot, each with a
    ``solo`` identity. Options: ``max_shots`` (4), ``max_duration_s`` (15),
    ``min_multi_shots`` (2). See :func:`recoil_plugins_grouping.helpers.batch_by_location`
    for when a batch breaks.
    """

    name = "continuity"
    description = "consecutive same-location shots of a sequence as one multi-shot clip"

    def assemble(self, shots: Sequence[CanonicalShot], ctx: GroupingContext) -> list[Group]:
        options = read_options(self.name, ctx.options, DEFAULTS)
        limits = BatchLimits(int(options["max_shots"]), float(options["max_duration_s"]))
        min_multi = int(options["min_multi_shots"])
        groups: list[Group] = []
        for number, batch in enumerate(batch_by_location(shots, limits), start=1):
            scene_id = numbered_id("BATCH", number)
            identity = GroupIdentity(self.name, number, [shot.shot_id for shot in batch])
            if len(batch) >= min_multi:
                groups.append(multi_shot_group(scene_id, "cont", identity, batch))
            else:
                groups.append(Group(scene_id, identity, [solo_unit(shot) for shot in batch]))
        return groups
