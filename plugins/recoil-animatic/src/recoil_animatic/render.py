"""Rendering a job to a file: an H.264 MP4 of title cards (PyAV) or a PNG keyframe card."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image

from recoil_animatic.cards import draw_card, draw_time_strip
from recoil_animatic.job import RenderJob

CODEC = "libx264"
CODEC_OPTIONS = {
    "preset": "veryfast",
    "tune": "stillimage",
    "crf": "26",
    # One encoder thread: x264's output then depends only on its input, never on scheduling.
    "threads": "1",
    "flags": "+bitexact",
}
CONTAINER_OPTIONS = {"fflags": "+bitexact", "movflags": "+faststart"}
"""Bit-exact muxing writes no encoder version string or creation time, so files are stable."""


def _frames(job: RenderJob) -> Iterator[Image.Image]:
    counts = job.frame_counts()
    total = sum(counts)
    frame = 0
    for index, count in enumerate(counts):
        if count == 0:
            continue
        still = draw_card(job, index)
        for _ in range(count):
            image = still.copy()
            draw_time_strip(job, image, frame, total)
            yield image
            frame += 1


def encode_mp4(job: RenderJob, dest: Path) -> None:
    width, height = job.geometry.rendered
    with av.open(str(dest), mode="w", format="mp4", options=CONTAINER_OPTIONS) as container:
        stream = container.add_stream(CODEC, rate=job.fps, options=CODEC_OPTIONS)
        assert isinstance(stream, av.VideoStream)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        # The encoder's clock is one tick per frame; the muxer picks its own stream clock.
        tick = Fraction(1, job.fps)
        stream.codec_context.time_base = tick
        for index, image in enumerate(_frames(job)):
            frame = av.VideoFrame.from_image(image)  # type: ignore[no-untyped-call]
            frame.pts = index
            frame.time_base = tick
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def encode_png(job: RenderJob, dest: Path) -> None:
    image: Image.Image = draw_card(job, 0)
    image.save(dest, format="PNG", optimize=False)


def render(job: RenderJob, dest: Path) -> Path:
    """Render ``job`` to ``dest`` atomically (a temporary file renamed into place)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        if job.kind == "video":
            encode_mp4(job, tmp)
        else:
            encode_png(job, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest
