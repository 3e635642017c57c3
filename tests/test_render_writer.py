"""write_render / build_provenance: atomic media + sidecar, checksums, no secrets written."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from recoil_core.model import (
    Beat,
    GenerationReceipt,
    GroupIdentity,
    RunResult,
    Segment,
    Workflow,
    WorkflowStep,
)
from recoil_core.render import (
    InputRecord,
    SecretInProvenanceError,
    build_provenance,
    find_secret_keys,
    provenance_document,
    write_render,
)

NAME = "EP001_SH1_take1.mp4"


def _media(tmp_path: Path, data: bytes = b"video-bytes") -> Path:
    path = tmp_path / "download.part"
    path.write_bytes(data)
    return path


def test_write_render_puts_media_and_sidecar_in_place(tmp_path: Path) -> None:
    media = _media(tmp_path, b"\x00mp4" * 1000)
    dest = tmp_path / "renders"

    record = write_render(dest, NAME, media, {"grouping": {"strategy": "solo"}, "seed": 7})

    expected = hashlib.sha256(b"\x00mp4" * 1000).hexdigest()
    assert record.path == dest / NAME
    assert record.path.read_bytes() == b"\x00mp4" * 1000
    assert (record.sha256, record.bytes) == (expected, 4000)
    assert not media.exists()
    sidecar = json.loads((dest / f"{NAME}.json").read_text())
    assert record.sidecar_path == dest / f"{NAME}.json"
    assert sidecar["schema_version"] == 1
    assert sidecar["kind"] == "render_sidecar"
    assert (sidecar["render"], sidecar["sha256"], sidecar["bytes"]) == (NAME, expected, 4000)
    assert sidecar["provenance"]["grouping"] == {"strategy": "solo"}
    assert sidecar["provenance"]["output"] == {"name": NAME, "sha256": expected, "bytes": 4000}
    assert sorted(p.name for p in dest.iterdir()) == [NAME, f"{NAME}.json"]


def test_write_render_can_keep_the_source(tmp_path: Path) -> None:
    media = _media(tmp_path)
    write_render(tmp_path / "renders", NAME, media, {}, move=False)
    assert media.read_bytes() == b"video-bytes"


def test_write_render_copies_a_linked_source_and_removes_the_link_after(
    tmp_path: Path,
) -> None:
    """A source the writer cannot rename into place (here a symbolic link: the render
    must be the data, not a link to it) is copied; the link goes once the copy is placed."""
    data = tmp_path / "elsewhere.bin"
    data.write_bytes(b"copied")
    link = tmp_path / "link.part"
    link.symlink_to(data)
    dest = tmp_path / "renders"
    record = write_render(dest, NAME, link, {})
    assert record.path.read_bytes() == b"copied"
    assert not record.path.is_symlink()
    assert not link.exists() and not link.is_symlink()


def test_write_render_recreates_a_renders_folder_removed_between_renders(
    tmp_path: Path,
) -> None:
    dest = tmp_path / "renders"
    write_render(dest, NAME, _media(tmp_path, b"one"), {})
    for child in dest.iterdir():
        child.unlink()
    dest.rmdir()
    record = write_render(dest, NAME, _media(tmp_path, b"two"), {})
    assert record.path.read_bytes() == b"two"


def test_write_render_replaces_an_existing_render(tmp_path: Path) -> None:
    dest = tmp_path / "renders"
    write_render(dest, NAME, _media(tmp_path, b"old"), {"take": 1})
    record = write_render(dest, NAME, _media(tmp_path, b"new"), {"take": 2})
    assert record.path.read_bytes() == b"new"
    assert json.loads(record.sidecar_path.read_text())["provenance"]["take"] == 2


@pytest.mark.parametrize(
    "provenance",
    [
        {"provider_meta": {"headers": {"Authorization": "x"}}},
        {"api_key": "k"},
        {"request": [{"X-Api-Key": "k"}]},
        {"PASSWORD": "p"},
        {"provider": {"client_secret": "s"}},
        {"token": "t"},
        {"note": "Bearer abc.def"},
    ],
)
def test_write_render_refuses_secret_looking_provenance(tmp_path: Path, provenance: dict) -> None:
    media = _media(tmp_path)
    dest = tmp_path / "renders"
    with pytest.raises(SecretInProvenanceError) as caught:
        write_render(dest, NAME, media, provenance)
    assert not dest.exists() or list(dest.iterdir()) == []
    assert media.exists()
    assert "Bearer abc" not in str(caught.value)


def test_usage_counters_are_not_mistaken_for_secrets() -> None:
    usage = {
        "usage": {"completion_tokens": 108900, "total_tokens": 108900},
        "usd_per_million_tokens": 7.0,
        "author": "me",
    }
    assert find_secret_keys(usage) == []


_CRASHING_WRITER = """
import sys
from pathlib import Path
from recoil_core.render import write_render
write_render(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), {"grouping": None})
"""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_crash_mid_write_leaves_only_a_temp_file_and_a_rerun_overwrites(tmp_path: Path) -> None:
    dest = tmp_path / "renders"
    fifo = tmp_path / "media.fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [sys.executable, "-c", _CRASHING_WRITER, str(dest), NAME, str(fifo)],
        stderr=subprocess.PIPE,
    )

    def unblock_if_writer_died() -> None:
        proc.wait()
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))

    watchdog = threading.Thread(target=unblock_if_writer_died, daemon=True)
    watchdog.start()
    # Opening the pipe returns once the writer is reading the media: its temp file exists.
    with fifo.open("wb") as pipe:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        pipe.write(b"partial video")
        pipe.flush()
        proc.kill()
        proc.wait()
    watchdog.join()

    leftovers = sorted(p.name for p in dest.iterdir())
    assert not (dest / NAME).exists()
    assert not (dest / f"{NAME}.json").exists()
    assert len(leftovers) == 1 and leftovers[0].startswith(f".{NAME}.")
    assert leftovers[0].endswith(".tmp")

    record = write_render(dest, NAME, _media(tmp_path, b"complete video"), {"grouping": None})
    assert record.path.read_bytes() == b"complete video"
    assert sorted(p.name for p in dest.iterdir()) == [NAME, f"{NAME}.json"]


def test_build_provenance_collects_the_standard_fields(tmp_path: Path) -> None:
    frame = tmp_path / "kf.png"
    frame.write_bytes(b"png")
    identity = GroupIdentity("oner", 1, ("EP001_SH05",))
    beat = Beat(
        beat_id="ONER_001__oner",
        grouping=identity,
        segments=[Segment("EP001_SH05", 4.0, "walk")],
        generation_config={"tier": "pro"},
    )
    step = WorkflowStep(
        step_id="video",
        modality="video_i2v",
        payload={"prompt": "walk", "model": "seeddance-2.0", "shot_ids": ["EP001_SH05"]},
        provider="seeddance",
        model="seeddance-2.0",
        inputs={"first_frame": "kf"},
        seed=42,
        job_id="cgt-1",
        submitting_at="2025-01-01T00:00:00+00:00",
        submitted_at="2025-01-01T00:00:01+00:00",
        finished_at="2025-01-01T00:01:00+00:00",
    )
    keyframe = WorkflowStep(step_id="kf", modality="image_t2i")
    keyframe.receipt = GenerationReceipt(
        receipt_id="r1",
        take_id="ONER_001__oner_take_0",
        step_id="kf",
        modality="image_t2i",
        provider="animatic",
        model="previs",
        job_id="anim-1",
        timestamp_utc="2025-01-01T00:00:00+00:00",
        run_result=RunResult(success=True, output_path=str(frame)),
    )
    workflow = Workflow(
        "ONER_001__oner_take_0",
        [keyframe, step],
        {"grouping": identity.to_dict(), "scene_id": "ONER_001", "fallback": None},
    )
    take = beat.new_take(workflow)

    provenance = build_provenance(
        beat,
        take,
        step,
        provider_version="0.1.0",
        cost_usd=0.42,
        provider_metadata={"completion_tokens": 1000},
        project="p",
        episode="ep_001",
    )

    assert provenance.grouping == identity.to_dict()
    assert provenance.shots == ["EP001_SH05"]
    assert (provenance.prompt, provenance.model) == ("walk", "seeddance-2.0")
    assert (provenance.provider, provenance.provider_version) == ("seeddance", "0.1.0")
    assert (provenance.job_id, provenance.seed, provenance.cost_usd) == ("cgt-1", 42, 0.42)
    assert provenance.timings.finished_at == "2025-01-01T00:01:00+00:00"
    assert provenance.scene_id == "ONER_001"
    assert provenance.take_number == 1
    assert provenance.inputs["first_frame"] == InputRecord(
        str(frame), hashlib.sha256(b"png").hexdigest()
    )
    assert provenance.provider_metadata == {"completion_tokens": 1000}
    assert provenance.workflow["scene_id"] == "ONER_001"
    assert find_secret_keys(provenance_document(provenance)) == []
