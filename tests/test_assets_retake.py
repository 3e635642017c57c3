"""A new sheet for one character against the fake Ark: the retake is one more paid take
beside the approved one (which stays as it was), rendering again pays nothing, and
approving the new sheet stages candidate versions for exactly the scenes that show the
character, with no create at Ark until one is conformed; the conformed scene's clip is
then sent with the new sheet. Sheets are made by the ``ark-sheets`` stand-in
(``tests/support/ark_sheets.py``) so each is a paid Ark task; every request checked is one
the fake Ark received."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ark_sheets
import pytest
from ark_money import PLUGINS, SENTINEL_KEY, check_money, filesystem
from ark_sheets import RecordingArk, references_sent, sha256
from recoil_seeddance.testing.fake_ark import FakeArkServer

from recoil_core.model import TakeState
from recoil_core.plan import load_plan
from recoil_core.registry import Registry, build_registry
from recoil_core.runner import EpisodeRunner, RunOptions
from recoil_core.runner.assets import approve, bind_assets, list_assets, sheet_runner
from recoil_core.selection import request_retake
from recoil_core.settings import PluginSelection
from recoil_core.testing.plans import plan_dict, write_plan

PROJECT, EPISODE = "p", "EP001"


@pytest.fixture
def ark() -> Iterator[RecordingArk]:
    with RecordingArk(api_key=SENTINEL_KEY) as server:
        yield server


@pytest.fixture
def registry() -> Registry:
    return build_registry(
        PluginSelection(load_only=(*PLUGINS, ark_sheets.NAME)),
        extra=[(ark_sheets.NAME, ark_sheets.plugin)],
    )


def cast_plan(root: Path) -> Path:
    """Maya in SH01 and SH04, Kai in SH02; SH03 an empty roof: four scenes (continuity)."""
    return write_plan(
        root,
        plan_dict(
            {
                "SEQ01": {
                    "location": "LOC_DINER",
                    "shots": [{"shot_id": "EP001_SH01", "characters": ["MAYA"]}],
                },
                "SEQ02": {
                    "location": "LOC_DINER",
                    "shots": [{"shot_id": "EP001_SH02", "characters": ["KAI"]}],
                },
                "SEQ03": {
                    "location": "LOC_ROOF",
                    "shots": [{"shot_id": "EP001_SH03", "is_env_only": True}],
                },
                "SEQ04": {
                    "location": "LOC_ROOF",
                    "shots": [{"shot_id": "EP001_SH04", "characters": ["MAYA"]}],
                },
            },
            defaults={"previs_model": ark_sheets.SHEET_MODEL},
            characters={
                "MAYA": {"name": "Maya", "look": "teal uniform"},
                "KAI": {"name": "Kai", "look": "grey raincoat"},
            },
            locations={
                "LOC_DINER": {"name": "Diner", "look": "neon"},
                "LOC_ROOF": {"name": "Roof", "look": "gravel"},
            },
        ),
    )


def env_of(ark: FakeArkServer) -> dict[str, str]:
    return {"ARK_API_KEY": ark.api_key, "ARK_BASE_URL": ark.base_url}


def sheets(plan: Any, registry: Registry, backend: Any, ark: FakeArkServer, *ids: str, takes=1):
    options = RunOptions(
        provider="seeddance", image_provider=ark_sheets.NAME, poll_interval_s=0.0, max_takes=takes
    )
    runner = sheet_runner(
        plan, registry=registry, backend=backend, options=options, asset_ids=ids, env=env_of(ark)
    )
    return asyncio.run(runner.run())


def run(plan_path: Path, registry: Registry, backend: Any, ark: FakeArkServer) -> Any:
    plan = bind_assets(load_plan(plan_path), backend)
    runner = EpisodeRunner(
        plan,
        registry=registry,
        backend=backend,
        options=RunOptions(provider="seeddance", poll_interval_s=0.0),
        env=env_of(ark),
    )
    return asyncio.run(runner.run())


def test_a_new_sheet_is_a_retake_beside_the_approved_one_staged_for_its_scenes_only(
    ark, registry, tmp_path
):
    plan_path = cast_plan(tmp_path / "plan")
    plan = load_plan(plan_path)
    backend = filesystem(registry, tmp_path / "projects")
    assert sheets(plan, registry, backend, ark).complete
    first = {a.asset_id: approve(plan, backend, a.asset_id) for a in plan.assets}
    old_maya = Path(first["MAYA"].path).read_bytes()
    report = run(plan_path, registry, backend, ark)
    assert report.complete
    shots = {s.scene_id: {i for b in s.beats for i in b.shot_ids} for s in report.scenes}
    maya_scenes = {s for s, ids in shots.items() if ids & {"EP001_SH01", "EP001_SH04"}}
    assert len(maya_scenes) == 2 and len(shots) == 4
    creates = ark.creates_total

    again = sheets(plan, registry, backend, ark, "MAYA")  # rendering again makes nothing
    assert again.complete and ark.creates_total == creates

    request_retake(backend, PROJECT, EPISODE, "asset_MAYA", "asset_MAYA", by="ana")
    retake = sheets(plan, registry, backend, ark, "MAYA", takes=2)

    assert retake.complete and ark.creates_total == creates + 1  # one new paid sheet
    (maya,) = [e for e in list_assets(plan, backend) if e.asset.asset_id == "MAYA"]
    assert [(t.take_id, t.state) for t in maya.takes] == [
        ("asset_MAYA_take_0", "succeeded"),
        ("asset_MAYA_take_1", "succeeded"),
    ]
    assert maya.approved == first["MAYA"]  # the approved sheet is untouched
    assert Path(first["MAYA"].path).read_bytes() == old_maya
    new_sheet = maya.takes[1].render_path
    assert new_sheet and new_sheet != first["MAYA"].path

    approve(plan, backend, "MAYA", take=1)
    staged = run(plan_path, registry, backend, ark)

    assert ark.creates_total == creates + 1  # no paid call until a candidate is conformed
    said = {n.split(":")[0].removeprefix("scene ") for n in staged.notices if "candidate" in n}
    assert said == maya_scenes
    for scene_id in shots:
        manifest = backend.load_manifest(PROJECT, EPISODE, scene_id)
        assert manifest is not None and manifest.active_version == 1
        assert [e.version for e in manifest.candidates()] == ([2] if scene_id in maya_scenes
                                                              else [])  # fmt: skip
        active = backend.load_active(PROJECT, EPISODE, scene_id)
        assert active is not None
        assert all(t.state is TakeState.SUCCEEDED for b in active[0].beats for t in b.takes)

    conformed = sorted(maya_scenes)[0]
    backend.conform(PROJECT, EPISODE, conformed, 2)
    before = set(ark.bodies)
    assert run(plan_path, registry, backend, ark).complete

    new = [ark.bodies[t] for t in sorted(set(ark.bodies) - before)]
    assert len(new) == 1  # the conformed scene's clip, nothing else
    sent = references_sent(new[0])
    assert sha256(Path(new_sheet).read_bytes()) in sent and sha256(old_maya) not in sent
    counts = check_money(ark, backend, PROJECT, EPISODE)
    assert counts.duplicates == 0 and counts.ledger_usd == pytest.approx(counts.billed_usd)
