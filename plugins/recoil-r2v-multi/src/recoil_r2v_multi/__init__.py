"""Recoil r2v_multi modality runner."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recoil_r2v_multi.runner import R2VMultiRunner

__all__ = ["R2VMultiRunner"]

_HOME = {
    "R2VMultiRunner": "recoil_r2v_multi.runner",
}


def __getattr__(name: str) -> Any:
    """Import the public classes on first use, so loading the plugin stays cheap."""
    if name in _HOME:
        return getattr(import_module(_HOME[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
