"""The persistence backend protocol every backend (filesystem, SQL...) implements.

Designed so a database can implement it: saving a scene is compare-and-set on the active
version, ledger appends are idempotent by entry id, and nothing here makes network calls
to providers. The conformance suite in ``recoil_core.testing.conformance`` pins the
behaviour; a backend that passes it can replace the filesystem one.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from recoil_core.errors import RecoilError, SceneVersionConflictError

if TYPE_CHECKING:
    from recoil_core.model import LedgerEntry, Scene, SceneManifest

RENDERS_DIR = "renders"
"""The folder of an episode that holds its renders and sidecars: the built-in backends'
``renders_dir`` is ``<root>/<project>/<episode>/renders``."""


class SceneExistsError(SceneVersionConflictError):
    """``create_scene`` for a scene that already has versions; nothing was written."""

    def __init__(self, scene_id: str, active_version: int) -> None:
        super().__init__(scene_id, None, active_version)
        self.args = (
            f"scene {scene_id} already exists (active version v{active_version}); nothing was "
            "written. Load it and save with its version, or stage a candidate version.",
        )


class SceneNotFoundError(RecoilError, LookupError):
    """A scene operation named a scene that has no versions yet."""

    exit_code = 2

    def __init__(self, project: str, episode: str, scene_id: str) -> None:
        self.scene_id = scene_id
        super().__init__(
            f"scene {scene_id} of {project}/{episode} does not exist; "
            "run the episode (or create the scene) first"
        )


class UnknownSceneVersionError(RecoilError, LookupError):
    """``conform`` asked for a version the scene does not have (or there is no candidate)."""

    exit_code = 2

    def __init__(self, scene_id: str, message: str) -> None:
        self.scene_id = scene_id
        super().__init__(f"scene {scene_id}: {message}")


def conform_target(manifest: SceneManifest, version: int | None) -> int:
    """The version ``conform`` makes active: ``version``, or the newest candidate when it
    is None. :class:`UnknownSceneVersionError` when there is no candidate or the scene has
    no such version (every backend refuses these the same way)."""
    scene_id = manifest.scene_id
    if version is None:
        candidates = manifest.candidates()
        if not candidates:
            raise UnknownSceneVersionError(
                scene_id,
                f"no candidate version to conform; active remains v{manifest.active_version}",
            )
        return max(entry.version for entry in candidates)
    if version not in {entry.version for entry in manifest.versions}:
        listed = ", ".join(f"v{e.version}" for e in manifest.versions)
        raise UnknownSceneVersionError(scene_id, f"has no version v{version} (versions: {listed})")
    return version


@runtime_checkable
class PersistenceBackend(Protocol):
    """Scenes with versions, the derivation manifest, and an append-only ledger.

    Scene versions are numbered from 1. ``create_scene`` makes v1 active
    (``downstream=derived``). ``save_scene`` rewrites the *active* version in place only if
    it is still ``expected_version`` (else :class:`SceneVersionConflictError`, nothing
    written). ``stage_candidate`` appends a new version with ``downstream=not_derived``
    that is not active; ``conform`` makes a version active (``derived``).
    ``stage_candidate`` and ``conform`` on an unknown scene raise :class:`SceneNotFoundError`;
    conforming a version the scene does not have raises :class:`UnknownSceneVersionError`.
    Reads of an unknown scene (or unknown version) return ``None``.
    Every write is atomic: a reader sees the old document or the new one, never a part.
    A document that cannot be read raises :class:`CorruptDocumentError` naming it, and is
    never overwritten. A document from a newer schema raises :class:`SchemaVersionError`.

    Optional: ``write_batch()``, a context manager. Writes made inside it by the calling
    thread are durable once it exits normally (not necessarily before); reads inside it see
    them. If the block raises, each write in it may or may not have been kept, as after a
    crash. The runner makes all of a run's writes from one thread in such batches, so a
    backend that can commit many writes at once (one sync, one transaction) gets that
    speed-up; a backend without the method has each write durable on its own. A backend
    whose writes take microseconds and never block (in memory, say) may set
    ``inline_write_batches = True``: the runner then runs its batches on the event loop
    instead of its writer thread.

    Optional: ``sweep_temp_files(project, episode) -> int``, called by a run while it holds
    the episode lock, removes what writers killed mid-write left behind (temporary
    files) and returns how many it removed.

    Optional: ``load_status_documents(project, episode, scene_id)``, the read side's fast
    path: ``(manifest, active scene)`` as decoded JSON dicts (the converter's unstructured
    form, schema version checked and migrated), or ``None`` when the scene has no
    manifest. ``recoil status`` summarises the takes from them instead of structuring
    every ``Scene``; without the method it loads each scene whole (same report).

    Optional: ``create_guard``, a :class:`CreateGuard`, for a backend that several
    processes share without one holding the episode lock (render nodes): it tells a
    process taking over a take whether the process that wrote ``submitting`` may still
    be about to send that create.
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

    def save_scene(
        self, project: str, episode: str, scene: Scene, *, expected_version: int
    ) -> None:
        """Rewrite the active version if it is still ``expected_version`` (compare-and-set)."""
        ...

    def stage_candidate(self, project: str, episode: str, scene: Scene, *, note: str = "") -> int:
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
        """Every charge of a project (or one episode): append order, episodes by name."""
        ...

    # discovery and locking
    def list_projects(self) -> list[str]: ...
    def list_episodes(self, project: str) -> list[str]: ...
    def lock_episode(
        self, project: str, episode: str, *, timeout_s: float | None = 0.0
    ) -> AbstractContextManager[None]:
        """Exclusive lock across processes; :class:`EpisodeLockedError` after ``timeout_s``.

        ``0`` tries once, ``None`` waits for as long as it takes. Re-entering the lock
        through the same backend object is allowed. Writes do not take the lock
        themselves: callers that run or conform an episode hold it for the whole sequence.
        """
        ...

    def renders_dir(self, project: str, episode: str) -> str:
        """Directory (a local path) where renders and sidecars for the episode are written."""
        ...

    # review marks (see recoil_core.selection): one small document per beat
    def load_marks(
        self, project: str, episode: str
    ) -> dict[tuple[str, str], tuple[int, dict[str, Any]]]:
        """Every beat's review mark of the episode: ``(scene_id, beat_id)`` -> ``(revision,
        document)``; empty when nothing was marked.

        The document is the JSON object :func:`save_mark` was given, returned as it was
        stored (the backend does not interpret it; :mod:`recoil_core.selection` does).
        Revisions start at 1 and grow by one with each save of that beat's mark.
        """
        ...

    def save_mark(
        self,
        project: str,
        episode: str,
        scene_id: str,
        beat_id: str,
        document: dict[str, Any],
        *,
        expected_revision: int,
    ) -> int | None:
        """Store one beat's review mark if its revision is still ``expected_revision``
        (``0``: the beat has no mark yet); return the new revision, or ``None`` (and write
        nothing) when another writer changed it first.

        Atomic, like every write; it does not take the episode lock (a review may mark
        beats while a run holds it) and touches nothing but the marks: scenes, takes,
        the ledger and renders stay as they are.
        """
        ...


