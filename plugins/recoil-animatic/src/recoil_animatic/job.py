"""What the animatic renders for one request: cards, timing and size, with a stable job id."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import attrs

from recoil_animatic.geometry import FrameGeometry, frame_geometry
from recoil_core.api import ProviderRejected, SubmitRequest, stable_digest

RENDERER_VERSION = 2
"""Bump when the rendering changes, so cached media from an older renderer is not reused."""
FPS = 12
VIDEO_MODALITIES = frozenset({"video_i2v", "r2v_multi", "video_t2v"})
IMAGE_MODALITIES = frozenset({"image_t2i"})
JOB_PREFIX = "anim-"
MAX_DURATION_S = 600.0
TAIL_CARD = "tail"
TAIL_PROMPT = "beyond the planned shots: the model's clip is longer; trim it in the edit"
TAIL_MIN_S = 1e-3


@attrs.frozen
class Card:
    """One title card: a shot (or segment) of the request and how long it is shown."""

    shot_id: str
    duration_s: float
    prompt: str = ""
    shot_type: str = ""
    location_id: str = ""
    characters: tuple[str, ...] = ()


@attrs.frozen
class RenderJob:
    """Everything the renderer needs; persisted next to the media so a later process can redo it."""

    kind: Literal["video", "image"]
    modality: str
    model: str
    take_id: str
    step_id: str
    seed: int
    cards: tuple[Card, ...]
    duration_s: float
    geometry: FrameGeometry
    fps: int = FPS
    background: str | None = None
    background_digest: str | None = None
    renderer_version: int = RENDERER_VERSION

    @property
    def job_id(self) -> str:
        return JOB_PREFIX + stable_digest(attrs.asdict(self))[:24]

    @property
    def suffix(self) -> str:
        return ".mp4" if self.kind == "video" else ".png"

    def frame_counts(self) -> list[int]:
        """Frames per card: boundaries at rounded cumulative times, so the total is exact."""
        total = sum(card.duration_s for card in self.cards)
        scale = self.duration_s / total if total > 0 else 0.0
        counts: list[int] = []
        elapsed = 0.0
        done = 0
        for card in self.cards:
            elapsed += card.duration_s * scale
            end = round(elapsed * self.fps)
            counts.append(max(0, end - done))
            done = end
        return counts


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _duration(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProviderRejected(
            f"payload {field} must be a number of seconds, got {value!r}", code="InvalidParameter"
        )
    if not 0 < value <= MAX_DURATION_S:
        raise ProviderRejected(
            f"payload {field} is {value}; it must be above 0 and at most {MAX_DURATION_S:g} s",
            code="InvalidParameter",
        )
    return float(value)


def _cards(payload: Mapping[str, Any]) -> tuple[tuple[Card, ...], float]:
    segments = payload.get("segments") or []
    if not isinstance(segments, Sequence) or isinstance(segments, str):
        raise ProviderRejected("payload segments must be a list", code="InvalidParameter")
    cards: list[Card] = []
    for index, seg in enumerate(segments):
        if not isinstance(seg, Mapping):
            raise ProviderRejected(
                f"payload segments[{index}] must be an object", code="InvalidParameter"
            )
        raw = seg.get("duration_s")
        chars = seg.get("characters") or ()
        cards.append(
            Card(
                shot_id=_text(seg.get("shot_id")) or "wildcard",
                duration_s=_duration(raw, f"segments[{index}].duration_s") if raw else 0.0,
                prompt=_text(seg.get("prompt")) or _text(payload.get("prompt")),
                shot_type=_text(seg.get("shot_type")),
                location_id=_text(seg.get("location_id")),
                characters=tuple(_text(c) for c in chars),
            )
        )
    declared = payload.get("duration_s")
    if declared is not None:
        duration = _duration(declared, "duration_s")
    elif cards and all(card.duration_s > 0 for card in cards):
        duration = sum(card.duration_s for card in cards)
    else:
        duration = 5.0
    if not cards:
        shot_ids = [_text(s) for s in payload.get("shot_ids") or () if s]
        if not shot_ids and payload.get("shot_id"):
            shot_ids = [_text(payload["shot_id"])]
        cards = [
            Card(
                shot_id=" + ".join(shot_ids) or "unnamed shot",
                duration_s=duration,
                prompt=_text(payload.get("prompt")),
            )
        ]
    untimed = [card for card in cards if card.duration_s <= 0]
    timed = sum(card.duration_s for card in cards)
    if not untimed and timed + TAIL_MIN_S < duration:
        # The clip the previewed model delivers is longer than its shots (rounded up to a
        # length it renders): the shots keep their timing and a tail card fills the rest.
        cards.append(Card(shot_id=TAIL_CARD, duration_s=duration - timed, prompt=TAIL_PROMPT))
    if untimed:
        # Segments without a duration share what the timed ones leave (all of it if nothing).
        timed = sum(card.duration_s for card in cards)
        left = duration - timed if timed < duration else duration
        share = left / len(untimed)
        cards = [
            card if card.duration_s > 0 else attrs.evolve(card, duration_s=share) for card in cards
        ]
    return tuple(cards), duration


def _background(request: SubmitRequest) -> Path | None:
    given = request.inputs.get("first_frame")
    if given is not None:
        return Path(given)
    raw = request.payload.get("first_frame")
    if isinstance(raw, str) and raw and "://" not in raw:
        return Path(raw)
    return None


def image_size(path: Path) -> tuple[int, int]:
    """Width and height of an image file (Pillow reads only the header)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, ValueError) as exc:
        raise ProviderRejected(
            f"first frame {path} is not a readable image ({exc}); "
            "render its keyframe again or fix the plan's first_frame",
            code="InvalidParameter",
        ) from None


def build_job(request: SubmitRequest) -> RenderJob:
    """The render job for a request. Raises ProviderRejected when the payload is unusable."""
    if request.modality in VIDEO_MODALITIES:
        kind: Literal["video", "image"] = "video"
    elif request.modality in IMAGE_MODALITIES:
        kind = "image"
    else:
        raise ProviderRejected(
            f"the animatic provider does not render modality {request.modality!r}",
            code="UnsupportedModality",
        )
    background = _background(request)
    size = None
    digest = None
    if background is not None:
        if not background.is_file():
            raise ProviderRejected(
                f"first frame {background} does not exist; render its keyframe again "
                "or fix the plan's first_frame",
                code="InvalidParameter",
            )
        size = image_size(background)
        digest = file_digest(background)
    cards, duration = _cards(request.payload)
    if kind == "image":
        wanted = _text(request.payload.get("shot_id"))
        cards = tuple(c for c in cards if c.shot_id == wanted)[:1] or cards[:1]
    return RenderJob(
        kind=kind,
        modality=request.modality,
        model=request.model or _text(request.payload.get("model")),
        take_id=request.take_id,
        step_id=request.step_id,
        seed=request.seed,
        cards=cards,
        duration_s=duration,
        geometry=frame_geometry(request.payload, image_size=size),
        background=str(background.resolve()) if background is not None else None,
        background_digest=digest,
    )
