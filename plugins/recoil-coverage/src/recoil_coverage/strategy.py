"""The ``coverage`` strategy: each coverage pass of a plan becomes one multi-shot clip."""

from __future__ import annotations

from collections.abc import Sequence

from recoil_plugins_grouping.helpers import MULTI_MODALITY

from recoil_core.api import (
    CanonicalShot,
    CoveragePass,
    Group,
    GroupIdentity,
    GroupingContext,
    OptionSpec,
    RenderUnit,
    Segment,
    pass_ordinal,
)


def ordinal_of(coverage_pass: CoveragePass, position: int) -> int:
    """The pass number (``PASS_011`` gives 11); ``position`` for a pass id without one."""
    try:
        return pass_ordinal(coverage_pass.pass_id)
    except ValueError:
        return position


def pass_segments(coverage_pass: CoveragePass) -> tuple[Segment, ...]:
    """The pass's segments in index order; wildcard segments have ``shot_id`` None."""
    return tuple(
        Segment(
            segment.shot_id if segment.is_real else None,
            segment.duration_s,
            segment.prompt,
            segment.shot_type,
        )
        for segment in sorted(coverage_pass.segments, key=lambda s: s.index)
    )


class CoverageStrategy:
    """One scene per coverage pass (scene id = pass id), one ``r2v_multi`` unit
    ``{pass_id}__cov`` following the pass's segments.

    Passes: ``ctx.selected_passes``, or every pass of the plan when none is selected. The
    ordinal is the pass number (``PASS_011`` gives 11; a pass id without one gets its
    1-based position). Identity shot ids are the pass's real shots (a wildcard-only pass
    stands for its shot range); the pass's ``generation_config`` and ``element_config``
    are copied onto the unit. No options.
    """

    name = "coverage"
    description = "each coverage pass (camera side, focus, wildcards) as one multi-shot clip"
    options: tuple[OptionSpec, ...] = ()

    def assemble(self, shots: Sequence[CanonicalShot], ctx: GroupingContext) -> list[Group]:
        passes = ctx.selected_passes or ctx.plan.coverage_passes
        groups: list[Group] = []
        for position, coverage_pass in enumerate(passes, start=1):
            ordinal = ordinal_of(coverage_pass, position)
            identity = GroupIdentity(
                self.name, ordinal, coverage_pass.shot_ids, coverage_pass.pass_id
            )
            unit = RenderUnit(
                f"{coverage_pass.pass_id}__cov",
                identity,
                MULTI_MODALITY,
                pass_segments(coverage_pass),
                generation_config=coverage_pass.generation_config,
                element_config=coverage_pass.element_config,
            )
            groups.append(Group(coverage_pass.pass_id, identity, (unit,)))
        return groups
