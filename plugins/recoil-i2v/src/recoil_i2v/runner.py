"""VideoI2VRunner: one clip from a first frame (the plan's, a keyframe step's, or none)."""

from __future__ import annotations

from typing import ClassVar

from recoil_plugins_video.base import VideoRunnerBase


class VideoI2VRunner(VideoRunnerBase):
    """Image-to-video for a beat: its first segment's shot opens the clip.

    The first frame comes from the plan (``frames.first_frame``), else from an ``image_t2i``
    keyframe step; without an image provider the clip is text-to-video, said in provenance.
    """

    modality: str = "video_i2v"
    description: str = "image to video from the shot's first frame (keyframe if none)"
    needs_first_frame: ClassVar[bool] = True
