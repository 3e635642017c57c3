"""The filesystem backend's recorded new scenes (``new-scenes.jsonl``): a scene created in a
write batch by the holder of the episode lock is one appended line until its next save,
every read sees it, and nothing recorded is lost when the holder lets go or is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from recoil_core.errors import CorruptDocumentError, SceneVersionConflictError
from recoil_core.model import Scene, StepState, TakeState
from recoil_core.persistence.filesystem import FilesystemBackend
from recoil_core.persistence.fs_new_scenes import NEW_SCENES_FILE
from recoil_core.persistence.protocol import SceneExistsError
from recoil_core.runner.queries import episode_status
from recoil_core.testing.conformance import EPISODE, PROJECT, coverage_scene
from recoil_core.testing.doubles import ScriptedProvider
from recoil_core.testing.harness import RunHarness
from recoil_core.testing.plans import canonical_plan, canonical_shot


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "projects"


def episode_dir(root: Path) -> Path:
    return root / PROJECT / EPISODE


def journal(root: Path) -> Path:
    return episode_dir(root) / NEW_SCENES_FILE


def folder(root: Path, scene_id: str) -> Path:
    return episode_dir(root) / "scenes" / scene_id


def scene(scene_id: str, note: str = "") -> Scene:
    value = coverage_scene()
    value.scene_id = scene_id
    value.beats[0].metadata["note"] = note
    return value


def record(backend: FilesystemBackend, *scenes: Scene) -> None:
    """Create ``scenes`` the way a run does: in a write batch, holding the lock."""
    with backend.write_batch():
        for item in scenes:
            assert backend.create_scene(PROJECT, EPISODE, item) == 1


def note_of(found: Scene | None) -> str:
    assert found is not None
    return str(found.beats[0].metadata["note"])


def test_a_scene_created_in_a_batch_under_the_lock_is_a_line_until_its_next_save(
    root: Path,
) -> None:
    backend = FilesystemBackend(root)
    reader = FilesystemBackend(root)  # another process's view: it holds no lock
    with backend.lock_episode(PROJECT, EPISODE):
        record(backend, scene("S1", "submitting"))
        assert not folder(root, "S1").exists()
        lines = journal(root).read_bytes().splitlines()
        assert [json.loads(line)["scene_id"] for line in lines] == ["S1"]
        for view in (backend, reader):
            assert view.list_scenes(PROJECT, EPISODE) == ["S1"]
            active = view.load_active(PROJECT, EPISODE, "S1")
            assert active is not None and active[1] == 1 and note_of(active[0]) == "submitting"
            assert note_of(view.load_scene(PROJECT, EPISODE, "S1", 1)) == "submitting"
            assert view.load_scene(PROJECT, EPISODE, "S1", 2) is None
            manifest = view.load_manifest(PROJECT, EPISODE, "S1")
            assert manifest is not None and manifest.active_version == 1
            documents = view.load_status_documents(PROJECT, EPISODE, "S1")
            assert documents is not None and documents[0]["active_version"] == 1

        with pytest.raises(SceneExistsError):
            backend.create_scene(PROJECT, EPISODE, scene("S1"))
        with pytest.raises(SceneVersionConflictError):
            backend.save_scene(PROJECT, EPISODE, scene("S1"), expected_version=2)

        with backend.write_batch():  # the next save writes the folder, v1 as it is now
            backend.save_scene(PROJECT, EPISODE, scene("S1", "submitted"), expected_version=1)
        assert sorted(p.name for p in folder(root, "S1").iterdir()) == [
            "manifest.json",
            "v0001.json",
        ]
        assert note_of(reader.load_scene(PROJECT, EPISODE, "S1")) == "submitted"
        assert journal(root).exists()  # kept while the lock is held
    assert not journal(root).exists()
    assert note_of(FilesystemBackend(root).load_scene(PROJECT, EPISODE, "S1")) == "submitted"


def test_a_recorded_line_is_appended_at_the_commit_and_an_abandoned_batch_leaves_none(
    root: Path,
) -> None:
    backend = FilesystemBackend(root)
    reader = FilesystemBackend(root)
    with backend.lock_episode(PROJECT, EPISODE):
        with backend.write_batch():
            backend.create_scene(PROJECT, EPISODE, scene("S1"))
            backend.create_scene(PROJECT, EPISODE, scene("S2"))
            assert backend.list_scenes(PROJECT, EPISODE) == ["S1", "S2"]  # its own reads
            assert reader.list_scenes(PROJECT, EPISODE) == []  # not committed: not there
        assert len(journal(root).read_bytes().splitlines()) == 2
        assert reader.list_scenes(PROJECT, EPISODE) == ["S1", "S2"]

        with pytest.raises(RuntimeError), backend.write_batch():
            backend.create_scene(PROJECT, EPISODE, scene("S3"))
            raise RuntimeError("the batch dies before its commit")
        assert len(journal(root).read_bytes().splitlines()) == 2
        assert backend.list_scenes(PROJECT, EPISODE) == ["S1", "S2"]  # S3 forgotten
        record(backend, scene("S3", "again"))  # and can be created again
    fresh = FilesystemBackend(root)
    assert fresh.list_scenes(PROJECT, EPISODE) == ["S1", "S2", "S3"]
    assert note_of(fresh.load_scene(PROJECT, EPISODE, "S3")) == "again"


def test_letting_go_of_the_lock_writes_every_scene_still_only_recorded(root: Path) -> None:
    backend = FilesystemBackend(root)
    with backend.lock_episode(PROJECT, EPISODE):
        record(backend, scene("S1", "one"), scene("S2", "two"))
        with backend.write_batch():
            backend.save_scene(PROJECT, EPISODE, scene("S2", "two, saved"), expected_version=1)
        assert not folder(root, "S1").exists()
    assert not journal(root).exists()
    fresh = FilesystemBackend(root)
    assert fresh.list_scenes(PROJECT, EPISODE) == ["S1", "S2"]
    assert note_of(fresh.load_scene(PROJECT, EPISODE, "S1")) == "one"
    assert note_of(fresh.load_scene(PROJECT, EPISODE, "S2")) == "two, saved"


def test_without_the_lock_or_outside_a_batch_a_new_scene_gets_its_folder_at_once(
    root: Path,
) -> None:
    backend = FilesystemBackend(root)
    record(backend, scene("S1"))  # a batch, no lock
    with backend.lock_episode(PROJECT, EPISODE):
        backend.create_scene(PROJECT, EPISODE, scene("S2"))  # the lock, no batch
        assert not journal(root).exists()
    assert (folder(root, "S1") / "manifest.json").is_file()
    assert (folder(root, "S2") / "manifest.json").is_file()


def test_a_candidate_or_a_conform_of_a_recorded_scene_writes_its_folder_first(
    root: Path,
) -> None:
    backend = FilesystemBackend(root)
    with backend.lock_episode(PROJECT, EPISODE):
        record(backend, scene("S1", "first"), scene("S2", "first"))
        assert backend.stage_candidate(PROJECT, EPISODE, scene("S1", "second")) == 2
        assert backend.conform(PROJECT, EPISODE, "S2", 1) == 1
        assert backend.conform(PROJECT, EPISODE, "S1") == 2
    fresh = FilesystemBackend(root)
    assert note_of(fresh.load_scene(PROJECT, EPISODE, "S1", 1)) == "first"
    assert note_of(fresh.load_scene(PROJECT, EPISODE, "S1")) == "second"
    assert note_of(fresh.load_scene(PROJECT, EPISODE, "S2")) == "first"


KILLED_HOLDER = textwrap.dedent(
    """
    import os, signal, sys
    from recoil_core.persistence.filesystem import FilesystemBackend
    from recoil_core.testing.conformance import EPISODE, PROJECT, coverage_scene

    def scene(scene_id, note):
        value = coverage_scene()
        value.scene_id = scene_id
        value.beats[0].metadata["note"] = note
        return value

    backend = FilesystemBackend(sys.argv[1])
    with backend.lock_episode(PROJECT, EPISODE):
        with backend.write_batch():
            backend.create_scene(PROJECT, EPISODE, scene("S1", "recorded"))
            backend.create_scene(PROJECT, EPISODE, scene("S2", "recorded"))
        with backend.write_batch():
            backend.save_scene(PROJECT, EPISODE, scene("S2", "saved"), expected_version=1)
        os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_a_killed_holders_recorded_scenes_are_read_then_written_by_the_next_holder(
    root: Path,
) -> None:
    done = subprocess.run([sys.executable, "-c", KILLED_HOLDER, str(root)], check=False)
    assert done.returncode == -signal.SIGKILL
    assert journal(root).is_file() and not folder(root, "S1").exists()

    reader = FilesystemBackend(root)  # `recoil status` before anyone runs again
    assert reader.list_scenes(PROJECT, EPISODE) == ["S1", "S2"]
    assert note_of(reader.load_scene(PROJECT, EPISODE, "S1")) == "recorded"
    assert note_of(reader.load_scene(PROJECT, EPISODE, "S2")) == "saved"  # its folder wins
    status = episode_status(reader, PROJECT, EPISODE)
    assert [s.scene_id for s in status.scenes] == ["S1", "S2"]
    assert episode_status(reader, PROJECT, EPISODE) == status  # the status index changes nothing

    with FilesystemBackend(root).lock_episode(PROJECT, EPISODE):
        assert not journal(root).exists()  # written in full before the holder goes on
        assert (folder(root, "S1") / "manifest.json").is_file()
    fresh = FilesystemBackend(root)
    assert note_of(fresh.load_scene(PROJECT, EPISODE, "S1")) == "recorded"
    assert note_of(fresh.load_scene(PROJECT, EPISODE, "S2")) == "saved"  # not written over


