"""``recoil export`` read back with OpenTimelineIO: the example episode rendered by the
animatic (real MP4s), exported as .otio, CMX 3600 EDL and FCPXML."""

from __future__ import annotations

import itertools
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import opentimelineio as otio
import pytest

av = pytest.importorskip("av", reason="the rendered MP4s' lengths are read with PyAV")

Episode = Any  # conftest.Episode: the rendered episode's folder, plan, report and runner

RATE = 12  # the animatic renders at 12 fps, and the export takes the renders' rate


def export(episode: Episode, fmt: str, name: str) -> Path:
    out = episode.root / "cut" / name
    result = episode.recoil("export", "plan.json", "--format", fmt, "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def media_seconds(path: Path) -> Fraction:
    """The MP4's video length, read from its stream (frames x frame duration)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.average_rate is not None
        return Fraction(stream.frames) / Fraction(stream.average_rate)


def track_items(timeline: otio.schema.Timeline) -> list[Any]:
    (track,) = timeline.video_tracks()
    return list(track)


def frames(seconds: float) -> int:
    return round(seconds * RATE)


def test_otio_has_one_clip_per_plan_shot_in_order_with_the_renders_timing(
    rendered: Episode,
) -> None:
    episode = rendered
    out = export(episode, "otio", "ep.otio")
    timeline = otio.adapters.read_from_file(str(out))
    clips = track_items(timeline)
    shots = episode.plan_shots()

    assert [c.name for c in clips] == [shot_id for shot_id, _ in shots]
    assert all(isinstance(c, otio.schema.Clip) for c in clips)
    assert [c.source_range.duration.value for c in clips] == [frames(d) for _, d in shots]
    assert timeline.duration().value == sum(frames(d) for _, d in shots)

    by_media: dict[str, list[otio.schema.Clip]] = {}
    for clip in clips:
        url = clip.media_reference.target_url
        assert not Path(url).is_absolute()  # relative to the export
        by_media.setdefault(url, []).append(clip)
    assert any(len(group) > 1 for group in by_media.values()), "a multi-shot clip"
    for url, group in by_media.items():
        media = (out.parent / url).resolve()
        assert media.is_file()
        # the shots of one render follow each other inside it, from its start; the render
        # is as long as the media reference says (a provider may round a clip up)
        starts = [c.source_range.start_time.value for c in group]
        ends = [c.source_range.end_time_exclusive().value for c in group]
        assert starts[0] == 0 and starts[1:] == ends[:-1]
        available = group[0].media_reference.available_range
        assert Fraction(int(available.duration.value), RATE) == media_seconds(media)
        assert ends[-1] <= available.duration.value

    facts = clips[0].metadata["recoil"]
    assert {"take_id", "model", "provider", "seed", "cost_usd", "prompt"} <= set(facts)
    assert facts["provider"] == "animatic" and isinstance(facts["seed"], int)


def test_edl_parses_as_cmx3600_with_contiguous_record_timecodes(rendered: Episode) -> None:
    episode = rendered
    out = export(episode, "edl", "ep.edl")
    # 12 fps is no SMPTE timecode rate: the EDL counts at 24 (each render frame is two)
    timeline = otio.adapters.read_from_file(str(out), adapter_name="cmx_3600", rate=24)
    clips = [c for c in track_items(timeline) if isinstance(c, otio.schema.Clip)]
    shots = episode.plan_shots()
    assert [c.name for c in clips] == [shot_id for shot_id, _ in shots]
    assert [c.duration().value for c in clips] == [2 * frames(d) for _, d in shots]

    events = re.findall(
        r"^\d{3}\s+\S+\s+V\s+C\s+(\S+) (\S+) (\S+) (\S+)$", out.read_text(), re.MULTILINE
    )
    assert len(events) == len(clips)
    record = [(rec_in, rec_out) for _, _, rec_in, rec_out in events]
    assert record[0][0] == "00:00:00:00"
    assert all(later[0] == earlier[1] for earlier, later in itertools.pairwise(record))


def test_fcpxml_reads_back_with_the_clips_in_order(rendered: Episode) -> None:
    episode = rendered
    out = export(episode, "fcpxml", "ep.fcpxml")
    timeline = otio.adapters.read_from_file(str(out), adapter_name="fcpx_xml")
    clips = [c for c in timeline.find_clips()]
    assert [c.name for c in clips] == [shot_id for shot_id, _ in episode.plan_shots()]
    shots = episode.plan_shots()
    assert [c.duration().to_seconds() for c in clips] == [d for _, d in shots]


def test_a_missing_render_is_a_gap_with_a_marker_naming_the_shot(episode: Episode) -> None:
    status = episode.status()
    (ep,) = status["episodes"]
    solo = next(b for s in ep["scenes"] for b in s["beats"] if len(b["shot_ids"]) == 1)
    (missing_shot,) = solo["shot_ids"]
    Path(solo["takes"][-1]["render"]).unlink()

    out = export(episode, "otio", "ep.otio")
    items = track_items(otio.adapters.read_from_file(str(out)))
    shots = episode.plan_shots()
    assert len(items) == len(shots)  # never closed up
    index = [shot_id for shot_id, _ in shots].index(missing_shot)
    gap = items[index]
    assert isinstance(gap, otio.schema.Gap)
    assert gap.source_range.duration.value == frames(shots[index][1])
    assert [m.name for m in gap.markers] == [missing_shot]
    assert "not found" in gap.metadata["recoil"]["missing"]
    assert all(isinstance(i, otio.schema.Clip) for n, i in enumerate(items) if n != index)

    edl = export(episode, "edl", "ep.edl").read_text()
    assert f"FROM CLIP NAME:  {missing_shot}" not in edl
    result = episode.recoil("export", "plan.json", "--format", "edl")
    assert f"gap: {missing_shot} has no render" in result.stderr


def test_the_selected_take_is_the_one_exported(episode: Episode) -> None:
    (ep,) = episode.status()["episodes"]
    scene = ep["scenes"][0]
    beat = scene["beats"][0]
    target = f"{scene['scene_id']}/{beat['beat_id']}"
    assert episode.recoil("retake", "plan.json", target).returncode == 0
    rerun = episode.recoil("run", "plan.json", "--max-takes", "2")
    assert rerun.returncode == 0, rerun.stderr
    (ep,) = episode.status()["episodes"]
    takes = ep["scenes"][0]["beats"][0]["takes"]
    assert [t["state"] for t in takes] == ["succeeded", "succeeded"]

    newest = track_items(otio.adapters.read_from_file(str(export(episode, "otio", "a.otio"))))
    assert newest[0].metadata["recoil"]["take_id"] == takes[1]["take_id"]
    chosen = episode.recoil("select", "plan.json", target, takes[0]["take_id"])
    assert chosen.returncode == 0, chosen.stderr
    selected = track_items(otio.adapters.read_from_file(str(export(episode, "otio", "b.otio"))))
    assert selected[0].metadata["recoil"]["take_id"] == takes[0]["take_id"]
    assert selected[0].metadata["recoil"]["selected"] is True
    assert Path(takes[0]["render"]).name in selected[0].media_reference.target_url


@pytest.mark.parametrize("fmt", ["otio", "edl", "fcpxml"])
def test_without_out_the_export_goes_to_standard_output(rendered: Episode, fmt: str) -> None:
    before = sorted(rendered.root.rglob("*"))
    result = rendered.recoil("export", "plan.json", "--format", fmt)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(("{", "TITLE:", "<?xml"))
    assert sorted(rendered.root.rglob("*")) == before
