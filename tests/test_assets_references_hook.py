"""``recoil_asset_references``: a studio's asset library supplies an asset's references.

Through a real installed plugin distribution and ``recoil`` subprocesses on the example
episode: no sheet is rendered for the asset, it cannot be approved, and every clip showing
it is sent the library's image (asserted on the creates the fake Ark received), its
sidecar naming the plugin. Through a pluggy-registered plugin object: new images from the
library stage candidates for exactly the scenes showing the asset, with no create; an
answer that is not a list of existing absolute files or URLs, or an exception, stops with
an error naming the plugin.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ark_money import PLUGINS, SENTINEL_KEY, cli_env, filesystem, run_recoil
from ark_sheets import RecordingArk, references_sent, sha256
from PIL import Image

from recoil_core.api import hookimpl
from recoil_core.errors import PluginCodeError
from recoil_core.persistence.filesystem import FilesystemBackend
from recoil_core.plan import load_plan
from recoil_core.registry import Registry, build_registry
from recoil_core.runner import EpisodeRunner, RunOptions
from recoil_core.runner.assets import approve, bind_assets, list_assets
from recoil_core.settings import PluginSelection
from recoil_core.testing.distributions import pythonpath_env, write_distribution
from recoil_core.testing.plans import plan_dict, write_plan

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ep001" / "plan.json"
LIBRARY_MODULE = """
import json
import os

from recoil_core.api import hookimpl


@hookimpl
def recoil_asset_references(asset):
    with open(os.environ["STUDIO_LIBRARY"]) as library:
        return json.load(library).get(asset.asset_id)
