"""Filesystem backend specifics: layout, crash safety, corrupt documents, locks, unsafe ids."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from recoil_core.errors import (
    CorruptDocumentError,
    EpisodeLockedError,
    InvalidIdError,
    SceneVersionConflictError,
    SchemaVersionError,
)
from recoil_core.interfaces import BackendContext
from recoil_core.model import SCHEMA_VERSION, Scene
from recoil_core.persistence.atomic import is_temp_name, write_atomic
from recoil_core.persistence.filesystem import FilesystemBackend
from recoil_core.persistence.protocol import PersistenceBackend
from recoil_core.registry import build_registry
from recoil_core.settings import PluginSelection
from recoil_core.testing.conformance import EPISODE, PASS_ID, PROJECT, charge, coverage_scene


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "projects"


@pytest.fixture
def backend(root: Path) -> FilesystemBackend:
    return FilesystemBackend(root)


def episode_dir(root: Path) -> Path:
    return root / PROJECT / EPISODE


def scene_dir(root: Path, scene_id: str = PASS_ID) -> Path:
    return episode_dir(root) / "scenes" / scene_id


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


# ---------------------------------------------------------------------------- layout


def test_layout_puts_every_document_where_documented(
    backend: FilesystemBackend, root: Path
) -> None:
    backend.create_scene(PROJECT, EPISODE, coverage_scene())
    backend.stage_candidate(PROJECT, EPISODE, coverage_scene(with_take=False))
    backend.save_derivation(PROJECT, EPISODE, {"grouping": {"fresh": True}})
    backend.append_ledger(charge("t1", 0.5))
    renders = backend.renders_dir(PROJECT, EPISODE)
    with backend.lock_episode(PROJECT, EPISODE):
        pass

    assert Path(renders) == episode_dir(root) / "renders"
    assert Path(renders).is_dir()
    files = files_under(episode_dir(root))
    assert {
        f"scenes/{PASS_ID}/manifest.json",
        f"scenes/{PASS_ID}/v0001.json",
        f"scenes/{PASS_ID}/v0002.json",
        "derivation.json",
        "ledger.jsonl",
    } <= set(files)
    assert not [name for name in files if is_temp_name(Path(name).name)]


def test_every_document_and_ledger_line_carries_schema_version_and_document_kind(
    backend: FilesystemBackend, root: Path
) -> None:
    backend.create_scene(PROJECT, EPISODE, coverage_scene())
    backend.save_derivation(PROJECT, EPISODE, {"s": 1})
    backend.append_ledger(charge("t1", 0.5))
    backend.append_ledger(charge("t2", 0.5))

    documents = {
        scene_dir(root) / "manifest.json": "scene_manifest",
        scene_dir(root) / "v0001.json": "scene",
        episode_dir(root) / "derivation.json": "derivation",
    }
    for path, kind in documents.items():
        data = json.loads(path.read_text("utf-8"))
        assert (data["schema_version"], data["document"]) == (SCHEMA_VERSION, kind), path
    lines = (episode_dir(root) / "ledger.jsonl").read_text("utf-8").splitlines()
    assert [(json.loads(x)["schema_version"], json.loads(x)["document"]) for x in lines] == [
        (SCHEMA_VERSION, "ledger_entry"),
        (SCHEMA_VERSION, "ledger_entry"),
    ]
    assert json.loads(lines[0])["kind"] == "succeeded"


def test_plugin_entry_point_registers_the_backend(root: Path) -> None:
    registry = build_registry(PluginSelection(load_only=("filesystem",)))
    spec = registry.backend("filesystem")
    backend = spec.factory(BackendContext(projects_root=root, lock_timeout_s=None))
    assert isinstance(backend, FilesystemBackend)
    assert isinstance(backend, PersistenceBackend)
    assert backend.root == root.absolute()
    assert backend.lock_timeout_s is None


# ---------------------------------------------------------------------------- crash safety


def test_leftover_temp_files_from_a_crash_are_ignored(
    backend: FilesystemBackend, root: Path
) -> None:
    scene = coverage_scene()
    backend.create_scene(PROJECT, EPISODE, scene)
    folder = scene_dir(root)
    (folder / ".manifest.json.999.1.0.tmp").write_text('{"schema_version": 1, "kin')
    (folder / ".v0001.json.999.1.1.tmp").write_text("")
    (episode_dir(root) / "scenes" / ".BROKEN.tmp").mkdir()

    assert backend.load_active(PROJECT, EPISODE, PASS_ID) == (scene, 1)
    assert backend.list_scenes(PROJECT, EPISODE) == [PASS_ID]
    backend.save_scene(PROJECT, EPISODE, scene, expected_version=1)
    assert backend.stage_candidate(PROJECT, EPISODE, coverage_scene(with_take=False)) == 2


def test_failed_replace_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "doc.json"
    target.mkdir()
    with pytest.raises(OSError):
        write_atomic(target, b"{}")
    assert target.is_dir()
    assert list(tmp_path.iterdir()) == [target]


def test_save_that_cannot_be_encoded_writes_nothing(backend: FilesystemBackend, root: Path) -> None:
    scene = coverage_scene()
    backend.create_scene(PROJECT, EPISODE, scene)
    before = (scene_dir(root) / "v0001.json").read_bytes()
    bad = coverage_scene()
    bad.metadata = {"not json": object()}
    with pytest.raises(TypeError):
        backend.save_scene(PROJECT, EPISODE, bad, expected_version=1)
    assert (scene_dir(root) / "v0001.json").read_bytes() == before
    assert files_under(scene_dir(root)) == ["manifest.json", "v0001.json"]


# ---------------------------------------------------------------------------- corrupt documents

CORRUPT_MANIFESTS = {
    "bad_json": b'{"schema_version": 1, "document": "scene_manifest", "scene_id": ',
    "not_an_object": b"[1, 2]",
    "wrong_shape": b'{"schema_version": 1, "document": "scene_manifest", "scene_id": "'
    + PASS_ID.encode()
    + b'", "active_version": "one", "versions": 3}',
    "wrong_kind": b'{"schema_version": 1, "document": "scene", "scene_id": "x", "beats": []}',
    "no_schema_version": b'{"document": "scene_manifest"}',
}


@pytest.mark.parametrize("content", CORRUPT_MANIFESTS.values(), ids=CORRUPT_MANIFESTS.keys())
def test_corrupt_manifest_raises_naming_it_and_is_never_replaced(
    backend: FilesystemBackend, root: Path, content: bytes
) -> None:
    scene = coverage_scene()
    backend.create_scene(PROJECT, EPISODE, scene)
    manifest = scene_dir(root) / "manifest.json"
    manifest.write_bytes(content)

    with pytest.raises(CorruptDocumentError) as caught:
        backend.load_active(PROJECT, EPISODE, PASS_ID)
    assert caught.value.path == str(manifest)
    assert str(manifest) in str(caught.value)
    for attempt in (
        lambda: backend.save_scene(PROJECT, EPISODE, scene, expected_version=1),
        lambda: backend.create_scene(PROJECT, EPISODE, scene),
        lambda: backend.stage_candidate(PROJECT, EPISODE, scene),
        lambda: backend.conform(PROJECT, EPISODE, PASS_ID, 1),
        lambda: backend.load_manifest(PROJECT, EPISODE, PASS_ID),
    ):
        with pytest.raises(CorruptDocumentError):
            attempt()
    assert manifest.read_bytes() == content
    assert files_under(scene_dir(root)) == ["manifest.json", "v0001.json"]


def test_save_over_a_manifest_corrupted_while_locked_raises(
    backend: FilesystemBackend, root: Path
) -> None:
    scene = coverage_scene()
    backend.create_scene(PROJECT, EPISODE, scene)
    manifest = scene_dir(root) / "manifest.json"
    with backend.lock_episode(PROJECT, EPISODE):
        backend.save_scene(PROJECT, EPISODE, scene, expected_version=1)
        manifest.write_bytes(b"{truncated")
        with pytest.raises(CorruptDocumentError):
            backend.save_scene(PROJECT, EPISODE, scene, expected_version=1)
    assert manifest.read_bytes() == b"{truncated"


def test_newer_schema_version_is_refused_naming_the_file(
    backend: FilesystemBackend, root: Path
) -> None:
    scene = coverage_scene()
    backend.create_scene(PROJECT, EPISODE, scene)
    document = scene_dir(root) / "v0001.json"
    data = json.loads(document.read_text("utf-8"))
    data["schema_version"] = 99
    document.write_text(json.dumps(data), "utf-8")

    with pytest.raises(SchemaVersionError, match=re.escape(str(document))):
        backend.load_active(PROJECT, EPISODE, PASS_ID)
    with pytest.raises(SchemaVersionError):
        backend.save_scene(PROJECT, EPISODE, scene, expected_version=1)
    assert json.loads(document.read_text("utf-8"))["schema_version"] == 99


def test_truncated_scene_document_raises_and_is_not_overwritten(
    backend: FilesystemBackend, root: Path
) -> None:
    scene = coverage_scene()
    backend.create_scene(PROJECT, EPISODE, scene)
    document = scene_dir(root) / "v0001.json"
    truncated = document.read_bytes()[:40]
    document.write_bytes(truncated)

    with pytest.raises(CorruptDocumentError, match="not valid JSON"):
        backend.load_scene(PROJECT, EPISODE, PASS_ID)
    with pytest.raises(CorruptDocumentError):
        backend.save_scene(PROJECT, EPISODE, scene, expected_version=1)
    assert document.read_bytes() == truncated


def test_missing_version_document_is_reported_not_recreated(
    backend: FilesystemBackend, root: Path
) -> None:
    scene = coverage_scene()
    backend.create_scene(PROJECT, EPISODE, scene)
    (scene_dir(root) / "v0001.json").unlink()
    with pytest.raises(CorruptDocumentError, match="missing"):
        backend.load_active(PROJECT, EPISODE, PASS_ID)
    with pytest.raises(CorruptDocumentError, match="missing"):
        backend.save_scene(PROJECT, EPISODE, scene, expected_version=1)
    assert not (scene_dir(root) / "v0001.json").exists()


def test_scene_document_in_the_wrong_folder_is_corrupt(
    backend: FilesystemBackend, root: Path
) -> None:
    backend.create_scene(PROJECT, EPISODE, coverage_scene("A"))
    backend.create_scene(PROJECT, EPISODE, coverage_scene("B"))
    (scene_dir(root, "B") / "v0001.json").write_bytes(
        (scene_dir(root, "A") / "v0001.json").read_bytes()
    )
    with pytest.raises(CorruptDocumentError, match="does not match"):
        backend.load_scene(PROJECT, EPISODE, "B")


def test_corrupt_derivation_manifest_is_never_replaced(
    backend: FilesystemBackend, root: Path
) -> None:
    backend.save_derivation(PROJECT, EPISODE, {"grouping": {"fresh": True}})
    path = episode_dir(root) / "derivation.json"
    path.write_bytes(b"{\x00")
    with pytest.raises(CorruptDocumentError, match=re.escape(str(path))):
        backend.load_derivation(PROJECT, EPISODE)
    with pytest.raises(CorruptDocumentError):
        backend.save_derivation(PROJECT, EPISODE, {})
    assert path.read_bytes() == b"{\x00"


# ---------------------------------------------------------------------------- ledger


def test_torn_last_ledger_line_is_ignored_then_repaired_by_the_next_append(
    backend: FilesystemBackend, root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first, second, third = charge("t1", 0.5), charge("t2", 0.25), charge("t3", 1.0)
    backend.append_ledger(first)
    backend.append_ledger(second)
    ledger = episode_dir(root) / "ledger.jsonl"
    complete = ledger.read_bytes()
    with ledger.open("ab") as handle:  # a process killed half way through an append
        handle.write(b'{"schema_version":1,"document":"ledger_entry","entry_id":"t9:vi')

    fresh = FilesystemBackend(root)
    with caplog.at_level(logging.WARNING, logger="recoil_core.persistence.filesystem"):
        assert fresh.read_ledger(PROJECT, EPISODE) == [first, second]
    assert "incomplete last line" in caplog.text
    assert str(ledger) in caplog.text

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="recoil_core.persistence.filesystem"):
        assert fresh.append_ledger(third) is True
    assert "removing an incomplete last line" in caplog.text
    assert fresh.read_ledger(PROJECT, EPISODE) == [first, second, third]
    assert ledger.read_bytes().startswith(complete)
    assert ledger.read_bytes().endswith(b"\n")
    assert backend.append_ledger(third) is False
    assert backend.append_ledger(first) is False


def test_torn_line_repair_by_one_backend_object_is_seen_by_another(
    backend: FilesystemBackend, root: Path
) -> None:
    backend.append_ledger(charge("t1", 0.5))
    ledger = episode_dir(root) / "ledger.jsonl"
    with ledger.open("ab") as handle:
        handle.write(b'{"schema_version":1,')
    other = FilesystemBackend(root)
    assert other.append_ledger(charge("t2", 0.5)) is True
    assert backend.append_ledger(charge("t2", 0.5)) is False
    assert backend.append_ledger(charge("t3", 0.5)) is True
    assert [e.take_id for e in other.read_ledger(PROJECT, EPISODE)] == ["t1", "t2", "t3"]


def test_corrupt_complete_ledger_line_raises_with_its_line_number(
    backend: FilesystemBackend, root: Path
) -> None:
    backend.append_ledger(charge("t1", 0.5))
    ledger = episode_dir(root) / "ledger.jsonl"
    with ledger.open("ab") as handle:
        handle.write(b"not json\n")
    content = ledger.read_bytes()
    with pytest.raises(CorruptDocumentError, match="line 2"):
        backend.read_ledger(PROJECT, EPISODE)
    with pytest.raises(CorruptDocumentError, match="line 2"):
        FilesystemBackend(root).append_ledger(charge("t2", 0.5))
    assert ledger.read_bytes() == content


def test_ledger_written_by_a_newer_recoil_is_not_appended_to(
    backend: FilesystemBackend, root: Path
) -> None:
    ledger = episode_dir(root) / "ledger.jsonl"
    ledger.parent.mkdir(parents=True)
    ledger.write_text('{"schema_version": 7, "document": "ledger_entry", "entry_id": "x"}\n')
    with pytest.raises(SchemaVersionError, match="line 1"):
        backend.append_ledger(charge("t1", 0.5))
    with pytest.raises(SchemaVersionError):
        backend.read_ledger(PROJECT, EPISODE)
    assert len(ledger.read_text().splitlines()) == 1


# ---------------------------------------------------------------------------- CAS cache


def test_cas_under_the_lock_detects_a_conform_by_another_backend_object(
    backend: FilesystemBackend,
) -> None:
    operator = FilesystemBackend(backend.root)
    backend.create_scene(PROJECT, EPISODE, coverage_scene())
    with backend.lock_episode(PROJECT, EPISODE):
        loaded = backend.load_active(PROJECT, EPISODE, PASS_ID)
        assert loaded is not None
        scene, version = loaded
        backend.save_scene(PROJECT, EPISODE, scene, expected_version=version)
        backend.save_scene(PROJECT, EPISODE, scene, expected_version=version)
        operator.stage_candidate(PROJECT, EPISODE, coverage_scene(with_take=False))
        operator.conform(PROJECT, EPISODE, PASS_ID)
        with pytest.raises(SceneVersionConflictError):
            backend.save_scene(PROJECT, EPISODE, scene, expected_version=version)


def test_cas_under_the_lock_follows_a_conform_through_the_same_object(
    backend: FilesystemBackend,
) -> None:
    backend.create_scene(PROJECT, EPISODE, coverage_scene())
    candidate = coverage_scene(with_take=False)
    with backend.lock_episode(PROJECT, EPISODE):
        backend.save_scene(PROJECT, EPISODE, coverage_scene(), expected_version=1)
        backend.stage_candidate(PROJECT, EPISODE, candidate)
        backend.save_scene(PROJECT, EPISODE, coverage_scene(), expected_version=1)
        backend.conform(PROJECT, EPISODE, PASS_ID)
        with pytest.raises(SceneVersionConflictError):
            backend.save_scene(PROJECT, EPISODE, coverage_scene(), expected_version=1)
        backend.save_scene(PROJECT, EPISODE, candidate, expected_version=2)
    assert backend.load_scene(PROJECT, EPISODE, PASS_ID, 1) == coverage_scene()


CONFORM_SCRIPT = """
import sys
from recoil_core.persistence.filesystem import FilesystemBackend
from recoil_core.testing.conformance import coverage_scene
backend = FilesystemBackend(sys.argv[1])
backend.stage_candidate("p", "ep_001", coverage_scene(with_take=False))
print(backend.conform("p", "ep_001", sys.argv[2]))
"""


def test_cas_detects_a_conform_made_by_another_process(backend: FilesystemBackend) -> None:
    backend.create_scene(PROJECT, EPISODE, coverage_scene())
    backend.save_scene(PROJECT, EPISODE, coverage_scene(), expected_version=1)
    done = subprocess.run(
        [sys.executable, "-c", CONFORM_SCRIPT, str(backend.root), PASS_ID],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "2"
    with pytest.raises(SceneVersionConflictError):
        backend.save_scene(PROJECT, EPISODE, coverage_scene(), expected_version=1)


# ---------------------------------------------------------------------------- locking

HOLD_SCRIPT = """
import sys
from recoil_core.persistence.filesystem import FilesystemBackend
backend = FilesystemBackend(sys.argv[1])
with backend.lock_episode("p", "ep_001"):
    print("locked", flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""


@pytest.fixture
def holder(root: Path) -> Iterator[subprocess.Popen[str]]:
    """A second recoil process holding the episode lock until it reads a line."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD_SCRIPT, str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdin is not None
    assert process.stdout.readline().strip() == "locked"
    try:
        yield process
    finally:
        if process.poll() is None:
            process.stdin.write("\n")
            process.stdin.flush()
        process.wait(timeout=30)


def release(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write("release\n")
    process.stdin.flush()
    assert process.stdout.readline().strip() == "released"


def test_lock_held_by_another_process_fails_at_once_with_advice(
    backend: FilesystemBackend, holder: subprocess.Popen[str]
) -> None:
    with pytest.raises(EpisodeLockedError) as caught, backend.lock_episode(PROJECT, EPISODE):
        pass
    message = str(caught.value)
    assert "another recoil process" in message
    assert "--wait" in message
    assert f"{PROJECT}/{EPISODE}" in message
    with backend.lock_episode(PROJECT, "ep_002"):
        pass
    release(holder)
    with backend.lock_episode(PROJECT, EPISODE):
        pass


def test_lock_without_timeout_waits_until_the_other_process_releases(
    backend: FilesystemBackend, holder: subprocess.Popen[str]
) -> None:
    acquired = threading.Event()

    def wait_for_lock() -> None:
        with backend.lock_episode(PROJECT, EPISODE, timeout_s=None):
            acquired.set()

    waiter = threading.Thread(target=wait_for_lock)
    waiter.start()
    with (
        pytest.raises(EpisodeLockedError),
        FilesystemBackend(backend.root).lock_episode(PROJECT, EPISODE),
    ):
        pass
    assert not acquired.is_set()
    release(holder)
    waiter.join(timeout=30)
    assert not waiter.is_alive()
    assert acquired.is_set()


def test_lock_is_reentrant_for_the_same_backend_object(backend: FilesystemBackend) -> None:
    with backend.lock_episode(PROJECT, EPISODE), backend.lock_episode(PROJECT, EPISODE):
        backend.create_scene(PROJECT, EPISODE, coverage_scene())
    with FilesystemBackend(backend.root).lock_episode(PROJECT, EPISODE):
        pass


# ---------------------------------------------------------------------------- unsafe ids

UNSAFE = ["../x", "/etc", "a\x00b", "..", "", "a/b", "a\\b", ".hidden"]


@pytest.mark.parametrize("bad", UNSAFE)
def test_unsafe_ids_are_refused_before_touching_the_filesystem(root: Path, bad: str) -> None:
    backend = FilesystemBackend(root)
    scene = coverage_scene()
    attempts = [
        lambda: backend.create_scene(bad, EPISODE, scene),
        lambda: backend.create_scene(PROJECT, bad, scene),
        lambda: backend.create_scene(PROJECT, EPISODE, Scene(scene_id=bad)),
        lambda: backend.save_scene(PROJECT, EPISODE, Scene(scene_id=bad), expected_version=1),
        lambda: backend.stage_candidate(PROJECT, bad, scene),
        lambda: backend.conform(PROJECT, EPISODE, bad),
        lambda: backend.load_active(bad, EPISODE, PASS_ID),
        lambda: backend.save_derivation(PROJECT, bad, {}),
        lambda: backend.append_ledger(charge("t1", 1.0, episode=bad)),
        lambda: backend.read_ledger(bad),
        lambda: backend.list_episodes(bad),
        lambda: backend.list_scenes(PROJECT, bad),
        lambda: backend.renders_dir(bad, EPISODE),
        lambda: backend.lock_episode(PROJECT, bad),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidIdError):
            attempt()
    assert not root.exists()
    assert not (root.parent / "etc").exists()


def test_temp_files_of_killed_writers_are_swept_by_the_next_run(tmp_path: Path) -> None:
    from recoil_core.testing.harness import RunHarness
    from recoil_core.testing.plans import canonical_plan, canonical_shot

    harness = RunHarness(tmp_path)
    plan = canonical_plan([canonical_shot("EP001_SH01")], project="p", episode="EP001")
    assert harness.run(plan).complete
    episode = harness.projects_root / "p" / "EP001"
    (scene,) = (episode / "scenes").iterdir()
    left = [
        scene / ".v0001.json.4242.1.1.tmp",
        scene / ".manifest.json.4242.1.2.tmp",
        episode / ".derivation.json.4242.1.3.tmp",
        episode / "renders" / ".EP001_SH1_take1.mp4.4242.1.4.tmp",
    ]
    for path in left:
        path.write_bytes(b"half a write")
    kept = sorted(p for p in episode.rglob("*") if p.is_file() and p not in left)

    assert harness.run(plan).complete
    assert [p for p in left if p.exists()] == []
    assert sorted(p for p in episode.rglob("*") if p.is_file()) == kept


def test_a_mark_save_removes_a_killed_writers_temp_file_and_refuses_a_stale_revision(
    backend: FilesystemBackend, root: Path
) -> None:
    review = root / PROJECT / EPISODE / "review"
    review.mkdir(parents=True)
    left = review / ".marks.json.4242.1.1.tmp"
    left.write_bytes(b"half a write")

    assert backend.save_mark(PROJECT, EPISODE, "SC01", "B1", {"k": 1}, expected_revision=0) == 1
    assert not left.exists()
    assert backend.save_mark(PROJECT, EPISODE, "SC01", "B1", {"k": 2}, expected_revision=0) is None
    assert backend.load_marks(PROJECT, EPISODE) == {("SC01", "B1"): (1, {"k": 1})}
    assert [p.name for p in review.iterdir() if is_temp_name(p.name)] == []
