"""From a cut (plain data) to an OpenTimelineIO timeline, and to a file in each format."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import opentimelineio as otio  # type: ignore[import-untyped]

FORMATS: dict[str, tuple[str, str]] = {
    "otio": ("otio_json", ".otio"),
    "edl": ("cmx_3600", ".edl"),
    "fcpxml": ("fcpx_xml", ".fcpxml"),
}
"""``--format`` name -> (OpenTimelineIO adapter, file suffix)."""

DEFAULT_RATE = 24.0
"""The timeline rate when no render reports its frame rate."""

EDITORIAL_RATES = frozenset({24.0, 25.0, 29.97, 30.0, 50.0, 59.94, 60.0})
"""Rates an EDL (SMPTE timecode) and FCPXML (its adapter's frame durations) can express;
another rate is written at ``DEFAULT_RATE``, which keeps every time in seconds the same."""

METADATA_KEY = "recoil"
"""Where each clip's and gap's Recoil facts live in its OTIO metadata."""


def _frames(seconds: float, rate: float) -> int:
    return round(seconds * rate)


def _range(start_frame: int, frames: int, rate: float) -> otio.opentime.TimeRange:
    return otio.opentime.TimeRange(
        otio.opentime.RationalTime(start_frame, rate), otio.opentime.RationalTime(frames, rate)
    )


def _media_url(render: str, relative_to: Path) -> str:
    """The render's path relative to the exported file's folder, with ``/`` separators."""
    return Path(os.path.relpath(render, relative_to)).as_posix()


def build_timeline(
    cut: Mapping[str, Any], *, relative_to: Path, rate: float | None = None
) -> otio.schema.Timeline:
    """One video track: per event, a clip (source in/out from its segment in the render)
    or, for a shot without a render, a gap of its length with a marker naming the shot.
    Frames are counted on a cumulative clock (an event ends where the next one starts)."""
    rate = rate or cut.get("fps") or DEFAULT_RATE
    timeline = otio.schema.Timeline(name=f"{cut['project']} {cut['episode']}")
    timeline.metadata[METADATA_KEY] = {"project": cut["project"], "episode": cut["episode"]}
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    for event in cut["events"]:
        facts = {
            "shot_id": event["shot_id"],
            "scene_id": event.get("scene_id"),
            "beat_id": event.get("beat_id"),
            **dict(event.get("metadata") or {}),
        }
        start = float(event.get("source_in_s") or 0.0)
        first = _frames(start, rate)
        frames = _frames(start + float(event["duration_s"]), rate) - first
        render = event.get("render_path")
        if render is None:
            gap = otio.schema.Gap(
                name=f"missing {event['shot_id']}",
                source_range=_range(0, frames, rate),
            )
            gap.metadata[METADATA_KEY] = {**facts, "missing": event.get("missing") or ""}
            gap.markers.append(
                otio.schema.Marker(
                    name=event["shot_id"],
                    marked_range=_range(0, 0, rate),
                    color=otio.schema.MarkerColor.RED,
                    metadata={METADATA_KEY: {"missing": event.get("missing") or ""}},
                )
            )
            track.append(gap)
            continue
        media = otio.schema.ExternalReference(
            target_url=_media_url(render, relative_to),
            available_range=_range(0, _frames(float(event["clip_duration_s"]), rate), rate),
        )
        clip = otio.schema.Clip(
            name=event["shot_id"], media_reference=media, source_range=_range(first, frames, rate)
        )
        clip.metadata[METADATA_KEY] = facts
        track.append(clip)
    return timeline


def write_cut(
    cut: Mapping[str, Any], fmt: str, out: Path | None, *, rate: float | None = None
) -> str:
    """The cut written in ``fmt`` (``otio``, ``edl`` or ``fcpxml``): to ``out`` when given
    (media references relative to its folder), and returned as text (relative to the
    working directory when there is no ``out``)."""
    adapter, _suffix = FORMATS[fmt]
    relative_to = (out.parent if out is not None else Path.cwd()).absolute()
    rate = rate or cut.get("fps") or DEFAULT_RATE
    if fmt != "otio" and rate not in EDITORIAL_RATES:
        rate = DEFAULT_RATE  # 12 fps media, say, is cut at 24 (each of its frames is two)
    timeline = build_timeline(cut, relative_to=relative_to, rate=rate)
    text: str = otio.adapters.write_to_string(timeline, adapter)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        temp = out.with_name(f".{out.name}.tmp")
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, out)
    return text
