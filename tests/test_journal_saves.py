"""Scene saves through the run's journal: saves of one scene take turns, and a save whose
state a later-begun write already holds is not written again."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from recoil_core.persistence.filesystem import FilesystemBackend
from recoil_core.runner.context import DispatchOptions, SceneSession
from recoil_core.runner.journal import Journal
from recoil_core.runner.planning import derive_scenes
from recoil_core.testing.harness import RunHarness
from recoil_core.testing.plans import canonical_plan, canonical_shot

PROJECT, EPISODE = "p", "EP001"


class _CountingBackend(FilesystemBackend):
    """The filesystem backend, counting the scene writes that reach it."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.writes: list[str] = []

    def create_scene(self, project: str, episode: str, scene: Any) -> int:
        self.writes.append("create")
        return super().create_scene(project, episode, scene)

    def save_scene(self, project: str, episode: str, scene: Any, **kwargs: Any) -> int:
        self.writes.append("save")
        return super().save_scene(project, episode, scene, **kwargs)


def _journal(tmp_path: Path) -> tuple[Journal, _CountingBackend, SceneSession]:
    harness = RunHarness(tmp_path)
    backend = _CountingBackend(harness.projects_root)
    plan = canonical_plan(
        [canonical_shot("EP001_SH01"), canonical_shot("EP001_SH02")],
        project=PROJECT,
        episode=EPISODE,
    )
    journal = Journal(
        backend=backend,
        registry=harness.registry,
        options=DispatchOptions(
            project=PROJECT,
            episode=EPISODE,
            video_provider="scripted",
            image_provider=None,
            renders_dir=tmp_path / "renders",
        ),
    )
    scene = derive_scenes(plan, harness.registry.strategy("solo"))[0]
    return journal, backend, SceneSession(scene, 0, needs_create=True)


def test_saves_asked_while_a_write_waits_are_written_once_with_the_latest_state(
    tmp_path: Path,
) -> None:
    journal, backend, session = _journal(tmp_path)
    beat = session.scene.beats[0]
    running, release = threading.Event(), threading.Event()

    def hold_the_writer() -> None:
        running.set()
        release.wait(timeout=30)

    async def main() -> None:
        held = asyncio.ensure_future(journal.write(hold_the_writer))
        while not running.is_set():
            await asyncio.sleep(0)
        create = asyncio.ensure_future(journal.save(session))  # waits for the writer
        await asyncio.sleep(0)
        saves = []
        for note in ("second", "third", "fourth"):  # a change, then its save: both wait
            beat.metadata["note"] = note
            saves.append(asyncio.ensure_future(journal.save(session)))
            await asyncio.sleep(0)
        release.set()
        await asyncio.gather(held, create, *saves)

    try:
        asyncio.run(asyncio.wait_for(main(), 30))
    finally:
        journal.close()
    # the create wrote the scene; the first save that waited behind it wrote the state
    # every waiting save asked for, and the others found it written
    assert backend.writes == ["create", "save"]
    stored = backend.load_scene(PROJECT, EPISODE, session.scene.scene_id)
    assert stored is not None and stored.beats[0].metadata["note"] == "fourth"
    assert session.saved_through == session.saves_asked == 4


def test_a_save_asked_after_a_write_began_is_written_again(tmp_path: Path) -> None:
    journal, backend, session = _journal(tmp_path)
    beat = session.scene.beats[0]

    async def main() -> None:
        await journal.save(session)
        beat.metadata["note"] = "after the create"
        await journal.save(session)
        beat.metadata["note"] = "after the first save"
        await journal.save(session)

    try:
        asyncio.run(asyncio.wait_for(main(), 30))
    finally:
        journal.close()
    assert backend.writes == ["create", "save", "save"]
    stored = backend.load_scene(PROJECT, EPISODE, session.scene.scene_id)
    assert stored is not None and stored.beats[0].metadata["note"] == "after the first save"
