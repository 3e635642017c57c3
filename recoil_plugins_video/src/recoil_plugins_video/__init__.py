"""Recoil video modality runner base and the image_t2i keyframe runner."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recoil_plugins_video.base import KeyframePlan, VideoRunnerBase
    from recoil_plugins_video.image_t2i import ImageT2IRunner

__all__ = ["ImageT2IRunner", "KeyframePlan", "VideoRunnerBase"]

_HOME = {
    "ImageT2IRunner": "recoil_plugins_video.image_t2i",
    "KeyframePlan": "recoil_plugins_video.base",
    "VideoRunnerBase": "recoil_plugins_video.base",
}


def __getattr__(name: str) -> Any:
    """Import the public classes on first use, so loading the plugin stays cheap."""
    if name in _HOME:
        return getattr(import_module(_HOME[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
