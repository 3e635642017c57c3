"""A reviewed episode for the review server's tests: three shots rendered by the real
episode runner (scripted provider, filesystem backend, all in ``tmp_path``), one beat with
a second succeeded take as a retake would add, one beat whose only take failed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from recoil_review import Episode, Guard, create_app
from starlette.testclient import TestClient

from recoil_core.api import PersistenceBackend, SubmitRequest
from recoil_core.testing.doubles import (
    Outcome,
    ScriptedProvider,
    ShotPerUnitStrategy,
    StandardVideoRunner,
)
from recoil_core.testing.harness import RunHarness
from recoil_core.testing.plans import canonical_plan, canonical_shot

PROJECT = "demo"
EPISODE = "EP001"
SHOTS = ("EP001_SH01", "EP001_SH02", "EP001_SH03")
FAILING_SHOT = "EP001_SH03"
PRICE = 0.25
SELECTION_NAMES = (
    "load_marks",
    "select_take",
    "approve",
    "reject",
    "request_retake",
    "cut_take",
    "pending_retakes",
)


@pytest.fixture
def selection() -> Any:
    """The kernel's selection API, from its public module (what ``recoil review`` hands
    the app is the same functions)."""
    import recoil_core.api as api

    missing = [name for name in SELECTION_NAMES if not hasattr(api, name)]
    if missing:
        pytest.skip(f"recoil_core.api does not export the selection API ({', '.join(missing)})")
    return api


def _script(request: SubmitRequest) -> Outcome:
    if FAILING_SHOT in str(request.take_id):
        return Outcome(state="failed", error_code="boom")
    return Outcome(cost_usd=PRICE)


@pytest.fixture
def harness(tmp_path: Path) -> RunHarness:
    """The episode rendered once: every beat's first take (the failing shot's failed)."""
    harness = RunHarness(
        tmp_path,
        provider=ScriptedProvider(_script),
        strategies=[ShotPerUnitStrategy()],
        runners=[StandardVideoRunner()],
        estimate=PRICE,
    )
    shots = [canonical_shot(shot_id, prompt=f"prompt of {shot_id}") for shot_id in SHOTS]
    plan = canonical_plan(shots, project=PROJECT, episode=EPISODE)
    harness.run(plan, image_provider="scripted")
    return harness


def _add_take(backend: PersistenceBackend, scene_id: str, media: bytes) -> str:
    """Append a succeeded copy of the beat's first take with its own render (what a
    retake adds), through the backend protocol; returns its take id."""
    found = backend.load_active(PROJECT, EPISODE, scene_id)
    assert found is not None
    scene, version = found
    beat = scene.beats[0]
    first = beat.takes[0]
    index = len(beat.takes)
    take_id = f"{beat.beat_id}_take_{index}"
    render = Path(backend.renders_dir(PROJECT, EPISODE)) / f"{take_id}.mp4"
    render.write_bytes(media)
    beat.takes.append(
        attrs.evolve(first.copy(), take_id=take_id, index=index, render_path=str(render))
    )
    backend.save_scene(PROJECT, EPISODE, scene, expected_version=version)
    return take_id


@pytest.fixture
def add_take(harness: RunHarness) -> Callable[[str, bytes], str]:
    """``add_take(scene_id, media)``: a new succeeded take in that scene's beat."""
    return lambda scene_id, media: _add_take(harness.backend, scene_id, media)


@pytest.fixture
def episode(harness: RunHarness, selection: Any, add_take: Callable[[str, bytes], str]) -> Episode:
    add_take(SHOTS[0], b"second take " * 1000)
    return Episode(
        backend=harness.backend,
        selection=selection,
        project=PROJECT,
        episode=EPISODE,
        cap_usd=Decimal("1.50"),
        shot_order=SHOTS,
    )


MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client(episode: Episode) -> Iterator[MakeClient]:
    """``make_client(local=True, token=None, base_url=...)``: a TestClient of the app."""
    opened: list[TestClient] = []

    def make(
        local: bool = True, token: str | None = None, base_url: str = "http://127.0.0.1:8642"
    ) -> TestClient:
        app = create_app(episode, Guard(local=local, token=token), reviewer="ana")
        client = TestClient(app, base_url=base_url, raise_server_exceptions=False)
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client()