"""


@pytest.fixture
def ark() -> Iterator[RecordingArk]:
    with RecordingArk(api_key=SENTINEL_KEY) as server:
        yield server


def image(path: Path, colour: tuple[int, int, int]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), colour).save(path)
    return str(path)


def test_an_installed_library_plugin_supplies_a_characters_references(ark, tmp_path):
    site = tmp_path / "site"
    write_distribution(
        site,
        "studio-library",
        entry_points={"studio-library": "studio_library"},
        modules={"studio_library": LIBRARY_MODULE},
    )
    maya = image(tmp_path / "library" / "maya.png", (200, 40, 40))
    library = tmp_path / "library.json"
    library.write_text(json.dumps({"MAYA": [maya]}))
    env = {
        **cli_env(ark, tmp_path),
        "PYTHONPATH": pythonpath_env(site)["PYTHONPATH"],
        "STUDIO_LIBRARY": str(library),
    }

    rendered = run_recoil(env, tmp_path, "assets", "render", str(EXAMPLE), "--json")

    assert rendered.returncode == 0, rendered.stderr
    sheets = {s["scene_id"] for s in json.loads(rendered.stdout)["scenes"]}
    assert len(sheets) == 6 and "asset_MAYA" not in sheets
    listed = json.loads(run_recoil(env, tmp_path, "assets", "list", str(EXAMPLE), "--json").stdout)
    (entry,) = [a for a in listed["assets"] if a["asset_id"] == "MAYA"]
    assert (entry["status"], entry["supplied_by"], entry["reference_images"]) == (
        "studio", "studio-library", [maya]
    )  # fmt: skip
    refused = run_recoil(env, tmp_path, "assets", "approve", str(EXAMPLE), "MAYA")
    assert refused.returncode == 1 and "plugin 'studio-library'" in refused.stderr
    plan = load_plan(EXAMPLE)
    backend = FilesystemBackend(tmp_path / "projects")
    for asset in plan.assets:
        if asset.asset_id != "MAYA":
            approve(plan, backend, asset.asset_id)

    run = run_recoil(
        env, tmp_path, "run", str(EXAMPLE), "--provider", "seeddance",
        "--require-approved-assets", "--json",
    )  # fmt: skip

    assert run.returncode == 0, run.stdout + run.stderr
    maya_shots = {s.shot_id for s in plan.shots if "MAYA" in s.characters}
    renders = tmp_path / "projects" / "nightshift" / "EP001" / "renders"
    sidecars = {
        (doc := json.loads(p.read_text())["provenance"])["take_id"]: doc
        for p in renders.glob("*.mp4.json")
    }
    with_maya = 0
    for scene_id in backend.list_scenes("nightshift", "EP001"):
        found = backend.load_active("nightshift", "EP001", scene_id)
        assert found is not None
        for beat in found[0].beats:
            for take in beat.takes:
                if scene_id.startswith("asset_"):
                    continue
                (job,) = [s.job_id for s in take.workflow.steps if s.job_id]
                sent = references_sent(ark.bodies[job])
                used = {u["asset_id"]: u for u in sidecars[take.take_id]["workflow"]["assets"]}
                if set(beat.shot_ids) & maya_shots:
                    with_maya += 1
                    assert sent[0] == sha256(Path(maya).read_bytes()), take.take_id  # the lead
                    assert used["MAYA"]["supplied_by"] == "studio-library"
                    assert used["MAYA"]["references"] == [maya]
                    assert used["MAYA"]["take_id"] is None
                else:
                    assert sha256(Path(maya).read_bytes()) not in sent and "MAYA" not in used
    assert with_maya >= 2


class Library:
    """A pluggy-registered library plugin: ``answers`` by asset id (a callable raises)."""

    def __init__(self) -> None:
        self.answers: dict[str, Any] = {}

    @hookimpl
    def recoil_asset_references(self, asset: Any, plan: Any) -> Any:
        answer = self.answers.get(asset.asset_id)
        return answer() if callable(answer) else answer


@pytest.fixture
def library() -> Library:
    return Library()


@pytest.fixture
def registry(library: Library) -> Registry:
    return build_registry(
        PluginSelection(load_only=(*PLUGINS, "library")), extra=[("library", library)]
    )


def two_scene_plan(root: Path) -> Path:
    """Maya in SH01 (the diner), Kai in SH02 (the roof): two scenes."""
    return write_plan(
        root,
        plan_dict(
            {
                "SEQ01": {"location": "LOC_DINER",
                          "shots": [{"shot_id": "EP001_SH01", "characters": ["MAYA"]}]},
                "SEQ02": {"location": "LOC_ROOF",
                          "shots": [{"shot_id": "EP001_SH02", "characters": ["KAI"]}]},
            },
            characters={"MAYA": {"name": "Maya"}, "KAI": {"name": "Kai"}},
            locations={"LOC_DINER": {"name": "Diner"}, "LOC_ROOF": {"name": "Roof"}},
        ),
    )  # fmt: skip


def run(plan_path: Path, registry: Registry, backend: Any, ark: RecordingArk) -> Any:
    plan = bind_assets(load_plan(plan_path), backend, registry)
    runner = EpisodeRunner(
        plan,
        registry=registry,
        backend=backend,
        options=RunOptions(provider="seeddance", poll_interval_s=0.0),
        env={"ARK_API_KEY": ark.api_key, "ARK_BASE_URL": ark.base_url},
    )
    return asyncio.run(runner.run())


def test_new_images_from_the_library_stage_candidates_for_its_scenes_only(
    ark, registry, library, tmp_path
):
    plan_path = two_scene_plan(tmp_path / "plan")
    backend = filesystem(registry, tmp_path / "projects")
    library.answers["MAYA"] = [image(tmp_path / "lib" / "maya1.png", (10, 10, 10))]
    first = run(plan_path, registry, backend, ark)
    assert first.complete
    creates = ark.creates_total
    maya_scene = next(s.scene_id for s in first.scenes if "EP001_SH01" in s.beats[0].shot_ids)

    library.answers["MAYA"] = [image(tmp_path / "lib" / "maya2.png", (90, 90, 90))]
    second = run(plan_path, registry, backend, ark)

    assert ark.creates_total == creates  # nothing paid until conform
    staged = {n.split(":")[0].removeprefix("scene ") for n in second.notices if "candidate" in n}
    assert staged == {maya_scene}


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (["maya.png"], "neither an existing absolute file nor an http(s) URL"),
        ("/abs/maya.png", "not a list of str or None"),
        (lambda: 1 / 0, "raised ZeroDivisionError"),
    ],
    ids=["relative-path", "not-a-list", "raises"],
)
def test_a_bad_answer_stops_with_an_error_naming_the_plugin(
    registry, library, tmp_path, answer, problem
):
    plan = load_plan(two_scene_plan(tmp_path / "plan"))
    backend = filesystem(registry, tmp_path / "projects")
    library.answers["KAI"] = answer

    with pytest.raises(PluginCodeError) as raised:
        list_assets(plan, backend, registry)

    message = str(raised.value)
    assert "plugin 'library'" in message and "'KAI'" in message and problem in message
