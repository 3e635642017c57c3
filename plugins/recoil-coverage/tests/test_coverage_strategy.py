"""The coverage strategy: one unit per coverage pass of the plan, its ordinal from the pass
id, and no options."""

from __future__ import annotations

import pytest

from recoil_core.api import CanonicalShot, CoveragePass, CoverageSegment, OptionError
from recoil_core.testing.grouping import grouping_context
from recoil_core.testing.installed import InstalledPlugins

INSTALLED = InstalledPlugins()


def shot(n: int) -> CanonicalShot:
    return CanonicalShot(
        shot_id=f"EP001_SH{n:02d}",
        sequence_id="SEQ01",
        scene_index=n,
        location_id="LOC_A",
        duration_s=2.0,
        order=n,
    )


def test_coverage_refuses_any_option() -> None:
    plan = grouping_context([shot(1)]).plan
    with pytest.raises(OptionError, match="'coverage': unknown option 'x'; it takes no options"):
        INSTALLED.derive_groups(plan, "coverage", options={"x": 1})


def test_coverage_declares_no_options() -> None:
    assert INSTALLED.strategy_options("coverage") == ()


def _pass(pass_id: str, *shot_ids: str) -> CoveragePass:
    return CoveragePass(
        pass_id=pass_id,
        episode_id="EP001",
        shot_range=(shot_ids[0], shot_ids[-1]),
        segments=[CoverageSegment(i, sid, "CU", 1.5, f"p{i}") for i, sid in enumerate(shot_ids)],
    )


def test_coverage_without_a_selection_groups_every_pass_of_the_plan() -> None:
    shots = [shot(1), shot(2)]
    passes = [
        _pass("EP001_PASS_003_SH01_02_A", "EP001_SH01", "EP001_SH02"),
        _pass("EP001_PASS_004_SH02_02_B", "EP001_SH02"),
    ]
    groups = INSTALLED.strategy("coverage").assemble(shots, grouping_context(shots, passes=passes))
    assert [g.scene_id for g in groups] == [p.pass_id for p in passes]
    assert [g.identity.ordinal for g in groups] == [3, 4]
    assert groups[0].units[0].segments[0].shot_type == "CU"
    assert groups[0].duration_s == 3.0


def test_coverage_pass_without_a_number_takes_its_position_as_ordinal() -> None:
    shots = [shot(1)]
    passes = [_pass("EP001_PASS_007_SH01_01_A", "EP001_SH01"), _pass("EP001_EXTRA", "EP001_SH01")]
    groups = INSTALLED.strategy("coverage").assemble(shots, grouping_context(shots, passes=passes))
    assert [g.identity.ordinal for g in groups] == [7, 2]
