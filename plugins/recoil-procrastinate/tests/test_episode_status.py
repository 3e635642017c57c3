"""The executor's ``episode_status`` (what ``recoil status`` shows of render nodes): None
for an episode no node works; for one handed to nodes, every live worker with the takes
of that episode it holds, and that episode's leases only."""

from __future__ import annotations

from pathlib import Path

from psycopg.conninfo import make_conninfo
from recoil_postgres.backend import PostgresBackend
from recoil_postgres.leases import TakeLeases
from recoil_procrastinate.executor import episode_status

from recoil_core.testing.conformance import EPISODE, PROJECT, coverage_scene


def test_status_of_an_episode_lists_workers_and_its_own_leases(
    database_dsn: str, tmp_path: Path
) -> None:
    env = {"RECOIL_POSTGRES_DSN": make_conninfo(database_dsn)}
    root = str(tmp_path)
    scene = coverage_scene()
    beat = scene.beats[0]
    with PostgresBackend(database_dsn, renders_root=tmp_path) as backend:
        backend.create_scene(PROJECT, EPISODE, scene)
        leases = TakeLeases(backend)
        assert episode_status(env, root, PROJECT, EPISODE) is None  # no node works it
        leases.save_node_run(PROJECT, EPISODE, {"plan": {}})
        leases.heartbeat("node-a", host="h", pid=1)
        leases.heartbeat("node-b", host="h", pid=2)
        where = {"scene_id": scene.scene_id, "beat_id": beat.beat_id}
        take_id = beat.takes[0].take_id
        assert leases.claim_take(PROJECT, EPISODE, take_id, **where, worker="node-a", lease_s=60)
        # a take of another episode, held by node-b, is not this episode's
        assert leases.claim_take(PROJECT, "EP999", "t1", **where, worker="node-b", lease_s=60)

    found = episode_status(env, root, PROJECT, EPISODE)

    assert found is not None
    assert [(w["worker"], w["takes_held"]) for w in found["workers"]] == [
        ("node-a", 1),
        ("node-b", 0),
    ]
    assert found["leases"] == {"held": 1}
    assert found["jobs"] == {}