def test_a_torn_last_line_is_skipped_and_a_damaged_line_is_named(root: Path) -> None:
    backend = FilesystemBackend(root)
    with backend.lock_episode(PROJECT, EPISODE):
        record(backend, scene("S1"))
        with backend.write_batch():  # keep the line past the release: as after a kill
            backend.save_scene(PROJECT, EPISODE, scene("S1", "saved"), expected_version=1)
        kept = journal(root).read_bytes()
    journal(root).write_bytes(kept + b'{"document": "scene", "scene_id": "S9"')  # torn
    assert FilesystemBackend(root).list_scenes(PROJECT, EPISODE) == ["S1"]
    with FilesystemBackend(root).lock_episode(PROJECT, EPISODE):
        pass
    assert not journal(root).exists() and not folder(root, "S9").exists()

    journal(root).write_bytes(b"not json\n")
    with pytest.raises(CorruptDocumentError, match=NEW_SCENES_FILE):
        FilesystemBackend(root).list_scenes(PROJECT, EPISODE)
    with pytest.raises(CorruptDocumentError, match=NEW_SCENES_FILE):
        FilesystemBackend(root).lock_episode(PROJECT, EPISODE).__enter__()
    assert journal(root).read_bytes() == b"not json\n"  # never written over or removed
    with FilesystemBackend(root).lock_episode(PROJECT, "ep_other"):
        pass  # the lock was let go again


