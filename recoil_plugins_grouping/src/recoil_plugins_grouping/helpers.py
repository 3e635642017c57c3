"""Building blocks the grouping strategies share: plan order, segments, scene ids, a range
check for options, and the location batching continuity uses. Other strategy distributions
import them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from recoil_core.api import (
    CanonicalShot,
    Group,
    GroupIdentity,
    GroupingContext,
    OptionError,
    OptionSpec,
    RenderUnit,
    Segment,
)

SOLO_MODALITY = "video_i2v"
MULTI_MODALITY = "r2v_multi"


GroupingOptionError = OptionError
"""Kept for distributions that catch it: options are checked by the kernel now, which
raises :class:`recoil_core.errors.OptionError`."""


# --------------------------------------------------------------------------- shots


def in_plan_order(shots: Iterable[CanonicalShot]) -> list[CanonicalShot]:
    """Shots sorted by their plan position (``order``); ties keep the order given."""
    return sorted(shots, key=lambda shot: shot.order)


def by_sequence(shots: Iterable[CanonicalShot]) -> list[tuple[str, list[CanonicalShot]]]:
    """Shots grouped by sequence, sequences in order of their first shot, shots in plan order."""
    sequences: dict[str, list[CanonicalShot]] = {}
    for shot in in_plan_order(shots):
        sequences.setdefault(shot.sequence_id, []).append(shot)
    return list(sequences.items())


def segment_for(shot: CanonicalShot) -> Segment:
    return Segment(shot.shot_id, shot.duration_s, shot.prompt, shot.shot_type)


def segments_for(shots: Iterable[CanonicalShot]) -> tuple[Segment, ...]:
    return tuple(segment_for(shot) for shot in shots)


def solo_unit(shot: CanonicalShot) -> RenderUnit:
    """One shot rendered on its own: unit id = shot id, identity ``solo``, ordinal 0."""
    identity = GroupIdentity("solo", 0, (shot.shot_id,))
    return RenderUnit(shot.shot_id, identity, SOLO_MODALITY, (segment_for(shot),))


def multi_shot_group(
    scene_id: str, tag: str, identity: GroupIdentity, shots: Sequence[CanonicalShot]
) -> Group:
    """A scene rendered as one continuous unit ``{scene_id}__{tag}``.

    ``r2v_multi`` for several shots; a one-shot unit is ``video_i2v`` but keeps ``identity``.
    """
    modality = MULTI_MODALITY if len(shots) > 1 else SOLO_MODALITY
    unit = RenderUnit(f"{scene_id}__{tag}", identity, modality, segments_for(shots))
    return Group(scene_id, identity, (unit,))


# --------------------------------------------------------------------------- ids


def numbered_id(prefix: str, number: int) -> str:
    """``numbered_id("BATCH", 2) == "BATCH_002"``."""
    return f"{prefix}_{number:03d}"


# --------------------------------------------------------------------------- options


def positive_option(strategy: str, ctx: GroupingContext, spec: OptionSpec) -> Any:
    """The value of the declared option ``spec`` (its default when ``ctx`` has none), which
    must be greater than 0. The kernel has already checked its type (a finite number)."""
    value = ctx.options.get(spec.name, spec.default)
    if not value > 0:
        raise OptionError(
            f"grouping strategy {strategy!r}: option {spec.name}={value!r} must be greater than 0"
        )
    return value


# --------------------------------------------------------------------------- batching


@attrs.frozen
class BatchLimits:
    """Bounds of a continuity batch."""

    max_shots: int = 4
    max_duration_s: float = 15.0


def characters_compatible(batch_characters: frozenset[str], shot: CanonicalShot) -> bool:
    """A shot fits a batch unless both have characters and they share none."""
    return (
        not batch_characters
        or not shot.characters
        or bool(batch_characters.intersection(shot.characters))
    )


def batch_by_location(
    shots: Iterable[CanonicalShot], limits: BatchLimits = BatchLimits()
) -> list[list[CanonicalShot]]:
    """Consecutive shots (plan order) of one sequence at one location, in bounded batches.

    A batch ends when the sequence or location changes, when the shot's characters and the
    batch's are both non-empty and disjoint, or when the shot would push the batch past
    ``limits.max_shots`` or ``limits.max_duration_s``. A shot longer than the duration
    bound gets a batch of its own.
    """
    batches: list[list[CanonicalShot]] = []
    current: list[CanonicalShot] = []
    characters: frozenset[str] = frozenset()
    duration = 0.0
    for shot in in_plan_order(shots):
        fits = (
            bool(current)
            and shot.sequence_id == current[-1].sequence_id
            and shot.location_id == current[-1].location_id
            and characters_compatible(characters, shot)
            and len(current) < limits.max_shots
            and duration + shot.duration_s <= limits.max_duration_s
        )
        if not fits:
            if current:
                batches.append(current)
            current, characters, duration = [], frozenset(), 0.0
        current.append(shot)
        characters = characters.union(shot.characters)
        duration += shot.duration_s
    if current:
        batches.append(current)
    return batches