class CreateGuard(Protocol):
    """Marks the creates a live process is sending (a backend's ``create_guard``).

    A process holds a step's key (``"<take id>/<step id>"``) from before it persists
    ``submitting`` until the step's create is settled (its job id persisted, or the step
    failed or was given back). A hold lasts exactly as long as the holding process: a
    process that dies, however it dies, loses its holds at once, while a process that is
    only paused (SIGSTOP, a long GC, a VM migration) keeps them. Another process that
    finds the step ``submitting`` or ``unknown`` searches for or sends that create only
    after :meth:`acquire` succeeds, so a paused node that wakes and sends its create never
    races a second create for the same step: leases fence writes, this fences the paid
    call that no lease can stop once it has been decided.

    Providers offer no idempotency key, so this is what keeps "at most one create per
    take" true across processes. Holds are per guard object: a second hold of a key this
    guard already holds returns False (a second :meth:`acquire`).

    Optional: ``defer(key) -> bool``, asked instead of :meth:`acquire` for a step nothing
    of which was ever sent (``planned``): True when the guard takes the key with the
    step's ``submitting`` write instead of now, saving a round trip. That write then
    takes the key first and, when another live process holds it, writes nothing and
    raises :class:`~recoil_core.errors.CreateHeldError` (the step is left to that
    process, as when :meth:`acquire` says no, and :meth:`release` is not asked for the
    key); the key is held from that write on and given back by :meth:`release`, as an
    acquired one is.
    """

    def acquire(self, key: str) -> bool:
        """Take ``key`` if no live process (this one included) holds it: True if taken."""
        ...

    def release(self, key: str) -> None:
        """Give ``key`` back (a key not held is ignored)."""
        ...


__all__: Sequence[str] = [
    "RENDERS_DIR",
    "CreateGuard",
    "PersistenceBackend",
    "SceneExistsError",
    "SceneNotFoundError",
    "UnknownSceneVersionError",
    "conform_target",
]
