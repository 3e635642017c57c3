"""The asset bible offline, end to end: sheets rendered and approved, then every clip of
the run is generated from the approved references (asserted on the requests the provider
received and on the renders' sidecars); approving another sheet re-derives exactly the
scenes that show the asset, with no paid call until they are conformed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from recoil_core.model import TakeState
from recoil_core.plan import load_plan
from recoil_core.runner import RunOptions
from recoil_core.runner.assets import approve, bind_assets, list_assets, sheet_runner
from recoil_core.testing.doubles import Outcome, ScriptedProvider
from recoil_core.testing.harness import RunHarness
from recoil_core.testing.plans import plan_dict, write_plan

PLUGINS = ("filesystem", "grouping", "video", "i2v", "r2v-multi")
LOOKS = {
    "MAYA": "late 20s, teal uniform, pencil in her hair",
    "KAI": "grey raincoat, shaved head",
    "LOC_DINER": "chrome counter, neon, rain on the glass",
    "LOC_ROOF": "gravel roof, humming vents, town lights",
}


def bible_plan(root: Path) -> Path:
    """SH01-03 in the diner (empty, Maya, Kai and Maya), SH04 on the roof (Kai alone), SH05
    back in the diner (Maya alone)."""
    data = plan_dict(
        {
            "SEQ01": {
                "location": "LOC_DINER",
                "shots": [
                    {"shot_id": "EP001_SH01", "is_env_only": True, "prompt": "Empty diner."},
                    {"shot_id": "EP001_SH02", "characters": ["MAYA"], "prompt": "Maya waits."},
                    {
                        "shot_id": "EP001_SH03",
                        "characters": ["KAI", "MAYA"],
                        "duration_s": 2,
                        "prompt": "Kai walks in.",
                    },
                ],
            },
            "SEQ02": {
                "location": "LOC_ROOF",
                "shots": [
                    {"shot_id": "EP001_SH04", "characters": ["KAI"], "prompt": "Kai smokes."},
                ],
            },
            "SEQ03": {
                "location": "LOC_DINER",
                "shots": [
                    {"shot_id": "EP001_SH05", "characters": ["MAYA"], "prompt": "Maya closes."},
                ],
            },
        },
        characters={
            "MAYA": {"name": "Maya", "look": LOOKS["MAYA"]},
            "KAI": {"name": "Kai", "look": LOOKS["KAI"]},
        },
        locations={
            "LOC_DINER": {"name": "Moonlight Diner", "look": LOOKS["LOC_DINER"]},
            "LOC_ROOF": {"name": "Diner rooftop", "look": LOOKS["LOC_ROOF"]},
        },
    )
    return write_plan(root, data)


@pytest.fixture
def provider() -> ScriptedProvider:
    return ScriptedProvider(Outcome(cost_usd=0.25))


@pytest.fixture
def harness(tmp_path: Path, provider: ScriptedProvider) -> RunHarness:
    return RunHarness(tmp_path, provider=provider, estimate=0.25, runners=[], plugins=PLUGINS)


def render_sheets(harness: RunHarness, plan_path: Path, *assets: str, max_takes: int = 1) -> Any:
    runner = sheet_runner(
        load_plan(plan_path),
        registry=harness.registry,
        backend=harness.backend,
        options=RunOptions(provider="scripted", poll_interval_s=0.0, max_takes=max_takes),
        asset_ids=assets,
    )
    return asyncio.run(runner.run())


def approve_all(harness: RunHarness, plan_path: Path) -> dict[str, str]:
    plan = load_plan(plan_path)
    return {a.asset_id: approve(plan, harness.backend, a.asset_id).path for a in plan.assets}


def run_plan(harness: RunHarness, plan_path: Path) -> Any:
    plan = bind_assets(load_plan(plan_path), harness.backend)
    return harness.run(plan)


def test_sheets_are_takes_of_asset_scenes_paid_through_the_ledger(harness, provider, tmp_path):
    plan_path = bible_plan(tmp_path)

    report = render_sheets(harness, plan_path)

    assert report.complete
    assert sorted(s.scene_id for s in report.scenes) == [
        "asset_KAI", "asset_LOC_DINER", "asset_LOC_ROOF", "asset_MAYA"
    ]  # fmt: skip
    assert [r.modality for r in provider.submits] == ["image_t2i"] * 4
    maya = next(r for r in provider.submits if r.payload["shot_id"] == "asset_MAYA")
    assert "Maya" in maya.payload["prompt"] and LOOKS["MAYA"] in maya.payload["prompt"]
    ledger = harness.backend.read_ledger("p", "EP001")
    assert sum(e.amount_usd for e in ledger) == pytest.approx(1.0)
    again = render_sheets(harness, plan_path)  # a rerun pays nothing again
    assert again.complete and provider.created == 4


def test_every_clip_carries_the_approved_references_of_its_cast_and_location(
    harness, provider, tmp_path
):
    plan_path = bible_plan(tmp_path)
    render_sheets(harness, plan_path)
    sheets = approve_all(harness, plan_path)
    provider.submits.clear()

    report = run_plan(harness, plan_path)

    assert report.complete
    sent: dict[str, list[str]] = {}
    for request in provider.submits:
        shots = request.payload.get("shot_ids") or [request.payload.get("shot_id")]
        sent[f"{request.modality}:{'+'.join(shots)}"] = list(
            request.payload.get("reference_images") or []
        )
    diner = sheets["LOC_DINER"]
    # SH01-03 are one r2v clip: Maya (7 s on screen) before Kai (2 s), then the diner
    assert sent["r2v_multi:EP001_SH01+EP001_SH02+EP001_SH03"] == [
        sheets["MAYA"], sheets["KAI"], diner
    ]  # fmt: skip
    # SH04 is image to video: Seedance takes no references beside a first frame, so they
    # shape the keyframe that opens the clip
    assert sent["image_t2i:EP001_SH04"] == [sheets["KAI"], sheets["LOC_ROOF"]]
    assert sent["video_i2v:EP001_SH04"] == []
    video = [r for r in provider.submits if r.modality != "image_t2i"]
    assert all(LOOKS["LOC_DINER"] in r.payload["prompt"] or LOOKS["LOC_ROOF"] in
               r.payload["prompt"] for r in video)  # fmt: skip
    r2v = next(r for r in video if r.modality == "r2v_multi")
    assert f"Maya ({LOOKS['MAYA']}); Kai ({LOOKS['KAI']})" in r2v.payload["prompt"]


def test_sidecars_name_the_assets_and_sheet_versions_each_render_used(harness, tmp_path):
    plan_path = bible_plan(tmp_path)
    render_sheets(harness, plan_path)
    sheets = approve_all(harness, plan_path)

    run_plan(harness, plan_path)

    sidecars = {
        p.name: json.loads(p.read_text())["provenance"]
        for p in harness.projects_root.rglob("*.json")
        if p.parent.name == "renders" and "_asset_" not in p.name
    }
    r2v = next(s for s in sidecars.values() if s["modality"] == "r2v_multi")
    used = {a["asset_id"]: (a["take_id"], a["version"]) for a in r2v["workflow"]["assets"]}
    assert used == {
        "MAYA": ("asset_MAYA_take_0", 1),
        "KAI": ("asset_KAI_take_0", 1),
        "LOC_DINER": ("asset_LOC_DINER_take_0", 1),
    }
    inputs = [r2v["inputs"][f"reference_image_{n}"]["path"] for n in (1, 2, 3)]
    assert inputs == [sheets["MAYA"], sheets["KAI"], sheets["LOC_DINER"]]
    assert r2v["workflow"]["references_dropped"] == []


def test_approving_a_sheet_stages_candidates_only_for_scenes_showing_the_asset(
    harness, provider, tmp_path
):
    plan_path = bible_plan(tmp_path)
    render_sheets(harness, plan_path)
    plan = load_plan(plan_path)
    for asset_id in ("MAYA", "LOC_DINER", "LOC_ROOF"):
        approve(plan, harness.backend, asset_id)
    assert run_plan(harness, plan_path).complete
    created = provider.created

    approved = approve(plan, harness.backend, "KAI")
    report = run_plan(harness, plan_path)

    assert approved.take_id == "asset_KAI_take_0"
    assert provider.created == created  # nothing is paid until a candidate is conformed
    staged = {n.split(":")[0].removeprefix("scene ") for n in report.notices
              if "candidate version" in n}  # fmt: skip
    shots = {s.scene_id: {sid for b in s.beats for sid in b.shot_ids} for s in report.scenes}
    kai_scenes = {scene for scene, ids in shots.items() if ids & {"EP001_SH03", "EP001_SH04"}}
    others = set(shots) - kai_scenes
    assert staged == kai_scenes and len(kai_scenes) == 2 and len(others) == 1
    assert all("recoil rederive --conform" in n for n in report.notices if "candidate" in n)
    for scene_id in kai_scenes:
        manifest = harness.backend.load_manifest("p", "EP001", scene_id)
        assert manifest is not None and manifest.active_version == 1
        assert [e.version for e in manifest.candidates()] == [2]
        active = harness.backend.load_active("p", "EP001", scene_id)
        assert active is not None
        takes = [t for beat in active[0].beats for t in beat.takes]
        assert takes and all(t.state is TakeState.SUCCEEDED for t in takes)
    for scene_id in others:
        manifest = harness.backend.load_manifest("p", "EP001", scene_id)
        assert manifest is not None and manifest.candidates() == []

    harness.backend.conform("p", "EP001", sorted(kai_scenes)[0], 2)
    conformed = run_plan(harness, plan_path)  # the conformed scene renders, with Kai's sheet

    assert conformed.complete and provider.created > created
    new = provider.submits[-1]
    assert approved.path in (new.payload.get("reference_images") or [])


def test_list_shows_each_asset_its_takes_the_approved_one_and_cost(harness, tmp_path):
    plan_path = bible_plan(tmp_path)
    render_sheets(harness, plan_path)
    approve(load_plan(plan_path), harness.backend, "MAYA")

    entries = {
        e.asset.asset_id: e.to_dict() for e in list_assets(load_plan(plan_path), harness.backend)
    }

    assert entries["MAYA"]["status"] == "approved"
    assert entries["MAYA"]["approved"]["take_id"] == "asset_MAYA_take_0"
    assert entries["KAI"]["status"] == "rendered" and entries["KAI"]["approved"] is None
    assert entries["KAI"]["cost_usd"] == 0.25
    assert [t["state"] for t in entries["KAI"]["takes"]] == ["succeeded"]


def test_editing_a_look_stages_candidates_only_for_scenes_showing_the_asset(
    harness, provider, tmp_path
):
    plan_path = bible_plan(tmp_path)
    assert run_plan(harness, plan_path).complete
    created = provider.created
    data = json.loads(plan_path.read_text())
    data["characters"]["MAYA"]["look"] = "40s, red uniform"
    plan_path.write_text(json.dumps(data))

    report = run_plan(harness, plan_path)

    assert provider.created == created
    staged = {
        n.split(":")[0].removeprefix("scene ") for n in report.notices if "candidate version" in n
    }
    shots = {s.scene_id: {sid for b in s.beats for sid in b.shot_ids} for s in report.scenes}
    maya_scenes = {s for s, ids in shots.items() if ids & {"EP001_SH02", "EP001_SH05"}}
    assert staged == maya_scenes and len(maya_scenes) == 2
