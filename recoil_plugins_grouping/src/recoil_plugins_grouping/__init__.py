"""Recoil standard grouping strategies: continuity, solo, oner, and the helpers they share."""

from recoil_plugins_grouping.continuity import ContinuityStrategy
from recoil_plugins_grouping.oner import OnerStrategy
from recoil_plugins_grouping.solo import SoloStrategy

__all__ = ["ContinuityStrategy", "OnerStrategy", "SoloStrategy"]
