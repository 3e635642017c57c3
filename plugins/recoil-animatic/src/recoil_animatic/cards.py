"""Drawing title cards with Pillow's built-in font: shot, location, cast, shot type, prompt."""

from __future__ import annotations

import colorsys
import hashlib
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

from recoil_animatic.job import Card, RenderJob

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
PROMPT_LINES = 6
TEXT = (245, 245, 240)
DIM = (200, 200, 195)
ACCENT = (255, 196, 64)


@lru_cache(maxsize=32)
def font(size: int) -> Font:
    """Pillow's bundled default font at ``size`` px (a fixed bitmap font without FreeType)."""
    return ImageFont.load_default(size=max(8, size))


def _tint(key: str) -> tuple[int, int, int]:
    """A dark colour picked from ``key``, so each shot's card looks different."""
    hue = int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:4], 16) / 0xFFFF
    r, g, b = colorsys.hls_to_rgb(hue, 0.22, 0.45)
    return (round(r * 255), round(g * 255), round(b * 255))


def background(job: RenderJob, card: Card) -> Image.Image:
    """The card backdrop: the first frame, softened and darkened under the text, else a tint."""
    size = job.geometry.rendered
    if job.background is not None:
        with Image.open(Path(job.background)) as image:
            fitted = ImageOps.fit(image.convert("RGB"), size, Image.Resampling.BILINEAR)
        soft = fitted.filter(ImageFilter.GaussianBlur(radius=5 * unit(job)))
        return Image.blend(soft, Image.new("RGB", size, (0, 0, 0)), 0.55)
    return Image.new("RGB", size, _tint(card.shot_id))


def _wrap(text: str, face: Font, width: float, max_lines: int) -> list[str]:
    words = " ".join(text.split()).split(" ")
    lines: list[str] = []
    line = ""
    for word in words:
        trial = f"{line} {word}".strip()
        if face.getlength(trial) <= width or not line:
            line = trial
            continue
        lines.append(line)
        line = word
        if len(lines) == max_lines:
            break
    if line and len(lines) < max_lines:
        lines.append(line)
    if len(lines) == max_lines and " ".join(lines) != " ".join(words):
        last = lines[-1]
        while last and face.getlength(last + " ...") > width:
            last = last[:-1]
        lines[-1] = last.rstrip() + " ..."
    return [entry for entry in lines if entry]


def unit(job: RenderJob) -> float:
    """Layout unit: one pixel of a 360-pixel short side."""
    return min(job.geometry.rendered) / 360


def draw_card(job: RenderJob, index: int) -> Image.Image:
    """The still part of card ``index``: everything but the running time strip."""
    card = job.cards[index]
    image = background(job, card)
    draw = ImageDraw.Draw(image)
    u = unit(job)
    width, height = image.size
    margin = round(18 * u)
    label = "ANIMATIC KEYFRAME" if job.kind == "image" else "ANIMATIC PREVIS"
    draw.text((margin, margin), f"{label}  {job.modality}", font=font(round(13 * u)), fill=ACCENT)
    if len(job.cards) > 1:
        count = f"shot {index + 1}/{len(job.cards)}"
        draw.text(
            (width - margin, margin), count, font=font(round(13 * u)), fill=ACCENT, anchor="ra"
        )
    y = margin + round(24 * u)
    title = font(round(34 * u))
    draw.text((margin, y), card.shot_id, font=title, fill=TEXT)
    y += round(46 * u)
    body = font(round(17 * u))
    rows = [
        ("SHOT", card.shot_type),
        ("LOC", card.location_id),
        ("CAST", ", ".join(card.characters)),
    ]
    for key, value in rows:
        if not value:
            continue
        draw.text((margin, y), key, font=body, fill=DIM)
        draw.text((margin + round(64 * u), y), value, font=body, fill=TEXT)
        y += round(24 * u)
    y += round(8 * u)
    small = font(round(15 * u))
    strip = round(34 * u)
    space = height - strip - y - margin // 2
    max_lines = max(0, min(PROMPT_LINES, space // round(20 * u)))
    for line in _wrap(card.prompt, small, width - 2 * margin, max_lines):
        draw.text((margin, y), line, font=small, fill=DIM)
        y += round(20 * u)
    if job.kind == "image":
        footer = f"{job.model}   take {job.take_id}"
        draw.text(
            (margin, height - margin), footer, font=font(round(13 * u)), fill=DIM, anchor="ls"
        )
    return image


def _clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes):02d}:{rest:04.1f}"


def draw_time_strip(job: RenderJob, image: Image.Image, frame: int, total: int) -> None:
    """Draw the progress bar and running time of ``frame`` (of ``total``) onto ``image``."""
    draw = ImageDraw.Draw(image)
    u = unit(job)
    width, height = image.size
    margin = round(18 * u)
    bar_y = height - round(30 * u)
    bar_h = max(2, round(4 * u))
    done = round((width - 2 * margin) * (frame + 1) / total)
    draw.rectangle((margin, bar_y, width - margin, bar_y + bar_h), fill=(70, 70, 70))
    draw.rectangle((margin, bar_y, margin + done, bar_y + bar_h), fill=ACCENT)
    clock = f"{_clock(frame / job.fps)} / {_clock(job.duration_s)}"
    text = f"{clock}   {job.model}   take {job.take_id}"
    draw.text(
        (margin, height - round(8 * u)), text, font=font(round(13 * u)), fill=DIM, anchor="ls"
    )
