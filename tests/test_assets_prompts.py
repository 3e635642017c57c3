"""Prompts name who is in the shot with their look, lead first, through the runner's
template; a plan's ``prompt_templates`` overrides it for one runner modality."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recoil_i2v.runner import VideoI2VRunner
from recoil_r2v_multi.runner import R2VMultiRunner

from recoil_core.interfaces import BuildContext
from recoil_core.model import Beat, GroupIdentity, Segment
from recoil_core.plan import load_plan
from recoil_core.testing.plans import plan_dict, write_plan

SHOTS = ("EP001_SH01", "EP001_SH02")


def context(tmp_path: Path, **top: Any) -> BuildContext:
    data = plan_dict(
        {
            "SEQ01": {
                "location": "LOC_DINER",
                "shots": [
                    {
                        "shot_id": SHOTS[0],
                        "characters": ["KAI"],
                        "duration_s": 1,
                        "prompt": "Kai enters.",
                    },
                    {
                        "shot_id": SHOTS[1],
                        "characters": ["MAYA", "KAI"],
                        "duration_s": 4,
                        "prompt": "Maya serves Kai.",
                    },
                ],
            }
        },
        characters={
            "MAYA": {"name": "Maya", "look": "teal uniform"},
            "KAI": {"name": "Kai", "look": "grey raincoat"},
        },
        locations={"LOC_DINER": {"name": "Moonlight Diner", "look": "neon, rain"}},
        **top,
    )
    return BuildContext(
        project="p",
        episode="EP001",
        scene_id="S",
        plan=load_plan(write_plan(tmp_path, data)),
        take_index=0,
        video_provider="v",
        image_provider=None,
    )


def beat(*shot_ids: str) -> Beat:
    identity = GroupIdentity("continuity", 1, shot_ids)
    return Beat("B", "r2v_multi", identity, [Segment(s, 1.0) for s in shot_ids])


def test_the_prompt_names_the_cast_lead_first_with_looks_and_the_location(tmp_path):
    ctx = context(tmp_path)
    unit = Beat("B", "r2v_multi", GroupIdentity("continuity", 1, SHOTS),
                [Segment(SHOTS[0], 1.0), Segment(SHOTS[1], 4.0)])  # fmt: skip

    prompt = R2VMultiRunner().build_workflow(unit, ctx).steps[-1].payload["prompt"]

    assert prompt == (
        "[0-1s] Kai enters. [1-5s] Maya serves Kai. "
        "Kai (grey raincoat); Maya (teal uniform); at Moonlight Diner (neon, rain)."
    )  # Kai is in both shots (5 s), Maya in one (4 s)


def test_a_plan_template_overrides_one_runner_only(tmp_path):
    ctx = context(tmp_path, prompt_templates={"r2v_multi": "Cast: {cast} Action: {prompt}"})
    solo = Beat("B1", "video_i2v", GroupIdentity("solo", 0, (SHOTS[0],)), [Segment(SHOTS[0], 1)])

    r2v = R2VMultiRunner().build_workflow(beat(*SHOTS), ctx).steps[-1].payload["prompt"]
    i2v = VideoI2VRunner().build_workflow(solo, ctx).steps[-1].payload["prompt"]

    assert r2v.startswith("Cast: Kai (grey raincoat); Maya (teal uniform);")
    assert "Action: [0-1s] Kai enters." in r2v
    assert i2v == "Kai enters. Kai (grey raincoat); at Moonlight Diner (neon, rain)."
