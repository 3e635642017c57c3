"""``recoil status``'s two read paths give the same report: the filesystem backend's light
one (``load_status_documents``: decoded documents, summarised without structuring whole
scenes) and the full one any backend has (``load_manifest`` then ``load_scene``); and a
scene whose inputs changed (an asset's look edited) shows as stale, with why and how to
conform it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from recoil_core.cli.status import _print_status
from recoil_core.model import StepState, TakeState
from recoil_core.persistence.filesystem import FilesystemBackend
from recoil_core.plan import load_plan
from recoil_core.runner import queries
from recoil_core.runner.assets import bind_assets
from recoil_core.selection import approve
from recoil_core.testing.conformance import EPISODE, PROJECT, coverage_scene, solo_scene
from recoil_core.testing.doubles import Outcome, ScriptedProvider, Without
from recoil_core.testing.harness import RunHarness
from recoil_core.testing.plans import plan_dict, write_plan


class CountingBackend(FilesystemBackend):
    """Counts whole-scene loads."""

    loads = 0

    def load_scene(self, *args: Any, **kwargs: Any) -> Any:
        CountingBackend.loads += 1
        return super().load_scene(*args, **kwargs)


def varied_episode(backend: FilesystemBackend) -> None:
    """Scenes whose takes are in every state status words differently, a staged candidate
    and a review mark."""
    scene = coverage_scene("PASS_A")
    beat = scene.beats[0]
    done = beat.takes[0]
    for state, step_state, extra in (
        (TakeState.SUBMITTED, StepState.SUBMITTED, {}),
        (TakeState.UNKNOWN, StepState.UNKNOWN, {"attention": "create may have reached Ark"}),
        (TakeState.FAILED, StepState.FAILED, {"error": "content filter"}),
        (TakeState.FAILED_BUT_BILLED, StepState.FAILED_BUT_BILLED, {"cost_usd": 1}),
        (TakeState.SUBMITTING, StepState.SUBMITTING, {}),
        (TakeState.PLANNED, StepState.PLANNED, {}),
    ):
        take = beat.new_take(done.workflow.copy())
        take.state = state
        take.workflow.steps[0].state = step_state
        take.workflow.steps[0].job_id = None if state is TakeState.PLANNED else f"job-{state}"
        take.render_path = None
        for name, value in extra.items():
            setattr(take, name, value)
    backend.create_scene(PROJECT, EPISODE, scene)
    backend.create_scene(PROJECT, EPISODE, solo_scene("SOLO_1", ["EP001_SH03", "EP001_SH04"]))
    backend.create_scene(PROJECT, EPISODE, coverage_scene("PASS_B"))
    changed = coverage_scene("PASS_B", with_take=False)
    changed.beats[0].generation_config["seed"] = 99
    changed.beats[0].metadata["digest"] = "other"
    backend.stage_candidate(PROJECT, EPISODE, changed, note="inputs changed")
    approve(backend, PROJECT, EPISODE, "PASS_A", beat.beat_id, by="ben")


def test_the_light_read_path_gives_the_full_paths_report(tmp_path: Path) -> None:
    backend = CountingBackend(tmp_path)
    varied_episode(backend)
    CountingBackend.loads = 0

    light = queries.status(backend, PROJECT, [EPISODE])
    light_loads = CountingBackend.loads
    full = queries.status(Without(backend, "load_status_documents"), PROJECT, [EPISODE])  # type: ignore[arg-type]

    assert light.to_dict() == full.to_dict()
    assert json.dumps(light.to_dict()) == json.dumps(full.to_dict())
    (episode,) = light.to_dict()["episodes"]
    states = [t["state"] for s in episode["scenes"] for b in s["beats"] for t in b["takes"]]
    assert len(set(states)) == 7 and len(episode["billable"]) == 3
    assert set(episode["marks"]) == {"PASS_A/PASS_A__cov"}
    # whole scenes are loaded only for the marks (3 scenes) and the stale one (2 versions)
    assert light_loads == 5 and CountingBackend.loads > light_loads + 3
    (stale,) = episode["stale"]
    assert stale["scene_id"] == "PASS_B" and stale["candidate_version"] == 2
    assert stale["changes"] == ["PASS_B__cov: generation_config (seed)"]


@pytest.mark.parametrize("damage", ["kind", "take"])
def test_the_light_path_still_refuses_a_corrupt_document(tmp_path: Path, damage: str) -> None:
    from recoil_core.errors import CorruptDocumentError

    backend = FilesystemBackend(tmp_path)
    backend.create_scene(PROJECT, EPISODE, coverage_scene("PASS_A"))
    path = backend.scene_dir(PROJECT, EPISODE, "PASS_A") / "v0001.json"
    data = json.loads(path.read_text())
    if damage == "kind":
        data["document"] = "scene_manifest"
    else:
        del data["beats"][0]["takes"][0]["workflow"]
    path.write_text(json.dumps(data))

    with pytest.raises(CorruptDocumentError, match=r"v0001\.json"):
        queries.status(backend, PROJECT, [EPISODE])


def test_an_edited_look_shows_the_scenes_showing_the_asset_as_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shots = [
        {"shot_id": "EP001_SH01", "characters": ["MAYA"], "prompt": "Maya waits."},
        {"shot_id": "EP001_SH02", "characters": ["KAI"], "prompt": "Kai walks in."},
    ]
    data = plan_dict(
        {"SEQ01": {"location": "LOC_DINER", "shots": shots}},
        characters={"MAYA": {"name": "Maya", "look": "teal uniform"}, "KAI": {"name": "Kai"}},
        locations={"LOC_DINER": {"name": "Diner"}},
    )
    plan_path = write_plan(tmp_path, data)
    provider = ScriptedProvider(Outcome(cost_usd=0.25))
    harness = RunHarness(
        tmp_path,
        provider=provider,
        estimate=0.25,
        runners=[],
        plugins=("filesystem", "grouping", "video", "i2v"),
    )
    plan = bind_assets(load_plan(plan_path), harness.backend)
    first = harness.run(plan, strategy="solo")
    assert first.complete
    project, episode = first.project, first.episode
    assert (
        "stale" not in queries.status(harness.backend, project, [episode]).to_dict()["episodes"][0]
    )

    data["characters"]["MAYA"]["look"] = "40s, red uniform"
    plan_path.write_text(json.dumps(data))
    harness.run(bind_assets(load_plan(plan_path), harness.backend), strategy="solo")
    report = queries.status(harness.backend, project, [episode])

    (ep,) = report.to_dict()["episodes"]
    maya = next(s["scene_id"] for s in ep["scenes"] if s["beats"][0]["shot_ids"] == ["EP001_SH01"])
    assert [s["scene_id"] for s in ep["stale"]] == [maya]  # Kai's scene is not stale
    assert list(ep) == [  # the key is there only when a candidate waits
        "episode",
        "scenes",
        "attention",
        "billable",
        "stale",
        "billable_estimate_usd",
    ]
    (stale,) = ep["stale"]
    assert list(stale) == [
        "scene_id",
        "active_version",
        "candidate_version",
        "note",
        "changes",
        "conform",
    ]
    assert stale["active_version"] == 1 and stale["candidate_version"] == 2
    assert stale["note"] == "inputs changed"
    assert stale["conform"] == f"recoil rederive --conform {maya}"
    assert stale["changes"] == ["EP001_SH01: asset MAYA (look)"]
    _print_status(report)
    text = capsys.readouterr().out
    assert f"stale: candidate v2 waits (inputs changed); `recoil rederive --conform {maya}`" in text
    assert f"changed: {stale['changes'][0]}" in text
