"""Render nodes build every clip from the asset bible, as an in-process run does: the
approved sheets bound when ``recoil run --executor procrastinate`` queued the takes reach
each create a ``recoil worker`` sends (real subprocesses, the fake Ark, a fresh
PostgreSQL database)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from ark_sheets import RecordingArk, references_sent, roles_sent, sha256
from recoil_postgres.backend import PostgresBackend
from recoil_postgres.testing import reachable_dsn, scratch_database
from recoil_procrastinate.testing import node_env, recoil

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ep001" / "plan.json"
PROJECT, EPISODE = "nightshift", "EP001"


@pytest.fixture
def database_dsn() -> Iterator[str]:
    with scratch_database(reachable_dsn(), prefix="recoil_nodes_assets") as dsn:
        yield dsn


@pytest.fixture
def ark() -> Iterator[RecordingArk]:
    with RecordingArk(api_key="nodes-assets-key") as server:
        yield server


def first_sequence(folder: Path) -> Path:
    plan = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    plan["sequences"] = {"SEQ01": plan["sequences"]["SEQ01"]}
    path = folder / "plan.json"
    path.write_text(json.dumps(plan), encoding="utf-8")
    return path


def test_nodes_send_every_clip_with_the_approved_sheets_bound_when_it_was_queued(
    ark: RecordingArk, database_dsn: str, tmp_path: Path
) -> None:
    env = node_env(ark, tmp_path, database_dsn)
    plan = first_sequence(tmp_path)
    rendered = recoil(env, tmp_path, "assets", "render", str(plan))  # offline cards
    assert rendered.returncode == 0, rendered.stderr
    listed = recoil(env, tmp_path, "assets", "list", str(plan), "--json")
    assert listed.returncode == 0, listed.stderr
    asset_ids = [a["asset_id"] for a in json.loads(listed.stdout)["assets"]]
    approved_sheets = set()
    for asset_id in asset_ids:
        approved = recoil(env, tmp_path, "assets", "approve", str(plan), asset_id, "--json")
        assert approved.returncode == 0, approved.stderr
        approved_sheets.add(sha256(Path(json.loads(approved.stdout)["path"]).read_bytes()))
    assert approved_sheets

    queued = recoil(
        env, tmp_path, "run", str(plan), "--provider", "seeddance",
        "--executor", "procrastinate", "--require-approved-assets",
    )  # fmt: skip
    assert queued.returncode == 0, queued.stderr
    worked = recoil(env, tmp_path, "worker", "--once", "--concurrency", "4")
    assert worked.returncode == 0, worked.stderr

    with PostgresBackend(database_dsn, renders_root=tmp_path / "projects") as backend:
        clips = []
        for scene_id in backend.list_scenes(PROJECT, EPISODE):
            if scene_id.startswith("asset_"):
                continue
            found = backend.load_active(PROJECT, EPISODE, scene_id)
            assert found is not None
            clips += [take for beat in found[0].beats for take in beat.takes]
    assert clips and len(ark.bodies) == len(clips)  # one create per clip take
    for take in clips:
        (job_id,) = [s.job_id for s in take.workflow.steps if s.job_id]
        body = ark.bodies[job_id]
        assert set(roles_sent(body)) == {"reference_image"}, take.take_id
        sent = references_sent(body)
        assert sent and set(sent) <= approved_sheets, take.take_id
