"""The filesystem backend reuses a manifest it just read for the scene loaded next, and
only while the manifest file is the one it read."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from recoil_core.persistence.filesystem import FilesystemBackend
from recoil_core.testing.conformance import EPISODE, PASS_ID, PROJECT, coverage_scene

CONFORM_SCRIPT = """
import sys
from recoil_core.persistence.filesystem import FilesystemBackend
print(FilesystemBackend(sys.argv[1]).conform(sys.argv[2], sys.argv[3], sys.argv[4]))
"""


def staged(root: Path) -> FilesystemBackend:
    """A backend whose scene has v1 active (with a take) and a candidate v2 (without)."""
    backend = FilesystemBackend(root)
    backend.create_scene(PROJECT, EPISODE, coverage_scene())
    assert backend.stage_candidate(PROJECT, EPISODE, coverage_scene(with_take=False)) == 2
    return backend


def test_a_scene_loaded_after_its_manifest_is_the_active_version(tmp_path: Path) -> None:
    backend = staged(tmp_path)
    manifest = backend.load_manifest(PROJECT, EPISODE, PASS_ID)
    assert manifest is not None and manifest.active_version == 1
    assert backend.load_scene(PROJECT, EPISODE, PASS_ID) == coverage_scene()
    assert backend.load_scene(PROJECT, EPISODE, PASS_ID, 2) == coverage_scene(with_take=False)
    assert backend.load_scene(PROJECT, EPISODE, PASS_ID, 3) is None


def test_a_conform_by_another_process_after_the_manifest_read_is_seen(tmp_path: Path) -> None:
    backend = staged(tmp_path)
    manifest = backend.load_manifest(PROJECT, EPISODE, PASS_ID)
    assert manifest is not None and manifest.active_version == 1
    done = subprocess.run(
        [sys.executable, "-c", CONFORM_SCRIPT, str(tmp_path), PROJECT, EPISODE, PASS_ID],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "2"
    assert backend.load_scene(PROJECT, EPISODE, PASS_ID) == coverage_scene(with_take=False)


def test_a_conform_by_another_backend_object_after_the_manifest_read_is_seen(
    tmp_path: Path,
) -> None:
    backend = staged(tmp_path)
    assert backend.load_manifest(PROJECT, EPISODE, PASS_ID) is not None
    assert FilesystemBackend(tmp_path).conform(PROJECT, EPISODE, PASS_ID) == 2
    active = backend.load_active(PROJECT, EPISODE, PASS_ID)
    assert active == (coverage_scene(with_take=False), 2)
