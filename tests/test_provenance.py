"""Provenance is a typed value the one converter writes: the sidecar keeps its keys, and
what it holds reads back as the same value."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import attrs

from recoil_core.convert import converter
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
    OutputRecord,
    Provenance,
    Timings,
    build_provenance,
    provenance_document,
    write_render,
)

NAME = "EP001_ONER_001_SH05_take1.mp4"

SIDECAR_KEYS = ["bytes", "kind", "provenance", "render", "schema_version", "sha256"]
PROVENANCE_KEYS = [
    "grouping",
    "project",
    "episode",
    "scene_id",
    "beat_id",
    "take_id",
    "take_number",
    "step_id",
    "modality",
    "shots",
    "prompt",
    "model",
    "provider",
    "provider_version",
    "job_id",
    "seed",
    "cost_usd",
    "timings",
    "fallback",
    "generation_config",
    "inputs",
    "workflow",
    "provider_metadata",
]


def finished_step(tmp_path: Path) -> tuple[Beat, Workflow, WorkflowStep, Path]:
    """A two-step take (keyframe, video) whose video step finished; returns the keyframe."""
    frame = tmp_path / "kf.png"
    frame.write_bytes(b"png")
    identity = GroupIdentity("oner", 1, ("EP001_SH05",))
    beat = Beat(
        beat_id="ONER_001__oner",
        grouping=identity,
        segments=[Segment("EP001_SH05", 4.0, "walk")],
        generation_config={"tier": "pro"},
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
    video = WorkflowStep(
        step_id="video",
        modality="video_i2v",
        payload={
            "prompt": "walk",
            "shot_ids": ["EP001_SH05"],
            "reference_images": ["https://example.test/ref.png"],
        },
        provider="seeddance",
        model="seeddance-2.0",
        inputs={"first_frame": "kf"},
        seed=42,
        job_id="cgt-1",
        submitting_at="2025-01-01T00:00:00+00:00",
        finished_at="2025-01-01T00:01:00+00:00",
    )
    workflow = Workflow(
        "ONER_001__oner_take_0",
        [keyframe, video],
        {"grouping": identity.to_dict(), "scene_id": "ONER_001", "fallback": None},
    )
    return beat, workflow, video, frame


def test_the_built_provenance_has_typed_parts(tmp_path: Path) -> None:
    beat, workflow, video, frame = finished_step(tmp_path)
    take = beat.new_take(workflow)

    provenance = build_provenance(beat, take, video, cost_usd=0.42, project="p", episode="e")

    assert provenance.timings == Timings(
        "2025-01-01T00:00:00+00:00", None, "2025-01-01T00:01:00+00:00"
    )
    assert provenance.inputs == {
        "reference_image_1": InputRecord("https://example.test/ref.png", None),
        "first_frame": InputRecord(str(frame), hashlib.sha256(b"png").hexdigest()),
    }
    assert provenance.output is None


def test_provenance_reads_back_from_its_json_as_the_same_value(tmp_path: Path) -> None:
    beat, workflow, video, _frame = finished_step(tmp_path)
    take = beat.new_take(workflow)
    provenance = build_provenance(
        beat, take, video, provider_metadata={"usage": {"total_tokens": 9}}, project="p"
    )
    written = attrs.evolve(provenance, output=OutputRecord(NAME, "ab", 3))

    encoded = json.loads(json.dumps(converter.unstructure(written)))

    assert converter.structure(encoded, Provenance) == written


def test_extra_keys_are_written_at_the_top_level_and_read_back_as_extra(
    tmp_path: Path,
) -> None:
    beat, workflow, video, _frame = finished_step(tmp_path)
    take = beat.new_take(workflow)

    provenance = build_provenance(
        beat, take, video, extra={"review": {"by": "dp"}, "prompt": "walk, slower"}
    )

    assert provenance.prompt == "walk, slower"  # a key naming a field replaces it
    assert provenance.extra == {"review": {"by": "dp"}}
    document = provenance_document(provenance)
    assert list(document) == [*PROVENANCE_KEYS, "review"]
    assert converter.structure(document, Provenance) == provenance


def test_the_sidecar_keeps_its_keys_and_records_the_output(tmp_path: Path) -> None:
    beat, workflow, video, _frame = finished_step(tmp_path)
    take = beat.new_take(workflow)
    media = tmp_path / "video.part"
    media.write_bytes(b"video")
    provenance = build_provenance(beat, take, video, project="p", episode="e")

    record = write_render(tmp_path / "renders", NAME, media, provenance)

    raw = record.sidecar_path.read_bytes()
    sidecar = json.loads(raw)
    assert list(sidecar) == SIDECAR_KEYS  # written with sorted keys
    assert list(sidecar["provenance"]) == sorted([*PROVENANCE_KEYS, "output"])
    assert sidecar["provenance"]["timings"] == {
        "finished_at": "2025-01-01T00:01:00+00:00",
        "submitted_at": None,
        "submitting_at": "2025-01-01T00:00:00+00:00",
    }
    assert sidecar["provenance"]["output"] == {
        "bytes": 5,
        "name": NAME,
        "sha256": hashlib.sha256(b"video").hexdigest(),
    }
    assert sidecar["provenance"]["shots"] == ["EP001_SH05"]
    assert raw.endswith(b"}\n") and b"\n" not in raw[:-1]  # one compact line
    read_back = converter.structure(sidecar["provenance"], Provenance)
    assert read_back.output == OutputRecord(NAME, record.sha256, 5)
    assert read_back.grouping == beat.grouping.to_dict()  # type: ignore[union-attr]
