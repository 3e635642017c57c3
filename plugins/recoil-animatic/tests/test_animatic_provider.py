"""The animatic provider renders real previs media: MP4 title-card clips and PNG keyframes."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import attrs
import av
import pytest
from PIL import Image
from recoil_animatic.provider import AnimaticProvider

from recoil_core.api import JobStatus, ProviderRejected, SubmitRequest, TaskNotFound

FPS = 12


def _segment(shot_id: str, duration_s: float, **extra: Any) -> dict[str, Any]:
    return {
        "shot_id": shot_id,
        "duration_s": duration_s,
        "prompt": extra.get("prompt", f"{shot_id}: Ana pours coffee in the morning light"),
        "shot_type": extra.get("shot_type", "wide"),
        "location_id": extra.get("location_id", "KITCHEN"),
        "characters": extra.get("characters", ["ANA", "BEN"]),
    }


def _video_request(
    segments: list[dict[str, Any]],
    *,
    aspect_ratio: str = "16:9",
    resolution: str = "720p",
    inputs: dict[str, Path] | None = None,
    modality: str = "r2v_multi",
    take_id: str = "EP001_SH01__t1",
) -> SubmitRequest:
    payload = {
        "prompt": "Breakfast scene",
        "model": "seeddance-2.0",
        "duration_s": sum(seg["duration_s"] for seg in segments),
        "aspect_ratio": aspect_ratio,
        "resolution": resolution,
        "shot_ids": [seg["shot_id"] for seg in segments],
        "segments": segments,
    }
    return SubmitRequest(
        take_id=take_id,
        step_id="video",
        modality=modality,
        model="seeddance-2.0",
        payload=payload,
        seed=1234,
        inputs=inputs or {},
    )


def _keyframe_request(shot_id: str = "EP001_SH01", aspect_ratio: str = "16:9") -> SubmitRequest:
    payload = {
        "prompt": "Ana pours coffee",
        "model": "seedream-4.0",
        "aspect_ratio": aspect_ratio,
        "resolution": "720p",
        "shot_id": shot_id,
        "segments": [_segment(shot_id, 5.0)],
    }
    return SubmitRequest(
        take_id="EP001_SH01__t1",
        step_id="kf",
        modality="image_t2i",
        model="seedream-4.0",
        payload=payload,
        seed=99,
    )


def _render(provider: AnimaticProvider, request: SubmitRequest, dest: Path) -> JobStatus:
    async def go() -> JobStatus:
        job_id = await provider.submit(request)
        status = await provider.poll(job_id)
        await provider.download(status, dest)
        return status

    return asyncio.run(go())


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _probe(path: Path) -> tuple[int, int, int, float]:
    """Width, height, decoded frame count and duration in seconds of an MP4."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        assert stream.duration is not None and stream.time_base is not None
        duration = float(stream.duration * stream.time_base)
        return stream.width, stream.height, frames, duration


