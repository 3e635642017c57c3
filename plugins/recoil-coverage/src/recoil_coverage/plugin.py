"""Entry point module of recoil-coverage: the hook implementations Recoil loads."""

from __future__ import annotations

from recoil_core import hookimpl
from recoil_core.interfaces import GroupingStrategy
from recoil_coverage.strategy import CoverageStrategy


@hookimpl
def recoil_grouping_strategies() -> list[GroupingStrategy]:
    return [CoverageStrategy()]
