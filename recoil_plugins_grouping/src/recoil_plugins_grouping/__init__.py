"""Recoil standard grouping strategies: continuity, solo, oner, and the helpers they share."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recoil_plugins_grouping.continuity import ContinuityStrategy
    from recoil_plugins_grouping.oner import OnerStrategy
    from recoil_plugins_grouping.solo import SoloStrategy

__all__ = ["ContinuityStrategy", "OnerStrategy", "SoloStrategy"]

_HOME = {
    "ContinuityStrategy": "recoil_plugins_grouping.continuity",
    "OnerStrategy": "recoil_plugins_grouping.oner",
    "SoloStrategy": "recoil_plugins_grouping.solo",
}


def __getattr__(name: str) -> Any:
    """Import the public classes on first use, so loading the plugin stays cheap."""
    if name in _HOME:
        return getattr(import_module(_HOME[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
