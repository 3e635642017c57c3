"""The ``continuity`` strategy: consecutive same-location shots rendered as one clip."""

from __future__ import annotations

from collections.abc import Sequence

from recoil_core.api import CanonicalShot, Group, GroupIdentity, GroupingContext, OptionSpec
from recoil_plugins_grouping.helpers import (
    BatchLimits,
    batch_by_location,
    multi_shot_group,
    numbered_id,
    positive_option,
    solo_unit,
)

MAX_SHOTS = OptionSpec("max_shots", int, 4, "most shots in one batch")
MAX_DURATION_S = OptionSpec(
    "max_duration_s",
    float,
    15.0,
    "most total seconds in one batch (a longer single shot gets a batch of its own)",
)
MIN_MULTI_SHOTS = OptionSpec(
    "min_multi_shots",
    int,
    2,
    "a batch with fewer shots is rendered shot by shot (video_i2v, solo identity)",
)


class ContinuityStrategy:
    """Batches consecutive shots of a sequence that share a location.

    Batches are ``BATCH_001``, ``BATCH_002``... in plan order (the ordinal is the batch
    number). A batch of at least ``min_multi_shots`` shots is one ``r2v_multi`` unit
    ``BATCH_nnn__cont``; a smaller batch is one ``video_i2v`` unit per shot, each with a
    ``solo`` identity. Options (each greater than 0): ``max_shots`` (4), ``max_duration_s``
    (15), ``min_multi_shots`` (2). See :func:`recoil_plugins_grouping.helpers.batch_by_location`
    for when a batch breaks.
    """

    name = "continuity"
    description = "consecutive same-location shots of a sequence as one multi-shot clip"
    options = (MAX_SHOTS, MAX_DURATION_S, MIN_MULTI_SHOTS)

    def assemble(self, shots: Sequence[CanonicalShot], ctx: GroupingContext) -> list[Group]:
        limits = BatchLimits(
            positive_option(self.name, ctx, MAX_SHOTS),
            positive_option(self.name, ctx, MAX_DURATION_S),
        )
        min_multi = positive_option(self.name, ctx, MIN_MULTI_SHOTS)
        groups: list[Group] = []
        for number, batch in enumerate(batch_by_location(shots, limits), start=1):
            scene_id = numbered_id("BATCH", number)
            identity = GroupIdentity(self.name, number, [shot.shot_id for shot in batch])
            if len(batch) >= min_multi:
                groups.append(multi_shot_group(scene_id, "cont", identity, batch))
            else:
                groups.append(Group(scene_id, identity, [solo_unit(shot) for shot in batch]))
        return groups