def _edge_colours(path: Path) -> list[tuple[int, int, int]]:
    """Per frame, the colour of an empty spot on the right edge (the card backdrop)."""
    colours = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            image = frame.to_image()
            colours.append(image.getpixel((image.width - 6, image.height // 2)))
    return colours


def _runs(colours: list[tuple[int, int, int]]) -> list[int]:
    runs: list[int] = []
    previous: tuple[int, int, int] | None = None
    for colour in colours:
        close = previous is not None and all(
            abs(a - b) <= 6 for a, b in zip(colour, previous, strict=True)
        )
        if close:
            runs[-1] += 1
        else:
            runs.append(1)
        previous = colour
    return runs


@pytest.fixture
def provider(tmp_path: Path) -> AnimaticProvider:
    return AnimaticProvider(tmp_path / "cache")


def test_clip_is_h264_mp4_with_requested_duration_and_aspect(
    provider: AnimaticProvider, tmp_path: Path
) -> None:
    request = _video_request([_segment("EP001_SH01", 5.0)], modality="video_i2v")
    status = _render(provider, request, tmp_path / "clip.mp4")

    assert status.state == "succeeded"
    assert status.cost_usd == 0.0
    assert status.media_suffix == ".mp4"
    assert status.job_id.startswith("anim-")
    width, height, frames, duration = _probe(tmp_path / "clip.mp4")
    assert Fraction(width, height) == Fraction(16, 9)
    assert abs(frames - 5.0 * FPS) <= 1
    assert abs(duration - 5.0) <= 1 / FPS
    with av.open(str(tmp_path / "clip.mp4")) as container:
        assert container.streams.video[0].codec_context.name == "h264"
    assert status.metadata["nominal_size"] == [1280, 720]
    assert status.metadata["rendered_size"] == [width, height]


def test_segments_play_one_after_another_each_for_its_duration(
    provider: AnimaticProvider, tmp_path: Path
) -> None:
    segments = [
        _segment("EP001_SH01", 2.0),
        _segment("EP001_SH02", 1.5, shot_type="close-up"),
        _segment("EP001_SH03", 2.5, characters=["BEN"]),
    ]
    status = _render(provider, _video_request(segments), tmp_path / "cont.mp4")

    _, _, frames, duration = _probe(tmp_path / "cont.mp4")
    assert frames == 72
    assert abs(duration - 6.0) <= 1 / FPS
    assert _runs(_edge_colours(tmp_path / "cont.mp4")) == [24, 18, 30]
    assert status.metadata["shot_ids"] == ["EP001_SH01", "EP001_SH02", "EP001_SH03"]


@pytest.mark.parametrize(
    ("aspect_ratio", "ratio", "nominal"),
    [
        ("9:16", Fraction(9, 16), [720, 1280]),
        ("1:1", Fraction(1, 1), [720, 720]),
        ("4:3", Fraction(4, 3), [960, 720]),
        ("21:9", Fraction(21, 9), [1680, 720]),
    ],
)
def test_clip_follows_the_payload_aspect_ratio(
    provider: AnimaticProvider,
    tmp_path: Path,
    aspect_ratio: str,
    ratio: Fraction,
    nominal: list[int],
) -> None:
    request = _video_request([_segment("EP001_SH04", 1.0)], aspect_ratio=aspect_ratio)
    status = _render(provider, request, tmp_path / "clip.mp4")

    width, height, _, _ = _probe(tmp_path / "clip.mp4")
    assert abs(width / height - float(ratio)) < 0.01
    assert status.metadata["nominal_size"] == nominal


def test_same_request_renders_byte_identical_files_in_separate_processes(
    tmp_path: Path,
) -> None:
    request = _video_request([_segment("EP001_SH01", 2.0), _segment("EP001_SH02", 3.0)])
    _render(AnimaticProvider(tmp_path / "a"), request, tmp_path / "a.mp4")
    _render(AnimaticProvider(tmp_path / "b"), request, tmp_path / "b.mp4")
    script = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from pathlib import Path
from test_animatic_provider import AnimaticProvider, _render, _segment, _video_request
request = _video_request([_segment("EP001_SH01", 2.0), _segment("EP001_SH02", 3.0)])
_render(AnimaticProvider(Path({str(tmp_path / "c")!r})), request, Path({str(tmp_path / "c.mp4")!r}))
"""
    subprocess.run([sys.executable, "-c", script], check=True)

    assert _sha(tmp_path / "a.mp4") == _sha(tmp_path / "b.mp4") == _sha(tmp_path / "c.mp4")


def test_different_shots_render_different_clips(provider: AnimaticProvider, tmp_path: Path) -> None:
    first = _render(provider, _video_request([_segment("EP001_SH01", 2.0)]), tmp_path / "1.mp4")
    second = _render(provider, _video_request([_segment("EP001_SH02", 2.0)]), tmp_path / "2.mp4")

    assert first.job_id != second.job_id
    assert _sha(tmp_path / "1.mp4") != _sha(tmp_path / "2.mp4")


def test_keyframe_is_a_png_card_of_the_requested_aspect(
    provider: AnimaticProvider, tmp_path: Path
) -> None:
    status = _render(provider, _keyframe_request(aspect_ratio="9:16"), tmp_path / "kf.png")

    assert status.media_suffix == ".png"
    assert status.cost_usd == 0.0
    with Image.open(tmp_path / "kf.png") as image:
        assert image.format == "PNG"
        assert Fraction(*image.size) == Fraction(9, 16)
    assert status.metadata["nominal_size"] == [720, 1280]


def test_first_frame_input_becomes_the_card_backdrop(
    provider: AnimaticProvider, tmp_path: Path
) -> None:
    frame = tmp_path / "kf.png"
    Image.new("RGB", (1280, 720), (200, 40, 40)).save(frame)
    segments = [_segment("EP001_SH01", 1.0)]
    with_frame = _render(
        provider, _video_request(segments, inputs={"first_frame": frame}), tmp_path / "a.mp4"
    )
    without = _render(provider, _video_request(segments), tmp_path / "b.mp4")

    assert with_frame.metadata["first_frame_used"] is True
    assert without.metadata["first_frame_used"] is False
    red, green, blue = _edge_colours(tmp_path / "a.mp4")[0]
    # The backdrop is the first frame darkened for legible text: still clearly red.
    assert red > 60 and red > 3 * max(green, blue)
    assert _sha(tmp_path / "a.mp4") != _sha(tmp_path / "b.mp4")


def test_a_restarted_provider_finds_polls_and_downloads_an_earlier_job(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache"
    request = _video_request([_segment("EP001_SH01", 2.0)])
    first = _render(AnimaticProvider(cache), request, tmp_path / "first.mp4")

    async def after_restart() -> tuple[str | None, JobStatus]:
        fresh = AnimaticProvider(cache)
        found = await fresh.find(request)
        status = await fresh.poll(first.job_id)
        await fresh.download(status, tmp_path / "again.mp4")
        return found, status

    found, status = asyncio.run(after_restart())
    assert found == first.job_id
    assert status.state == "succeeded"
    assert _sha(tmp_path / "again.mp4") == _sha(tmp_path / "first.mp4")


def test_a_job_whose_media_was_lost_is_rendered_again_on_poll(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    request = _video_request([_segment("EP001_SH01", 2.0)])
    first = _render(AnimaticProvider(cache), request, tmp_path / "first.mp4")
    for media in cache.glob("*.mp4"):
        media.unlink()

    async def after_crash() -> JobStatus:
        fresh = AnimaticProvider(cache)
        status = await fresh.poll(first.job_id)
        await fresh.download(status, tmp_path / "again.mp4")
        return status

    status = asyncio.run(after_crash())
    assert status.state == "succeeded"
    assert _sha(tmp_path / "again.mp4") == _sha(tmp_path / "first.mp4")


def test_a_lost_job_whose_first_frame_changed_fails_instead_of_rendering_other_content(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache"
    frame = tmp_path / "kf.png"
    Image.new("RGB", (640, 360), (20, 40, 200)).save(frame)
    request = _video_request([_segment("EP001_SH01", 1.0)], inputs={"first_frame": frame})
    first = _render(AnimaticProvider(cache), request, tmp_path / "first.mp4")
    for media in cache.glob("*.mp4"):
        media.unlink()
    Image.new("RGB", (640, 360), (20, 200, 40)).save(frame)

    status = asyncio.run(AnimaticProvider(cache).poll(first.job_id))

    assert status.state == "failed"
    assert status.cost_usd == 0.0
    assert str(frame) in (status.error_message or "")


def test_find_returns_none_for_a_request_never_submitted(provider: AnimaticProvider) -> None:
    request = _video_request([_segment("EP001_SH09", 2.0)])
    assert asyncio.run(provider.find(request)) is None


@pytest.mark.parametrize("job_id", ["anim-" + "0" * 24, "task-123", "../../etc/passwd"])
def test_polling_an_unknown_job_is_task_not_found(provider: AnimaticProvider, job_id: str) -> None:
    with pytest.raises(TaskNotFound):
        asyncio.run(provider.poll(job_id))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"aspect_ratio": "5:7"}, "aspect_ratio"),
        ({"resolution": "huge"}, "resolution"),
        ({"duration_s": 0}, "duration_s"),
    ],
)
def test_unusable_payload_is_rejected_at_submit_naming_the_field(
    provider: AnimaticProvider, change: dict[str, Any], field: str
) -> None:
    request = _video_request([_segment("EP001_SH01", 2.0)])
    bad = attrs.evolve(request, payload={**request.payload, **change})
    with pytest.raises(ProviderRejected, match=field):
        asyncio.run(provider.submit(bad))


def test_missing_first_frame_is_rejected_naming_the_file(
    provider: AnimaticProvider, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.png"
    request = _video_request([_segment("EP001_SH01", 2.0)], inputs={"first_frame": missing})
    with pytest.raises(ProviderRejected, match=r"nope\.png"):
        asyncio.run(provider.submit(request))


def test_segments_without_duration_share_what_the_timed_ones_leave(
    provider: AnimaticProvider, tmp_path: Path
) -> None:
    wildcard = {"shot_id": None, "prompt": "cutaway", "shot_type": None}
    base = _video_request([_segment("EP001_SH01", 2.0)])
    request = attrs.evolve(
        base,
        payload={
            **base.payload,
            "duration_s": 6.0,
            "segments": [*base.payload["segments"], wildcard],
        },
    )
    status = _render(provider, request, tmp_path / "clip.mp4")

    assert _runs(_edge_colours(tmp_path / "clip.mp4")) == [24, 48]
    assert status.metadata["shot_ids"] == ["EP001_SH01", "wildcard"]


def test_unwritable_cache_is_rejected_naming_the_setting(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    provider = AnimaticProvider(blocker / "cache")
    with pytest.raises(ProviderRejected, match="RECOIL_ANIMATIC_CACHE"):
        asyncio.run(provider.submit(_video_request([_segment("EP001_SH01", 1.0)])))


# ---------------------------------------------------------------------------- cache size


def _cached_media(cache: Path) -> list[Path]:
    return sorted(p for p in cache.iterdir() if p.suffix in (".mp4", ".png"))


def test_closing_the_provider_removes_least_recently_used_clips_beyond_the_limit(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache"
    provider = AnimaticProvider(cache, limit_bytes=1)  # keep (at most) nothing
    statuses = [
        _render(provider, _video_request([_segment(f"EP001_SH0{i}", 1.0)]), tmp_path / f"{i}.mp4")
        for i in (1, 2, 3)
    ]
    sizes = {p.name: p.stat().st_size for p in _cached_media(cache)}
    assert len(sizes) == 3
    # SH01 was used last: polled again now, so it is the most recently used clip
    asyncio.run(provider.poll(statuses[0].job_id))
    provider.limit_bytes = sizes[f"{statuses[0].job_id}.mp4"]  # room for exactly one clip
    asyncio.run(provider.aclose())

    assert [p.name for p in _cached_media(cache)] == [f"{statuses[0].job_id}.mp4"]
    assert len(list(cache.glob("*.json"))) == 3  # job files stay: pruned clips re-render

    async def again() -> JobStatus:
        fresh = AnimaticProvider(cache)
        status = await fresh.poll(statuses[2].job_id)
        await fresh.download(status, tmp_path / "again.mp4")
        return status

    assert asyncio.run(again()).state == "succeeded"
    assert _sha(tmp_path / "again.mp4") == _sha(tmp_path / "3.mp4")


def test_cache_limit_zero_keeps_every_clip(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    provider = AnimaticProvider(cache, limit_bytes=0)
    for i in (1, 2):
        _render(provider, _video_request([_segment(f"EP001_SH0{i}", 1.0)]), tmp_path / f"{i}.mp4")
    asyncio.run(provider.aclose())
    assert len(_cached_media(cache)) == 2


@pytest.mark.parametrize(("value", "expected"), [("", 1024 << 20), ("0", 0), ("2.5", 2621440)])
def test_cache_limit_setting(value: str, expected: int) -> None:
    from recoil_animatic.settings import CACHE_MAX_ENV, cache_limit_bytes

    assert cache_limit_bytes({CACHE_MAX_ENV: value}) == expected
