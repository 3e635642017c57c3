"""Recoil video_i2v modality runner."""

from recoil_i2v.runner import VideoI2VRunner

__all__ = ["VideoI2VRunner"]