def test_a_runs_submitting_write_of_a_new_scene_is_its_recorded_line(tmp_path: Path) -> None:
    """When the paid create leaves, the new scene exists only as its line, with the take
    ``submitting``; after the run it has its folder and the file is gone."""
    plan = canonical_plan([canonical_shot("EP001_SH0001", scene_index=1)])
    episode = tmp_path / "projects" / plan.project / plan.episode_id
    seen: list[tuple[bool, str, str]] = []

    class Watching(ScriptedProvider):
        async def submit(self, request):  # type: ignore[no-untyped-def]
            (line,) = (episode / NEW_SCENES_FILE).read_bytes().splitlines()
            recorded = json.loads(line)
            take = recorded["beats"][0]["takes"][0]
            step = take["workflow"]["steps"][0]
            scene_folder = episode / "scenes" / recorded["scene_id"]
            seen.append((scene_folder.exists(), take["state"], step["state"]))
            return await super().submit(request)

    harness = RunHarness(tmp_path, provider=Watching())
    report = harness.run(plan, strategy="solo")
    assert report.take_counts == {"succeeded": 1}
    assert seen == [(False, TakeState.SUBMITTING.value, StepState.SUBMITTING.value)]
    assert not (episode / NEW_SCENES_FILE).exists()
    (stored,) = harness.new_backend().list_scenes(plan.project, plan.episode_id)
    assert os.path.isfile(episode / "scenes" / stored / "manifest.json")
