"""recoil_otio on a cut given as data (what ``recoil export`` hands it): clips, gaps with
markers, relative media references and metadata, in every format, read back with
OpenTimelineIO. Runs with recoil-otio's own dependencies only."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import opentimelineio as otio
import pytest
from recoil_otio import FORMATS, write_cut


def cut(tmp_path: Path) -> dict[str, Any]:
    """Three plan shots: two from one two-shot render (3 s + 2 s), one never rendered."""
    media = tmp_path / "projects" / "p" / "EP001" / "renders" / "EP001_CONT_001_take1.mp4"
    media.parent.mkdir(parents=True)
    media.write_bytes(b"not decoded by the export")
    clip = {"scene_id": "S1", "beat_id": "B1", "take_id": "B1_take_0", "render_path": str(media)}
    facts = {"take_id": "B1_take_0", "model": "m", "seed": 7, "cost_usd": 0.5}
    return {
        "project": "p",
        "episode": "EP001",
        "fps": 24.0,
        "events": [
            {
                **clip,
                "shot_id": "SH01",
                "duration_s": 3.0,
                "source_in_s": 0.0,
                "clip_duration_s": 5.0,
                "metadata": {**facts, "prompt": "a"},
                "missing": "",
            },
            {
                "shot_id": "SH02",
                "duration_s": 1.5,
                "render_path": None,
                "metadata": {},
                "missing": "no succeeded take",
            },
            {
                **clip,
                "shot_id": "SH03",
                "duration_s": 2.0,
                "source_in_s": 3.0,
                "clip_duration_s": 5.0,
                "metadata": {**facts, "prompt": "b"},
                "missing": "",
            },
        ],
    }


def test_otio_keeps_segments_gaps_markers_and_metadata(tmp_path: Path) -> None:
    out = tmp_path / "cut" / "ep.otio"
    write_cut(cut(tmp_path), "otio", out)
    (track,) = otio.adapters.read_from_file(str(out)).video_tracks()
    first, gap, last = list(track)

    assert isinstance(first, otio.schema.Clip) and isinstance(last, otio.schema.Clip)
    assert (first.source_range.start_time.value, first.source_range.duration.value) == (0, 72)
    assert (last.source_range.start_time.value, last.source_range.duration.value) == (72, 48)
    url = first.media_reference.target_url
    assert url == "../projects/p/EP001/renders/EP001_CONT_001_take1.mp4"
    assert (out.parent / url).resolve().is_file()
    assert first.media_reference.available_range.duration.value == 120
    assert first.metadata["recoil"]["seed"] == 7 and last.metadata["recoil"]["prompt"] == "b"

    assert isinstance(gap, otio.schema.Gap) and gap.duration().value == 36
    assert [m.name for m in gap.markers] == ["SH02"]
    assert gap.metadata["recoil"]["missing"] == "no succeeded take"
    assert track.duration().value == 72 + 36 + 48


def test_edl_record_timecodes_run_on_through_the_gap(tmp_path: Path) -> None:
    out = tmp_path / "ep.edl"
    write_cut(cut(tmp_path), "edl", out)
    text = out.read_text()
    events = re.findall(r"^\d{3}\s+\S+\s+V\s+C\s+(\S+) (\S+) (\S+) (\S+)$", text, re.MULTILINE)
    assert events == [
        ("00:00:00:00", "00:00:03:00", "00:00:00:00", "00:00:03:00"),
        ("00:00:03:00", "00:00:05:00", "00:00:04:12", "00:00:06:12"),  # after 1.5 s of gap
    ]
    timeline = otio.adapters.read_from_file(str(out), adapter_name="cmx_3600", rate=24)
    assert [c.name for c in timeline.find_clips()] == ["SH01", "SH03"]


def test_fcpxml_reads_back_with_the_gap_and_its_marker(tmp_path: Path) -> None:
    out = tmp_path / "ep.fcpxml"
    write_cut(cut(tmp_path), "fcpxml", out)
    timeline = otio.adapters.read_from_file(str(out), adapter_name="fcpx_xml")
    (track,) = timeline.video_tracks()
    kinds = [type(item).__name__ for item in track]
    assert kinds == ["Clip", "Gap", "Clip"]
    # the adapter writes a gap's markers but does not read them back: look in the XML
    spine = ElementTree.parse(out).getroot().find("./project/sequence/spine")
    assert spine is not None
    assert [(e.tag, [m.get("value") for m in e.iter("marker")]) for e in spine] == [
        ("clip", []),
        ("gap", ["SH02"]),
        ("clip", []),
    ]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_rate_the_format_cannot_express_keeps_the_times_in_seconds(
    tmp_path: Path, fmt: str
) -> None:
    data = {**cut(tmp_path), "fps": 12.0}
    out = tmp_path / f"ep{FORMATS[fmt][1]}"
    write_cut(data, fmt, out)
    adapter, _ = FORMATS[fmt]
    extra = {"rate": 24} if fmt == "edl" else {}
    timeline = otio.adapters.read_from_file(str(out), adapter_name=adapter, **extra)
    assert [c.duration().to_seconds() for c in timeline.find_clips()] == [3.0, 2.0]
