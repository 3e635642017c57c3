"""Entry point module of recoil-plugins-grouping: the hook implementations Recoil loads."""

from __future__ import annotations

from recoil_core import hookimpl
from recoil_core.interfaces import GroupingStrategy
from recoil_plugins_grouping.continuity import ContinuityStrategy
from recoil_plugins_grouping.oner import OnerStrategy
from recoil_plugins_grouping.solo import SoloStrategy


@hookimpl
def recoil_grouping_strategies() -> list[GroupingStrategy]:
    return [ContinuityStrategy(), SoloStrategy(), OnerStrategy()]
