"""The persistence conformance suite, run against the built-in filesystem backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from recoil_core.persistence.filesystem import FilesystemBackend
from recoil_core.testing.conformance import BackendConformance, MakeBackend


class TestFilesystemConformance(BackendConformance):
    @pytest.fixture
    def make_backend(self, tmp_path: Path) -> MakeBackend:
        root = tmp_path / "projects"
        return lambda: FilesystemBackend(root)
