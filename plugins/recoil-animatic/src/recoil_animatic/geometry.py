"""Frame sizes: the nominal size a plan asks for and the smaller size the animatic renders."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import attrs

from recoil_core.api import ProviderRejected

ASPECT_RATIOS: dict[str, Fraction] = {
    "16:9": Fraction(16, 9),
    "9:16": Fraction(9, 16),
    "1:1": Fraction(1, 1),
    "4:3": Fraction(4, 3),
    "3:4": Fraction(3, 4),
    "21:9": Fraction(21, 9),
}
DEFAULT_ASPECT = "16:9"
DEFAULT_RESOLUTION = "720p"
PREVIEW_SHORT_SIDE = 360
"""The animatic renders at most this many pixels on the short side (720p becomes 360p)."""


@attrs.frozen
class FrameGeometry:
    """The requested (nominal) frame size and the preview size actually rendered."""

    aspect_ratio: str
    resolution: str
    nominal: tuple[int, int]
    rendered: tuple[int, int]


def _even(value: Fraction | int) -> int:
    return max(2, round(Fraction(value) / 2) * 2)


def _ratio(aspect_ratio: str, fallback: tuple[int, int] | None) -> Fraction:
    if aspect_ratio == "adaptive":
        if fallback is not None:
            return Fraction(fallback[0], fallback[1])
        return ASPECT_RATIOS[DEFAULT_ASPECT]
    ratio = ASPECT_RATIOS.get(aspect_ratio)
    if ratio is None:
        known = ", ".join([*ASPECT_RATIOS, "adaptive"])
        raise ProviderRejected(
            f"payload aspect_ratio {aspect_ratio!r} is not supported; use one of {known}",
            code="InvalidParameter",
        )
    return ratio


def _short_side(resolution: str) -> int:
    digits = resolution[:-1] if resolution.endswith("p") else ""
    if not digits.isdigit() or not 16 <= int(digits) <= 4320:
        raise ProviderRejected(
            f"payload resolution {resolution!r} is not a resolution such as '480p', '720p', "
            "'1080p'",
            code="InvalidParameter",
        )
    return int(digits)


def frame_geometry(payload: Any, *, image_size: tuple[int, int] | None = None) -> FrameGeometry:
    """Sizes for a payload's ``aspect_ratio`` and ``resolution``.

    The nominal size keeps the resolution as the short side (16:9 720p is 1280x720,
    9:16 720p is 720x1280); ``adaptive`` follows ``image_size`` (the first frame) when
    there is one. The rendered size scales the short side down to at most
    :data:`PREVIEW_SHORT_SIDE`, keeping the aspect ratio, with even sides for H.264.
    """
    aspect = str(payload.get("aspect_ratio") or DEFAULT_ASPECT)
    resolution = str(payload.get("resolution") or DEFAULT_RESOLUTION)
    ratio = _ratio(aspect, image_size)
    short = _short_side(resolution)
    preview = min(short, PREVIEW_SHORT_SIDE)
    if ratio >= 1:
        nominal = (_even(short * ratio), _even(short))
        rendered = (_even(preview * ratio), _even(preview))
    else:
        nominal = (_even(short), _even(short / ratio))
        rendered = (_even(preview), _even(preview / ratio))
    return FrameGeometry(aspect, resolution, nominal, rendered)
