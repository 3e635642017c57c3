"""Test helpers for grouping strategy authors: a context builder and identity assertions.

from recoil_core.testing.grouping import assert_deterministic, assert_identity, grouping_context

ctx = grouping_context(shots)
groups = assert_deterministic(MyStrategy(), shots, ctx)
assert_identity(groups[0].units[0], strategy="mine", ordinal=1, shot_ids=["EP001_SH01"])
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from recoil_core.contracts.grouping import GroupingContext, GroupingStrategy
from recoil_core.hashing import shotset_hash
from recoil_core.model import (
    CanonicalPlan,
    CanonicalShot,
    CoveragePass,
    Group,
    GroupIdentity,
    RenderUnit,
)

__all__ = [
    "assert_covers_each_shot_once",
    "assert_deterministic",
    "assert_identity",
    "grouping_context",
    "units_of",
]


def grouping_context(
    shots: Sequence[CanonicalShot] = (),
    *,
    plan: CanonicalPlan | None = None,
    project: str = "p",
    episode: str = "EP001",
    passes: Sequence[CoveragePass] = (),
    selected_passes: Sequence[CoveragePass] = (),
    options: Mapping[str, Any] | None = None,
) -> GroupingContext:
    """A :class:`GroupingContext` for ``shots``; builds the plan from them unless given.

    ``passes`` become the plan's coverage passes; ``selected_passes`` the passes chosen
    for this run.
    """
    if plan is None:
        sequences = tuple(dict.fromkeys(shot.sequence_id for shot in shots))
        plan = CanonicalPlan(
            project=project,
            episode_id=episode,
            shots=tuple(shots),
            coverage_passes=tuple(passes),
            sequence_ids=sequences,
        )
    return GroupingContext(
        project=project,
        episode=episode,
        plan=plan,
        selected_passes=tuple(selected_passes),
        options=dict(options or {}),
    )


def units_of(groups: Iterable[Group]) -> list[RenderUnit]:
    """Every render unit of ``groups``, in order."""
    return [unit for group in groups for unit in group.units]


def assert_identity(
    subject: RenderUnit | Group | GroupIdentity,
    *,
    strategy: str,
    ordinal: int,
    shot_ids: Sequence[str],
    source_pass_id: str | None = None,
) -> None:
    """Assert the identity of a unit, group or identity, including its ``shotset_hash``.

    For a unit, also checks that every real segment belongs to the identity's shots.
    """
    identity = subject if isinstance(subject, GroupIdentity) else subject.identity
    expected = {
        "strategy": strategy,
        "ordinal": ordinal,
        "shot_ids": list(shot_ids),
        "source_pass_id": source_pass_id,
        "shotset_hash": shotset_hash(shot_ids),
    }
    actual = identity.to_dict()
    assert actual == expected, f"identity differs:\n  actual   {actual}\n  expected {expected}"
    if isinstance(subject, RenderUnit):
        stray = [
            seg.shot_id
            for seg in subject.segments
            if seg.shot_id is not None and seg.shot_id not in identity.shot_ids
        ]
        assert not stray, f"unit {subject.unit_id}: segments of shots outside its identity {stray}"


def assert_deterministic(
    strategy: GroupingStrategy,
    shots: Sequence[CanonicalShot],
    ctx: GroupingContext,
    *,
    shuffled: bool = False,
    seed: int = 0,
) -> list[Group]:
    """Assemble twice and assert equal groups; return them.

    With ``shuffled``, the second run gets the shots in a shuffled order (for strategies
    that order shots by their plan position, ``CanonicalShot.order``).
    """
    first = strategy.assemble(list(shots), ctx)
    again = list(shots)
    if shuffled:
        random.Random(seed).shuffle(again)
    second = strategy.assemble(again, ctx)
    assert first == second, f"strategy {strategy.name!r} is not deterministic"
    return first


def assert_covers_each_shot_once(groups: Iterable[Group], shots: Iterable[CanonicalShot]) -> None:
    """Assert every shot appears in exactly one unit's identity, and no other shot does."""
    counts = Counter(sid for unit in units_of(groups) for sid in unit.identity.shot_ids)
    wanted = {shot.shot_id for shot in shots}
    repeated = sorted(sid for sid, n in counts.items() if n > 1)
    missing = sorted(wanted - set(counts))
    extra = sorted(set(counts) - wanted)
    assert not (repeated or missing or extra), (
        f"coverage of shots: repeated {repeated}, missing {missing}, unknown {extra}"
    )
