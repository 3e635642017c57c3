"""Assets in the plan: characters and locations load as typed values with their look and
studio-supplied references (files relative to the plan, or URLs); prompt templates too."""

from __future__ import annotations

from pathlib import Path

import pytest

from recoil_core.errors import PlanError
from recoil_core.model import AssetKind
from recoil_core.plan import load_plan
from recoil_core.testing.plans import plan_dict, write_plan


def plan_with(tmp_path: Path, **top: object) -> Path:
    data = plan_dict({"SEQ01": {"location": "LOC_A", "shots": [{"shot_id": "EP001_SH01"}]}})
    data["locations"] = {"LOC_A": {"name": "Alley"}}
    data.update(top)
    return write_plan(tmp_path, data)


def test_characters_and_locations_reach_the_plan_as_assets_with_look_and_references(tmp_path):
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "maya.png").write_bytes(b"png")
    path = plan_with(
        tmp_path,
        characters={
            "MAYA": {
                "name": "Maya",
                "look": "teal uniform",
                "reference_images": ["refs/maya.png", "https://example.com/maya2.png"],
            }
        },
        prompt_templates={"r2v_multi": "{cast} {prompt}"},
    )

    plan = load_plan(path)

    maya = plan.asset("MAYA")
    assert maya is not None and maya.kind is AssetKind.CHARACTER and maya.look == "teal uniform"
    assert maya.reference_images == (
        str((tmp_path / "refs" / "maya.png").resolve()),
        "https://example.com/maya2.png",
    )
    assert maya.references == maya.reference_images and maya.studio_supplied
    alley = plan.asset("LOC_A")
    assert alley is not None and alley.kind is AssetKind.LOCATION and not alley.has_reference
    assert [a.asset_id for a in plan.assets] == ["MAYA", "LOC_A"]
    assert plan.prompt_templates == {"r2v_multi": "{cast} {prompt}"}


def test_a_missing_reference_file_or_a_repeated_one_is_a_plan_problem(tmp_path):
    path = plan_with(
        tmp_path,
        characters={
            "MAYA": {"reference_images": ["nope.png"]},
            "KAI": {"reference_images": ["https://e.com/k.png", "https://e.com/k.png"]},
        },
    )

    with pytest.raises(PlanError) as caught:
        load_plan(path)

    problems = {issue.location: issue.message for issue in caught.value.issues}
    assert "file not found" in problems["characters.MAYA.reference_images[0]"]
    assert "listed twice" in problems["characters.KAI.reference_images[1]"]


def test_a_plan_without_looks_or_references_keeps_its_scene_digests(tmp_path):
    """Declared assets that change no render leave the derivation digests as they were."""
    from recoil_core.model import GroupIdentity, RenderUnit, Segment
    from recoil_core.runner.planning import unit_assets

    plan = load_plan(plan_with(tmp_path, characters={"MAYA": {"name": "Maya"}}))
    unit = RenderUnit(
        "U", GroupIdentity("solo", 0, ("EP001_SH01",)), "video_i2v", (Segment("EP001_SH01", 5),)
    )

    assert unit_assets(unit, plan) == []
