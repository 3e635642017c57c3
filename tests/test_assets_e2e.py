"""The asset bible end to end on the example episode, as real ``recoil`` subprocesses with
no network: ``assets render`` (offline animatic cards), every sheet approved, then ``run``
against the fake Ark (``tests/test_assets_cli.py`` runs ``assets approve`` and an animatic
``run`` as subprocesses). Every create Ark received carries, as ``reference_image`` items, the
approved sheets of exactly its unit's characters (lead first, by screen time) and locations,
byte for byte, never beside a first/last frame; every render's sidecar names those assets
with the approved take and version."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from ark_money import SENTINEL_KEY, billed_usd, cli_env, run_recoil
from ark_sheets import RecordingArk, references_sent, roles_sent, sha256

from recoil_core.model import Beat, CanonicalPlan
from recoil_core.persistence.filesystem import FilesystemBackend
from recoil_core.plan import load_plan
from recoil_core.runner.assets import approve

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ep001" / "plan.json"
PROJECT, EPISODE = "nightshift", "EP001"


@pytest.fixture
def ark() -> Iterator[RecordingArk]:
    with RecordingArk(api_key=SENTINEL_KEY) as server:
        yield server


def by_screen_time(beat: Beat, plan: CanonicalPlan) -> list[str]:
    """The beat's characters by the seconds they are on screen (ties: first seen), then its
    locations the same way: the order the issue asks references in."""
    people: dict[str, float] = {}
    places: dict[str, float] = {}
    for segment in beat.segments:
        shot = plan.shot(segment.shot_id)
        for character in shot.characters:
            people[character] = people.get(character, 0.0) + segment.duration_s
        places[shot.location_id] = places.get(shot.location_id, 0.0) + segment.duration_s
    order = [*sorted(people, key=lambda c: -people[c]), *sorted(places, key=lambda p: -places[p])]
    return order


def test_every_clip_is_sent_with_the_approved_sheets_of_its_cast_and_places(ark, tmp_path):
    env = cli_env(ark, tmp_path)
    plan = load_plan(EXAMPLE)
    assert run_recoil(env, tmp_path, "assets", "render", str(EXAMPLE)).returncode == 0
    backend = FilesystemBackend(tmp_path / "projects")
    approved = {a.asset_id: approve(plan, backend, a.asset_id) for a in plan.assets}
    assert ark.creates_total == 0  # the sheets are offline cards

    run = run_recoil(
        env, tmp_path, "run", str(EXAMPLE), "--provider", "seeddance",
        "--require-approved-assets", "--json",
    )  # fmt: skip

    assert run.returncode == 0, run.stdout + run.stderr
    sheet_sha = {a: sha256(Path(r.path).read_bytes()) for a, r in approved.items()}
    renders = tmp_path / "projects" / PROJECT / EPISODE / "renders"
    sidecars = {
        (doc := json.loads(p.read_text())["provenance"])["take_id"]: doc
        for p in renders.glob("*.mp4.json")
    }
    checked = 0
    for scene_id in backend.list_scenes(PROJECT, EPISODE):
        if scene_id.startswith("asset_"):
            continue
        found = backend.load_active(PROJECT, EPISODE, scene_id)
        assert found is not None
        for beat in found[0].beats:
            expected = by_screen_time(beat, plan)
            for take in beat.takes:
                (job,) = [s.job_id for s in take.workflow.steps if s.job_id]
                body = ark.bodies[job]
                roles = roles_sent(body)
                assert set(roles) == {"reference_image"}, (take.take_id, roles)
                sent = references_sent(body)
                assert sent == [sheet_sha[a] for a in expected], (take.take_id, expected)
                used = sidecars[take.take_id]["workflow"]["assets"]
                assert [(u["asset_id"], u["take_id"], u["version"]) for u in used] == [
                    (a, approved[a].take_id, approved[a].version) for a in expected
                ]
                checked += 1
    assert checked == len(ark.bodies) and checked >= 5
    assert ark.creates_total == checked  # one create per clip take
    billed = billed_usd(ark)
    ledger: dict[str | None, float] = {}
    for entry in backend.read_ledger(PROJECT, EPISODE):
        ledger[entry.job_id] = ledger.get(entry.job_id, 0.0) + entry.amount_usd
    assert {j: ledger.get(j) for j in billed} == pytest.approx(billed)
    assert sum(usd for j, usd in ledger.items() if j not in billed) == 0  # the offline cards
