"""Asset references within a provider's limits, against the fake Ark: a unit showing 12
characters sends at most 9 references and never mixes them with first/last frames (the
Seedance client refuses more than 9 before sending, the fake Ark refuses a mix with a 400;
the test also reads the creates Ark received), the lead characters first; what was dropped
is said in the workflow provenance. Sheets paid on Ark and interrupted are resumed, never
paid twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ark_money import PLUGINS, SENTINEL_KEY, check_money, filesystem, persisted_scenes
from ark_sheets import RecordingArk, references_sent, roles_sent, sha256
from PIL import Image
from recoil_i2v.runner import VideoI2VRunner
from recoil_seeddance.estimate import estimate_step_usd
from recoil_seeddance.provider import create_provider
from recoil_seeddance.testing.fake_ark import FakeArkServer

from recoil_core.interfaces import (
    BuildContext,
    CostEstimator,
    ProviderLimits,
    ProviderSpec,
)
from recoil_core.model import Beat, GroupIdentity, Segment, TakeState
from recoil_core.plan import load_plan
from recoil_core.registry import Registry, build_registry
from recoil_core.runner import EpisodeRunner, RunOptions
from recoil_core.runner.assets import sheet_runner
from recoil_core.settings import PluginSelection
from recoil_core.testing.doubles import make_plugin
from recoil_core.testing.plans import plan_dict, write_plan

PROJECT, EPISODE = "p", "EP001"
CAST = [f"C{n:02d}" for n in range(1, 13)]
ARK_SHEETS = "ark-sheets"
"""A provider making reference sheets with the real Ark client (a test stand-in: Ark
itself makes no images), so sheet takes are paid and billed by the fake Ark."""


@pytest.fixture
def ark() -> Iterator[RecordingArk]:
    with RecordingArk(api_key=SENTINEL_KEY) as server:
        yield server


def ark_sheets_plugin() -> object:
    spec = ProviderSpec(
        name=ARK_SHEETS,
        modalities=frozenset({"image_t2i"}),
        factory=create_provider,
        limits=ProviderLimits(concurrency=4, poll_interval_s=0.0),
        can_find_by_request=True,
        cancellable_states=frozenset({"queued"}),
    )
    return make_plugin(providers=[spec], estimators=[CostEstimator(ARK_SHEETS, estimate_step_usd)])


@pytest.fixture
def registry() -> Registry:
    return build_registry(
        PluginSelection(load_only=(*PLUGINS, ARK_SHEETS)),
        extra=[(ARK_SHEETS, ark_sheets_plugin())],
    )


def env_of(ark: FakeArkServer) -> dict[str, str]:
    return {"ARK_API_KEY": ark.api_key, "ARK_BASE_URL": ark.base_url}


def image(path: Path) -> str:
    Image.new("RGB", (16, 16), (len(path.name) * 9 % 255, 40, 90)).save(path)
    return path.name


def crowd_plan(root: Path) -> Path:
    """SH01-02 at the station (one r2v unit): C01-C06 for 2 s, then C05-C12 for 4 s, so
    C05 and C06 lead (6 s), then C07-C12 (4 s), then C01-C04 (2 s). SH03 on the platform
    (an i2v unit) opens on a plan first frame with all twelve."""
    root.mkdir(parents=True, exist_ok=True)
    characters = {
        c: {"name": c, "look": f"look of {c}", "reference_images": [image(root / f"{c}.png")]}
        for c in CAST
    }
    station = {"name": "Station", "reference_images": [image(root / "station.png")]}
    platform = {"name": "Platform", "reference_images": [image(root / "platform.png")]}
    data = plan_dict(
        {
            "SEQ01": {
                "location": "LOC_STATION",
                "shots": [
                    {"shot_id": "EP001_SH01", "duration_s": 2, "characters": CAST[:6]},
                    {"shot_id": "EP001_SH02", "duration_s": 4, "characters": CAST[4:]},
                ],
            },
            "SEQ02": {
                "location": "LOC_PLATFORM",
                "shots": [
                    {
                        "shot_id": "EP001_SH03",
                        "characters": CAST,
                        "frames": {"first_frame": image(root / "first.png")},
                    }
                ],
            },
        },
        characters=characters,
        locations={"LOC_STATION": station, "LOC_PLATFORM": platform},
    )
    return write_plan(root, data)


def run(plan: Any, registry: Registry, backend: Any, env: dict[str, str], **options: Any) -> Any:
    options.setdefault("poll_interval_s", 0.0)
    runner = EpisodeRunner(
        plan, registry=registry, backend=backend, options=RunOptions(**options), env=env
    )
    return asyncio.run(runner.run())


def test_twelve_characters_send_nine_references_lead_first_and_never_beside_frames(
    ark, registry, tmp_path
):
    plan_path = crowd_plan(tmp_path / "plan")
    backend = filesystem(registry, tmp_path / "projects")

    report = run(load_plan(plan_path), registry, backend, env_of(ark), provider="seeddance")

    assert report.complete  # > 9 references or frames beside them would fail a take
    workflows = {
        beat.modality: take.workflow
        for scene in persisted_scenes(backend, PROJECT, EPISODE)
        for beat in scene.beats
        for take in beat.takes
    }
    r2v = workflows["r2v_multi"].steps[-1].payload
    names = [Path(p).stem for p in r2v["reference_images"]]
    assert names == ["C05", "C06", "C07", "C08", "C09", "C10", "C11", "C12", "C01"]
    dropped = workflows["r2v_multi"].provenance["references_dropped"]
    assert [d["asset"] for d in dropped] == ["C02", "C03", "C04", "LOC_STATION"]
    assert all("at most 9 reference images" in d["reason"] for d in dropped)

    i2v = workflows["video_i2v"]
    assert "reference_images" not in i2v.steps[-1].payload
    assert i2v.steps[-1].payload["first_frame"].endswith("first.png")
    reasons = {d["reason"] for d in i2v.provenance["references_dropped"]}
    assert any("no reference images beside first/last frames" in r for r in reasons)
    assert len(i2v.provenance["references_dropped"]) == 13
    # what Ark received: the r2v clip with the nine leads' sheets and no frame, the i2v clip
    # with the plan's first frame and no reference
    files = {p.stem: sha256(p.read_bytes()) for p in (tmp_path / "plan").glob("*.png")}
    bodies = {i: ark.bodies[s.job_id] for i, s in enumerate(
        [workflows["r2v_multi"].steps[-1], i2v.steps[-1]])}  # fmt: skip
    assert roles_sent(bodies[0]) == ["reference_image"] * 9
    assert references_sent(bodies[0]) == [files[n] for n in names]
    assert roles_sent(bodies[1]) == ["first_frame"]
    assert references_sent(bodies[1], "first_frame") == [files["first"]]
    check_money(ark, backend, PROJECT, EPISODE)


def build_i2v(plan_path: Path, capabilities: dict[str, Any]) -> Any:
    plan = load_plan(plan_path)
    identity = GroupIdentity("solo", 0, ("EP001_SH03",))
    beat = Beat("SH03", "video_i2v", identity, [Segment("EP001_SH03", 5.0)])
    ctx = BuildContext(
        project=PROJECT,
        episode=EPISODE,
        scene_id="S",
        plan=plan,
        take_index=0,
        video_provider="v",
        image_provider=None,
        settings={"model_capabilities": {"seeddance-2.0": capabilities}},
    )
    return VideoI2VRunner().build_workflow(beat, ctx)


def test_a_model_declared_to_take_frames_and_references_gets_both_within_its_limit(tmp_path):
    workflow = build_i2v(
        crowd_plan(tmp_path), {"max_reference_images": 4, "frames_with_references": True}
    )

    payload = workflow.steps[-1].payload
    assert payload["first_frame"].endswith("first.png")
    assert [Path(p).stem for p in payload["reference_images"]] == ["C01", "C02", "C03", "C04"]
    dropped = workflow.provenance["references_dropped"]
    assert len(dropped) == 9 and all("at most 4" in d["reason"] for d in dropped)


def test_sheets_interrupted_at_ark_are_resumed_never_paid_twice(ark, registry, tmp_path):
    data = plan_dict(
        {"SEQ11": {"location": "LOC_DINER", "shots": [{"shot_id": "EP001_SH01"}]}},
        defaults={"previs_model": "seeddance-2.0"},
        characters={"MAYA": {"name": "Maya", "look": "teal uniform"}},
        locations={"LOC_DINER": {"name": "Diner", "look": "neon"}},
    )
    plan = load_plan(write_plan(tmp_path, data))
    backend = filesystem(registry, tmp_path / "projects")
    options = RunOptions(provider=ARK_SHEETS, poll_interval_s=0.0, job_timeout_s=0.3)
    ark.set(never_finish=True)  # the run stops waiting; running tasks cannot be cancelled

    first = asyncio.run(
        sheet_runner(
            plan, registry=registry, backend=backend, options=options, env=env_of(ark)
        ).run()
    )

    assert not first.complete and ark.creates_total == 2
    takes = [t for s in persisted_scenes(backend, PROJECT, EPISODE) for b in s.beats
             for t in b.takes]  # fmt: skip
    assert {t.state for t in takes} == {TakeState.SUBMITTED}
    ark.set(never_finish=False)

    again = asyncio.run(
        sheet_runner(
            plan, registry=registry, backend=backend, options=options, env=env_of(ark)
        ).run()
    )

    assert again.complete and ark.creates_total == 2
    counts = check_money(ark, backend, PROJECT, EPISODE)
    assert counts.succeeded == 2 and counts.duplicates == 0
    assert counts.ledger_usd == pytest.approx(counts.billed_usd) and counts.billed_usd > 0


def test_runners_get_the_limits_the_run_provider_declares(tmp_path):
    """The kernel hands runners what the run's video provider declares for the model: a
    provider declaring 3 references and frame mixing gets exactly that, with no settings."""
    from recoil_core.interfaces import Durations, ModelCapabilities
    from recoil_core.runner.workflows import build_workflow

    narrow = ProviderSpec(
        name="narrow",
        modalities=frozenset({"video_i2v", "r2v_multi", "image_t2i"}),
        factory=create_provider,
        model_capabilities={
            "seeddance-2.0": ModelCapabilities(
                durations=Durations.range(1, 15, 1),
                max_reference_images=3,
                frames_with_references=True,
            )
        },
    )
    registry = build_registry(
        PluginSelection(load_only=(*PLUGINS, "narrow")),
        extra=[("narrow", make_plugin(providers=[narrow]))],
    )
    plan = load_plan(crowd_plan(tmp_path))
    identity = GroupIdentity("solo", 0, ("EP001_SH03",))
    beat = Beat("SH03", "video_i2v", identity, [Segment("EP001_SH03", 5.0)])

    workflow = build_workflow(
        registry,
        beat,
        plan=plan,
        scene_id="S",
        take_index=0,
        video_provider="narrow",
        image_provider=None,
    )

    payload = workflow.steps[-1].payload
    assert payload["first_frame"].endswith("first.png")
    assert [Path(p).stem for p in payload["reference_images"]] == ["C01", "C02", "C03"]
    dropped = workflow.provenance["references_dropped"]
    assert all("at most 3" in d["reason"] for d in dropped)
