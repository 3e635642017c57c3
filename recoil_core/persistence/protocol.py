"""The persistence backend protocol every backend (filesystem, SQL...) implements.

Designed so a database can implement it: saving a scene is compare-and-set on the active
version, ledger appends are idempotent by entry id, and nothing here makes network calls
to providers. The conformance suite in ``recoil_core.testing.conformance`` pins the
behaviour; a backend that passes it can replace the filesystem one.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from recoil_core.model import LedgerEntry, Scene, SceneManifest


@runtime_checkable
class PersistenceBackend(Protocol):
    """Scenes with versions, the derivation manifest, and an append-only ledger.

    Scene versions are numbered from 1. ``create_scene`` makes v1 active
    (``downstream=derived``). ``save_scene`` rewrites the *active* version in place only if
    it is still ``expected_version`` (else :class:`SceneVersionConflictError`, nothing
    written). ``stage_candidate`` appends a new version with ``downstream=not_derived``
    that is not active; ``conform`` makes a version active (``derived``).
    Every write is atomic: a reader sees the old document or the new one, never a part.
    A document that cannot be read raises :class:`CorruptDocumentError` naming it, and is
    never overwritten. A document from a newer schema raises :class:`SchemaVersionError`.
    """

    name: str

    # scenes
    def list_scenes(self, project: str, episode: str) -> list[str]: ...
    def load_manifest(self, project: str, episode: str, scene_id: str) -> SceneManifest | None: ...
    def load_scene(
        self, project: str, episode: str, scene_id: str, version: int | None = None
    ) -> Scene | None:
        """The given version of a scene, or the active one when ``version`` is None."""
        ...

    def load_active(self, project: str, episode: str, scene_id: str) -> tuple[Scene, int] | None:
        """The active version of a scene and its number (``None`` if the scene is unknown)."""
        ...

    def create_scene(self, project: str, episode: str, scene: Scene) -> int:
        """Persist a new scene as v1, active. Conflict error if the scene exists."""
        ...

    def save_scene(self, project: str, episode: str, scene: Scene, *, expected_version: int) -> None:
        """Rewrite the active version if it is still ``expected_version`` (compare-and-set)."""
        ...

    def stage_candidate(
        self, project: str, episode: str, scene: Scene, *, note: str = ""
    ) -> int:
        """Append ``scene`` as a new, inactive version (``not_derived``); return its number."""
        ...

    def conform(self, project: str, episode: str, scene_id: str, version: int | None = None) -> int:
        """Make ``version`` (default: the newest candidate) active; return it."""
        ...

    # derivation manifest
    def load_derivation(self, project: str, episode: str) -> dict[str, Any]: ...
    def save_derivation(self, project: str, episode: str, manifest: dict[str, Any]) -> None: ...

    # ledger
    def append_ledger(self, entry: LedgerEntry) -> bool:
        """Append a charge; returns False (and writes nothing) if ``entry_id`` is already there."""
        ...

    def read_ledger(self, project: str, episode: str | None = None) -> list[LedgerEntry]:
        """Every charge of a project (or one episode), in append order."""
        ...

    # discovery and locking
    def list_projects(self) -> list[str]: ...
    def list_episodes(self, project: str) -> list[str]: ...
    def lock_episode(
        self, project: str, episode: str, *, timeout_s: float | None = 0.0
    ) -> AbstractContextManager[None]:
        """Exclusive lock across processes; :class:`EpisodeLockedError` after ``timeout_s``."""
        ...

    def renders_dir(self, project: str, episode: str) -> str:
        """Directory (a local path) where renders and sidecars for the episode are written."""
        ...


__all__: Sequence[str] = ["PersistenceBackend"]
