"""Recoil video modality runner base and the image_t2i keyframe runner."""

from recoil_plugins_video.base import KeyframePlan, VideoRunnerBase
from recoil_plugins_video.image_t2i import ImageT2IRunner

__all__ = ["ImageT2IRunner", "KeyframePlan", "VideoRunnerBase"]
