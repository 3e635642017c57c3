"""``recoil assets`` and ``recoil run --require-approved-assets`` as real subprocesses on
the example episode with the offline animatic provider."""

from __future__ import annotations

import json
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ep001" / "plan.json"
ASSETS = ["MAYA", "DEV", "STRANGER", "LOC_DINER", "LOC_PARKING_LOT", "LOC_ALLEY", "LOC_ROOFTOP"]


def test_run_refuses_before_reserving_while_an_asset_has_no_approved_reference(
    recoil_cli, tmp_path
):
    refused = recoil_cli("run", str(EXAMPLE), "--require-approved-assets")

    assert refused.returncode == 8, refused.stderr
    assert "without an approved reference: MAYA, DEV, STRANGER" in refused.stderr
    assert "recoil assets approve" in refused.stderr
    assert not (tmp_path / "projects").exists() or not list((tmp_path / "projects").rglob("*.json"))


def test_render_approve_then_run_builds_every_clip_from_the_approved_sheets(recoil_cli, tmp_path):
    rendered = recoil_cli("assets", "render", str(EXAMPLE))
    assert rendered.returncode == 0, rendered.stderr
    for asset in ASSETS:
        approved = recoil_cli("assets", "approve", str(EXAMPLE), asset, "--json")
        assert approved.returncode == 0, approved.stderr
        assert json.loads(approved.stdout)["take_id"] == f"asset_{asset}_take_0"
    listed = json.loads(recoil_cli("assets", "list", str(EXAMPLE), "--json").stdout)
    sheets = {a["asset_id"]: a["approved"]["path"] for a in listed["assets"]}
    assert {a["status"] for a in listed["assets"]} == {"approved"}

    run = recoil_cli("run", str(EXAMPLE), "--require-approved-assets", "--json")

    assert run.returncode == 0, run.stderr
    renders = tmp_path / "projects" / "nightshift" / "EP001" / "renders"
    clips = [json.loads(p.read_text())["provenance"] for p in renders.glob("*.mp4.json")]
    assert len(clips) == 7
    for clip in clips:
        used = {a["asset_id"] for a in clip["workflow"]["assets"]}
        assert used, clip["take_id"]
        inputs = {record["path"] for record in clip["inputs"].values()}
        keyframe = clip["workflow"]["keyframes"] == "generated"
        if not keyframe:  # the approved sheets went with the clip's own request
            assert {sheets[a] for a in used} <= inputs, clip["take_id"]
    keyframes = [json.loads(p.read_text())["provenance"] for p in renders.glob("*_kf.png.json")]
    for card in keyframes:  # an image-to-video clip's references shape its opening frame
        inputs = {record["path"] for record in card["inputs"].values()}
        assert inputs and inputs <= set(sheets.values()), card["take_id"]
