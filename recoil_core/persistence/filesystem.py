"""The built-in persistence backend: versioned JSON documents under the projects root.

Layout (one folder per episode)::

    <root>/<project>/<episode>/scenes/<scene_id>/manifest.json   SceneManifest
    <root>/<project>/<episode>/scenes/<scene_id>/v0001.json      Scene, one per version
    <root>/<project>/<episode>/derivation.json                   derivation manifest
    <root>/<project>/<episode>/ledger.jsonl                      one LedgerEntry per line
    <root>/<project>/<episode>/new-scenes.jsonl                  scenes not yet in a folder
    <root>/<project>/<episode>/renders/                          renders and sidecars
    <root>/<project>/<episode>/.lock                             the episode lock
    <root>/<project>/<episode>/review/marks.json                 review marks of its beats
    <root>/<project>/<episode>/.status-index.json                what status read (a cache)

Rules this module keeps:

* Every document is written whole through :func:`~recoil_core.persistence.atomic.write_atomic`
  and read through :func:`~recoil_core.convert.load_document`. A document that cannot be
  read raises :class:`CorruptDocumentError` naming it and is never written over.
* Compare-and-swap: ``save_scene`` reads the active version from the scene manifest. It
  reuses the manifest it read last only while this backend object has held the episode
  lock without a break since that read, no backend object of this process has written the
  manifest since, and the manifest file's identity (inode, size, mtime, ctime) is
  unchanged; otherwise it reads the manifest again. Writes to one scene in one process
  are serialised per scene (different scenes are written in parallel from threads);
  ledger and derivation writes per episode; across processes, callers hold the episode
  lock.
* Inside :meth:`FilesystemBackend.write_batch` (one thread's
  :func:`~recoil_core.persistence.atomic.commit_group`) documents reach their names when
  the batch commits; a manifest listing a new version is renamed only after that version
  is durable. An operation on a scene (or the derivation manifest) with a write pending
  in the batch commits the batch first, so it reads and compares what the batch wrote.
* A scene created inside a write batch by the holder of the episode lock is recorded as
  one line of ``new-scenes.jsonl`` and gets its folder at its next save, or when the lock
  is let go (:mod:`recoil_core.persistence.fs_new_scenes`); reads see it either way.
* The ledger is append-only (:mod:`recoil_core.persistence.fs_ledger`); review marks are
  one document under a lock of their own (:mod:`recoil_core.persistence.fs_marks`);
  documents are encoded, read and signed by :mod:`recoil_core.persistence.fs_documents`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import filelock

from recoil_core.convert import DERIVATION_KIND, MANIFEST_KIND, SCENE_KIND
from recoil_core.errors import (
    CorruptDocumentError,
    EpisodeLockedError,
    SceneVersionConflictError,
)
from recoil_core.ids import id_problem, validate_id
from recoil_core.model import (
    Downstream,
    LedgerEntry,
    Scene,
    SceneManifest,
    VersionEntry,
)
from recoil_core.persistence.atomic import (
    commit_group,
    current_group,
    ensure_directory,
    fsync_directory,
    remove_temp_files,
    write_atomic,
)
from recoil_core.persistence.fs_documents import (
    StatSignature,
    encode_document,
    file_signature,
    parse_json,
    read_body,
    read_document,
    stat_signature,
    structure_document,
    version_file_name,
)
from recoil_core.persistence.fs_ledger import (
    LEDGER_FILE,
    LedgerFiles,
    read_ledger_file,
)
from recoil_core.persistence.fs_marks import Marks, marks_path, read_marks, save_mark
from recoil_core.persistence.fs_new_scenes import NEW_SCENES_FILE, NewScenes, read_new_scenes
from recoil_core.persistence.protocol import (
    RENDERS_DIR,
    SceneExistsError,
    SceneNotFoundError,
    conform_target,
)

if TYPE_CHECKING:
    from recoil_core.persistence.status_index import StatusIndex

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

SCENES_DIR = "scenes"
MANIFEST_FILE = "manifest.json"
DERIVATION_FILE = "derivation.json"
LOCK_FILE = ".lock"


@attrs.define
class _DerivationDocument:
    """``derivation.json``: which stages are fresh for which inputs (free-form per stage)."""

    stages: dict[str, Any] = attrs.field(factory=dict)


@attrs.define
class _CachedActive:
    active_version: int
    signature: StatSignature
    generation: int
    lock_epoch: int | None


@attrs.frozen
class _ManifestFacts:
    """What :meth:`FilesystemBackend.load_scene` needs of a manifest just read: its active
    version and listed versions, and the file's signature and write generation then."""

    signature: StatSignature
    generation: int
    active_version: int
    versions: frozenset[int]


class _ProcessState:
    """What every backend object of this process shares: write generations and mutexes."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._generations: dict[Path, int] = {}
        self._mutexes: dict[Path, threading.RLock] = {}

    def generation(self, path: Path) -> int:
        return self._generations.get(path, 0)

    def bump(self, path: Path) -> int:
        with self._guard:
            value = self._generations.get(path, 0) + 1
            self._generations[path] = value
            return value

    def mutex(self, path: Path) -> threading.RLock:
        mutex = self._mutexes.get(path)
        if mutex is None:
            with self._guard:
                mutex = self._mutexes.setdefault(path, threading.RLock())
        return mutex


_PROCESS = _ProcessState()


class FilesystemBackend:
    """Scenes, derivation manifest and ledger as JSON files under ``root``.

    ``lock_timeout_s`` is the lock timeout this backend was configured with (from
    ``BackendContext``); callers pass it to :meth:`lock_episode`.
    """

    name = "filesystem"

    def __init__(self, root: str | os.PathLike[str], *, lock_timeout_s: float | None = 0.0):
        self.root = Path(root).absolute()
        self.lock_timeout_s = lock_timeout_s
        self._locks: dict[Path, filelock.BaseFileLock] = {}
        self._held: dict[Path, int] = {}
        self._lock_epochs: dict[Path, int] = {}
        self._active_cache: dict[Path, _CachedActive] = {}
        self._doc_signatures: dict[Path, StatSignature] = {}
        self._manifest_facts: dict[Path, _ManifestFacts] = {}
        self._ledger = LedgerFiles()
        self._new_scenes = NewScenes()
        self._recorded_files: dict[Path, tuple[StatSignature, dict[str, bytes]]] = {}
        self._episode_dirs: dict[tuple[str, str], Path] = {}
        self._scene_dirs: dict[tuple[str, str, str], Path] = {}
        self._scenes_paths: dict[tuple[str, str], str] = {}

    def __repr__(self) -> str:
        return f"FilesystemBackend({str(self.root)!r})"

    # ------------------------------------------------------------------ paths

    def episode_dir(self, project: str, episode: str) -> Path:
        """The episode folder (ids checked; nothing is created)."""
        key = (project, episode)
        path = self._episode_dirs.get(key)
        if path is None:
            validate_id(project, what="project")
            validate_id(episode, what="episode")
            path = self._episode_dirs[key] = self.root / project / episode
        return path

    def scene_dir(self, project: str, episode: str, scene_id: str) -> Path:
        """A scene's folder (ids checked; nothing is created)."""
        key = (project, episode, scene_id)
        path = self._scene_dirs.get(key)
        if path is None:
            validate_id(scene_id, what="scene id")
            path = self.episode_dir(project, episode) / SCENES_DIR / scene_id
            self._scene_dirs[key] = path
        return path

    def _mutex(self, directory: Path) -> threading.RLock:
        """The process-wide mutex of a scene folder (scene writes) or episode folder."""
        return _PROCESS.mutex(directory)

    # ------------------------------------------------------------------ reading

    def _read(self, path: Path, kind: str, cls: type[T]) -> T | None:
        found = read_document(path, kind, cls)
        return None if found is None else found[0]

    def _read_manifest(self, scene_dir: Path) -> SceneManifest | None:
        """Read the manifest from disk and remember its active version for CAS."""
        self._settle(scene_dir)
        path = scene_dir / MANIFEST_FILE
        generation = _PROCESS.generation(path)
        found = read_document(path, MANIFEST_KIND, SceneManifest)
        if found is None:
            self._active_cache.pop(path, None)
            self._manifest_facts.pop(path, None)
            return None
        manifest, signature = found
        self._check_manifest(manifest, scene_dir.name, path)
        self._remember_active(path, manifest.active_version, signature, generation)
        versions = frozenset(entry.version for entry in manifest.versions)
        self._manifest_facts[path] = _ManifestFacts(
            signature, generation, manifest.active_version, versions
        )
        return manifest

    def _listed_versions(self, scene_dir: Path) -> tuple[int, frozenset[int]] | None:
        """The manifest's active version and listed versions (None: no manifest).

        A caller that just read the manifest (``recoil status`` reads it, then the scene)
        does not pay a second read: the facts of the last read are used once, if the file
        still has the same signature (every write replaces it, so its inode changes) and
        this process has not written it since; otherwise the manifest is read again.
        """
        self._settle(scene_dir)
        path = scene_dir / MANIFEST_FILE
        facts = self._manifest_facts.pop(path, None)
        if (
            facts is not None
            and facts.generation == _PROCESS.generation(path)
            and facts.signature == file_signature(path)
        ):
            self._remember_active(path, facts.active_version, facts.signature, facts.generation)
            return facts.active_version, facts.versions
        manifest = self._read_manifest(scene_dir)
        if manifest is None:
            return None
        self._manifest_facts.pop(path, None)  # used by this call
        return manifest.active_version, frozenset(entry.version for entry in manifest.versions)

    @staticmethod
    def _check_manifest(manifest: SceneManifest, scene_id: str, path: Path) -> None:
        if manifest.scene_id != scene_id:
            raise CorruptDocumentError(
                str(path), f"scene_id {manifest.scene_id!r} does not match its folder {scene_id!r}"
            )
        known = {entry.version for entry in manifest.versions}
        if manifest.active_version not in known:
            raise CorruptDocumentError(
                str(path), f"active version v{manifest.active_version} is not among its versions"
            )

    def _remember_active(
        self, path: Path, active: int, signature: StatSignature, generation: int
    ) -> None:
        epoch = None
        if self._held:  # a reader that never locked (``recoil status``) skips the lookup
            episode_dir = path.parent.parent.parent
            epoch = self._lock_epochs.get(episode_dir) if self._held.get(episode_dir) else None
        self._active_cache[path] = _CachedActive(active, signature, generation, epoch)

    def _active_version(self, scene_dir: Path, episode_dir: Path) -> int | None:
        """The active version for a compare-and-swap (cached under the rule in the docstring)."""
        path = scene_dir / MANIFEST_FILE
        cached = self._active_cache.get(path)
        if (
            cached is not None
            and cached.lock_epoch is not None
            and self._held.get(episode_dir)
            and cached.lock_epoch == self._lock_epochs.get(episode_dir)
            and cached.generation == _PROCESS.generation(path)
            and cached.signature == file_signature(path)
        ):
            return cached.active_version
        manifest = self._read_manifest(scene_dir)
        return None if manifest is None else manifest.active_version

    def _read_scene(self, scene_dir: Path, version: int) -> Scene | None:
        path = scene_dir / version_file_name(version)
        found = read_document(path, SCENE_KIND, Scene)
        if found is None:
            return None
        scene, signature = found
        if scene.scene_id != scene_dir.name:
            raise CorruptDocumentError(
                str(path), f"scene_id {scene.scene_id!r} does not match its folder"
            )
        self._doc_signatures[path] = signature
        return scene

    def _require_readable(self, scene_dir: Path, version: int) -> None:
        """Refuse to replace a version document that is missing or unreadable."""
        path = scene_dir / version_file_name(version)
        signature = file_signature(path)
        if signature is None:
            raise CorruptDocumentError(
                str(path), f"the manifest lists v{version} but its document is missing"
            )
        if self._doc_signatures.get(path) != signature:
            self._read_scene(scene_dir, version)

    # ------------------------------------------------------------------ writing

    def _write_scene(self, scene_dir: Path, version: int, payload: bytes) -> None:
        path = scene_dir / version_file_name(version)

        def replaced() -> None:
            signature = file_signature(path)
            if signature is not None:
                self._doc_signatures[path] = signature

        write_atomic(path, payload, on_replaced=replaced)

    def _write_manifest(
        self,
        scene_dir: Path,
        manifest: SceneManifest,
        *,
        stage: int = 0,
        then: Callable[[], None] | None = None,
    ) -> None:
        """Write the manifest; ``stage=1`` when it lists a version document written just
        before it, so that inside a write batch it is renamed only once that one is durable.
        ``then`` runs once the manifest is in place."""
        path = scene_dir / MANIFEST_FILE
        active = manifest.active_version

        def replaced() -> None:
            generation = _PROCESS.bump(path)
            signature = file_signature(path)
            if signature is not None:
                self._remember_active(path, active, signature, generation)
            if then is not None:
                then()

        payload = encode_document(MANIFEST_KIND, manifest, indent=True)
        write_atomic(path, payload, stage=stage, on_replaced=replaced)

    @staticmethod
    def _settle(directory: Path) -> None:
        """Inside a write batch, commit it first if a write to ``directory`` is pending, so
        that what follows reads (and compares against) what the batch wrote."""
        group = current_group()
        if group is not None and group.has_pending(directory):
            group.commit()

    @contextlib.contextmanager
    def write_batch(self) -> Iterator[None]:
        """Writes made in this block (by this thread) become durable together when it exits.

        One commit (two ``syncfs`` calls, see :mod:`recoil_core.persistence.atomic`) makes
        every scene save, render and ledger line of the batch durable, instead of an fsync
        pair per file. Nothing in the block is durable before it exits; if the block raises,
        the writes not yet placed are dropped, as a crash would drop them.
        """
        with commit_group():
            yield

    # ------------------------------------------------------------------ scenes

    def list_scenes(self, project: str, episode: str) -> list[str]:
        return self._scene_ids(
            self.episode_dir(project, episode),
            lambda child: os.path.isfile(os.path.join(child, MANIFEST_FILE)),
        )

    def _scene_ids(self, episode_dir: Path, keep: Callable[[str], bool]) -> list[str]:
        """The scenes recorded in ``new-scenes.jsonl`` and the scene folders whose path
        passes ``keep``, sorted. The file is read first: a scene leaves it only once its
        folder is in place, so a scene written in full meanwhile is still listed."""
        recorded = self._recorded(episode_dir)
        folders = _child_ids(episode_dir / SCENES_DIR, keep)
        return sorted({*folders, *recorded}) if recorded else folders

    def load_manifest(self, project: str, episode: str, scene_id: str) -> SceneManifest | None:
        scene_dir = self.scene_dir(project, episode, scene_id)
        return self._or_recorded(scene_dir, lambda: self._read_manifest(scene_dir), _first_manifest)

    def _or_recorded(
        self, scene_dir: Path | str, read: Callable[[], R | None], recorded: Callable[[Scene], R]
    ) -> R | None:
        """``read()`` of a scene's files; for a scene without them, ``recorded(scene)`` of
        its document in ``new-scenes.jsonl``; ``read()`` again when it is not there either
        (written in full, and the file removed, since the first look)."""
        found = read()
        if found is not None:
            return found
        scene = self._recorded_scene(Path(scene_dir))
        return recorded(scene) if scene is not None else read()

    def load_scene(
        self, project: str, episode: str, scene_id: str, version: int | None = None
    ) -> Scene | None:
        scene_dir = self.scene_dir(project, episode, scene_id)
        listed = self._listed_or_recorded(scene_dir)
        if listed is None:
            return None
        active, versions, recorded = listed
        wanted = active if version is None else version
        if wanted not in versions:
            return None
        return recorded or self._load_listed(scene_dir, wanted)

    def _listed_or_recorded(
        self, scene_dir: Path
    ) -> tuple[int, frozenset[int], Scene | None] | None:
        """:meth:`_listed_versions`, and the scene itself when it is only recorded in
        ``new-scenes.jsonl`` (then it is v1, the only version)."""

        def listed() -> tuple[int, frozenset[int], Scene | None] | None:
            found = self._listed_versions(scene_dir)
            return None if found is None else (*found, None)

        return self._or_recorded(scene_dir, listed, lambda scene: (1, frozenset({1}), scene))

    def load_status_documents(
        self, project: str, episode: str, scene_id: str
    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The scene's manifest and active version document as decoded JSON (schema version
        checked and migrated, document kind and scene id checked; not structured), or
        ``None`` when the scene has no manifest. ``recoil status`` summarises a few fields
        of each take from these instead of building every ``Scene`` and ``SceneManifest``.
        """
        found = self._status_documents(project, episode, scene_id)
        return None if found is None else (found[0], found[1])

    def _scenes_path(self, project: str, episode: str) -> str:
        scenes = self._scenes_paths.get((project, episode))
        if scenes is None:  # str paths: a Path per scene costs more than reading its manifest
            scenes = os.path.join(self.episode_dir(project, episode), SCENES_DIR)
            self._scenes_paths[(project, episode)] = scenes
        return scenes

    def _status_documents(
        self, project: str, episode: str, scene_id: str
    ) -> tuple[dict[str, Any], dict[str, Any], StatSignature | None, StatSignature | None] | None:
        """:meth:`load_status_documents`, with the signatures of the two files read
        (``None`` for a scene only recorded in ``new-scenes.jsonl``: no file of its own)."""
        validate_id(scene_id, what="scene id")
        scene_dir = f"{self._scenes_path(project, episode)}{os.sep}{scene_id}"
        if current_group() is not None:
            self._settle(Path(scene_dir))
        return self._or_recorded(
            scene_dir,
            lambda: self._status_files(scene_id, scene_dir),
            lambda scene: (
                _decoded(MANIFEST_KIND, _first_manifest(scene)),
                _decoded(SCENE_KIND, scene),
                None,
                None,
            ),
        )

    def _status_files(
        self, scene_id: str, scene_dir: str
    ) -> tuple[dict[str, Any], dict[str, Any], StatSignature, StatSignature] | None:
        """:meth:`_status_documents` of the scene's files (``None``: it has no manifest)."""
        manifest_path = f"{scene_dir}{os.sep}{MANIFEST_FILE}"
        found = read_body(manifest_path, MANIFEST_KIND)
        if found is None:
            return None
        manifest, manifest_st = found
        active = manifest.get("active_version")
        versions = manifest.get("versions")
        if manifest.get("scene_id") != scene_id or not isinstance(versions, list):
            self._read_manifest(Path(scene_dir))  # raises what the full read says of it
            raise CorruptDocumentError(manifest_path, "not a manifest of this scene")
        if not isinstance(active, int) or not any(
            isinstance(entry, dict) and entry.get("version") == active for entry in versions
        ):
            self._read_manifest(Path(scene_dir))
            raise CorruptDocumentError(manifest_path, "its active version is not listed")
        scene_path = f"{scene_dir}{os.sep}{version_file_name(active)}"
        found = read_body(scene_path, SCENE_KIND)
        if found is None:
            raise CorruptDocumentError(
                scene_path, f"the manifest lists v{active} but its document is missing"
            )
        scene, scene_st = found
        if scene.get("scene_id") != scene_id:
            raise CorruptDocumentError(
                scene_path, f"scene_id {scene.get('scene_id')!r} does not match its folder"
            )
        return manifest, scene, stat_signature(manifest_st), stat_signature(scene_st)

    def status_index(self, project: str, episode: str, tag: str) -> StatusIndex | None:
        """The episode's :class:`StatusIndex` for a reader whose kept fields are ``tag``
        (``None`` inside a write batch: reads there must see the batch's pending writes)."""
        if current_group() is not None:
            return None
        from recoil_core.persistence.status_index import StatusIndex

        return StatusIndex(self, project, episode, tag)

    def load_active(self, project: str, episode: str, scene_id: str) -> tuple[Scene, int] | None:
        scene_dir = self.scene_dir(project, episode, scene_id)
        listed = self._listed_or_recorded(scene_dir)
        if listed is None:
            return None
        active, _, recorded = listed
        return recorded or self._load_listed(scene_dir, active), active

    def _load_listed(self, scene_dir: Path, version: int) -> Scene:
        scene = self._read_scene(scene_dir, version)
        if scene is None:
            path = scene_dir / version_file_name(version)
            raise CorruptDocumentError(
                str(path), f"the manifest lists v{version} but its document is missing"
            )
        return scene

    def create_scene(self, project: str, episode: str, scene: Scene) -> int:
        """Persist a new scene as v1. Inside a write batch, while this object holds the
        episode lock, the scene is recorded in ``new-scenes.jsonl`` and gets its folder
        at its next save (:mod:`recoil_core.persistence.fs_new_scenes`)."""
        scene_dir = self.scene_dir(project, episode, scene.scene_id)
        episode_dir = scene_dir.parent.parent
        payload = encode_document(SCENE_KIND, scene)
        with self._mutex(scene_dir):
            existing = self._read_manifest(scene_dir)
            if existing is not None:
                raise SceneExistsError(scene.scene_id, existing.active_version)
            if self._new_scenes.recorded(episode_dir, scene.scene_id) is not None:
                raise SceneExistsError(scene.scene_id, 1)
            if not self._new_scenes.record(episode_dir, scene.scene_id, payload):
                self._write_new(scene_dir, scene, payload)  # no batch, or not the holder
        return 1

    def _write_new(
        self, scene_dir: Path, scene: Scene, payload: bytes, *, recorded: bool = False
    ) -> None:
        """Write a new scene's folder: ``payload`` (``scene`` encoded) as v1, then its
        manifest. ``recorded``: the scene was recorded in ``new-scenes.jsonl``; reads stop
        looking for it there once its manifest is in place."""
        ensure_directory(scene_dir)
        self._write_scene(scene_dir, 1, payload)
        then = None
        if recorded:
            episode_dir, scene_id = scene_dir.parent.parent, scene.scene_id
            then = functools.partial(self._new_scenes.written, episode_dir, scene_id)
        self._write_manifest(scene_dir, _first_manifest(scene), stage=1, then=then)

    def _write_if_recorded(self, scene_dir: Path) -> None:
        """Give a scene this object recorded (and nothing has written in full since) its
        folder, before a write that reads its manifest."""
        payload = self._new_scenes.recorded(scene_dir.parent.parent, scene_dir.name)
        if payload is not None:
            scene = self._recorded_document(scene_dir, payload)
            self._write_new(scene_dir, scene, payload, recorded=True)

    def save_scene(
        self, project: str, episode: str, scene: Scene, *, expected_version: int
    ) -> None:
        scene_dir = self.scene_dir(project, episode, scene.scene_id)
        episode_dir = scene_dir.parent.parent
        payload = encode_document(SCENE_KIND, scene)
        with self._mutex(scene_dir):
            if self._new_scenes.recorded(episode_dir, scene.scene_id) is not None:
                if expected_version != 1:
                    raise SceneVersionConflictError(scene.scene_id, expected_version, 1)
                self._write_new(scene_dir, scene, payload, recorded=True)  # v1 is this one
                return
            self._settle(scene_dir)
            active = self._active_version(scene_dir, episode_dir)
            if active != expected_version:
                raise SceneVersionConflictError(scene.scene_id, expected_version, active)
            self._require_readable(scene_dir, active)
            self._write_scene(scene_dir, active, payload)

    def stage_candidate(self, project: str, episode: str, scene: Scene, *, note: str = "") -> int:
        scene_dir = self.scene_dir(project, episode, scene.scene_id)
        payload = encode_document(SCENE_KIND, scene)
        with self._mutex(scene_dir):
            self._write_if_recorded(scene_dir)
            manifest = self._read_manifest(scene_dir)
            if manifest is None:
                raise SceneNotFoundError(project, episode, scene.scene_id)
            version = manifest.latest_version + 1
            self._write_scene(scene_dir, version, payload)
            manifest.versions.append(
                VersionEntry(
                    version=version,
                    downstream=Downstream.NOT_DERIVED,
                    note=note,
                    derivation_digest=scene.derivation_digest,
                )
            )
            self._write_manifest(scene_dir, manifest, stage=1)
        return version

    def conform(self, project: str, episode: str, scene_id: str, version: int | None = None) -> int:
        scene_dir = self.scene_dir(project, episode, scene_id)
        with self._mutex(scene_dir):
            self._write_if_recorded(scene_dir)
            manifest = self._read_manifest(scene_dir)
            if manifest is None:
                raise SceneNotFoundError(project, episode, scene_id)
            version = conform_target(manifest, version)
            entry = manifest.entry(version)
            self._load_listed(scene_dir, version)
            entry.downstream = Downstream.DERIVED
            manifest.active_version = version
            self._write_manifest(scene_dir, manifest)
        return version

    # ------------------------------------------------------------------ recorded new scenes

    def _recorded(self, episode_dir: Path) -> dict[str, bytes]:
        """Scenes recorded in the episode's ``new-scenes.jsonl`` and not yet in a folder,
        by id: this object's own while it holds the lock, the file's otherwise."""
        if self._new_scenes.holds(episode_dir):
            return self._new_scenes.scenes(episode_dir)
        return self._read_recorded(episode_dir)

    def _recorded_scene(self, scene_dir: Path) -> Scene | None:
        """A scene with no manifest, as recorded in ``new-scenes.jsonl`` (or ``None``)."""
        payload = self._recorded(scene_dir.parent.parent).get(scene_dir.name)
        return None if payload is None else self._recorded_document(scene_dir, payload)

    @staticmethod
    def _recorded_document(scene_dir: Path, payload: bytes) -> Scene:
        source = f"{scene_dir.parent.parent / NEW_SCENES_FILE} (scene {scene_dir.name})"
        return structure_document(SCENE_KIND, parse_json(payload, source), Scene, source)

    def _read_recorded(self, episode_dir: Path) -> dict[str, bytes]:
        """The file another process (a run) records new scenes in, read again only when it
        changed."""
        path = episode_dir / NEW_SCENES_FILE
        signature = file_signature(path)
        if signature is None:
            self._recorded_files.pop(path, None)
            return {}
        cached = self._recorded_files.get(path)
        if cached is not None and cached[0] == signature:
            return cached[1]
        scenes = read_new_scenes(path)
        self._recorded_files[path] = (signature, scenes)
        return scenes

    def _write_recorded_scenes(
        self, episode_dir: Path, recorded: dict[str, bytes] | None = None
    ) -> None:
        """Give every scene recorded in the episode's ``new-scenes.jsonl`` and not yet in a
        folder its folder (one commit), then remove the file. Called holding the lock,
        with nothing recording: when it is taken (a killed run's scenes: read from the
        file) and let go (``recorded``: what this object recorded and did not write)."""
        path = episode_dir / NEW_SCENES_FILE
        if not os.path.exists(path):
            return
        if recorded is None:
            recorded = read_new_scenes(path)
        written = 0
        with commit_group():
            for scene_id, payload in recorded.items():
                if id_problem(scene_id) is not None:
                    raise CorruptDocumentError(str(path), f"{scene_id!r} is not a scene id")
                scene_dir = episode_dir / SCENES_DIR / scene_id
                with self._mutex(scene_dir):
                    if self._read_manifest(scene_dir) is None:  # else its folder is newer
                        scene = self._recorded_document(scene_dir, payload)
                        self._write_new(scene_dir, scene, payload)
                        written += 1
        os.unlink(path)
        fsync_directory(episode_dir)
        self._recorded_files.pop(path, None)
        if written:
            log.info("%s: wrote %d scene(s) recorded in %s", episode_dir, written, path.name)

    # ------------------------------------------------------------------ derivation manifest

    def load_derivation(self, project: str, episode: str) -> dict[str, Any]:
        path = self.episode_dir(project, episode) / DERIVATION_FILE
        self._settle(path.parent)
        document = self._read(path, DERIVATION_KIND, _DerivationDocument)
        return {} if document is None else document.stages

    def save_derivation(self, project: str, episode: str, manifest: dict[str, Any]) -> None:
        episode_dir = self.episode_dir(project, episode)
        path = episode_dir / DERIVATION_FILE
        payload = encode_document(DERIVATION_KIND, _DerivationDocument(dict(manifest)), indent=True)
        with self._mutex(episode_dir):
            self._settle(episode_dir)
            self._read(path, DERIVATION_KIND, _DerivationDocument)  # never replace a corrupt one
            ensure_directory(episode_dir)
            write_atomic(path, payload)

    # ------------------------------------------------------------------ ledger

    def append_ledger(self, entry: LedgerEntry) -> bool:
        episode_dir = self.episode_dir(entry.project, entry.episode)
        with self._mutex(episode_dir):
            return self._ledger.append(episode_dir, entry)

    def read_ledger(self, project: str, episode: str | None = None) -> list[LedgerEntry]:
        episodes = self.list_episodes(project) if episode is None else [episode]
        entries: list[LedgerEntry] = []
        for name in episodes:
            entries.extend(read_ledger_file(self.episode_dir(project, name) / LEDGER_FILE))
        return entries

    def sweep_temp_files(self, project: str, episode: str) -> int:
        """Remove the temp files a writer killed mid-write left in the episode's folder,
        its scenes' folders and its renders folder. Call it holding the episode lock (no
        writer of this episode is running then)."""
        episode_dir = self.episode_dir(project, episode)
        folders = [episode_dir, episode_dir / RENDERS_DIR]
        try:
            with os.scandir(episode_dir / "scenes") as scenes:
                folders += [Path(e.path) for e in scenes if e.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            pass
        removed = sum(remove_temp_files(folder) for folder in folders)
        if removed:
            log.info("%s: removed %d temp file(s) left by killed writers", episode_dir, removed)
        return removed

    # ------------------------------------------------------------------ review marks

    def load_marks(self, project: str, episode: str) -> Marks:
        return read_marks(marks_path(self.episode_dir(project, episode)))

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
        """Read-compare-write of ``review/marks.json``
        (:mod:`~recoil_core.persistence.fs_marks`)."""
        validate_id(scene_id, what="scene id")
        path = marks_path(self.episode_dir(project, episode))
        return save_mark(
            path,
            (scene_id, beat_id),
            document,
            expected_revision=expected_revision,
            mutex=self._mutex(path.parent),
        )

    # ------------------------------------------------------------------ discovery and locking

    def list_projects(self) -> list[str]:
        return _child_ids(self.root, lambda _child: True)

    def list_episodes(self, project: str) -> list[str]:
        validate_id(project, what="project")
        return _child_ids(self.root / project, lambda _child: True)

    def lock_episode(
        self, project: str, episode: str, *, timeout_s: float | None = 0.0
    ) -> contextlib.AbstractContextManager[None]:
        episode_dir = self.episode_dir(project, episode)
        return self._hold(project, episode, episode_dir, timeout_s)

    @contextlib.contextmanager
    def _hold(
        self, project: str, episode: str, episode_dir: Path, timeout_s: float | None
    ) -> Iterator[None]:
        ensure_directory(episode_dir)
        lock = self._locks.get(episode_dir)
        if lock is None:
            lock = filelock.FileLock(episode_dir / LOCK_FILE, thread_local=False)
            self._locks[episode_dir] = lock
        try:
            lock.acquire(timeout=-1 if timeout_s is None else timeout_s)
        except filelock.Timeout:
            waited = "" if not timeout_s else f" after waiting {timeout_s:g}s"
            raise EpisodeLockedError(
                f"episode {project}/{episode} is locked by another recoil process{waited} "
                f"(lock file {episode_dir / LOCK_FILE}); wait for it to finish, or run again "
                "with --wait to wait for the lock"
            ) from None
        held = self._held.get(episode_dir, 0)
        if held == 0:
            self._lock_epochs[episode_dir] = self._lock_epochs.get(episode_dir, 0) + 1
            try:
                self._write_recorded_scenes(episode_dir)  # a killed holder's
            except BaseException:
                lock.release()
                raise
            self._new_scenes.begin(episode_dir)
        self._held[episode_dir] = held + 1
        try:
            yield
        finally:
            self._held[episode_dir] -= 1
            try:
                if not self._held[episode_dir]:
                    remaining = self._new_scenes.end(episode_dir)
                    self._write_recorded_scenes(episode_dir, remaining)
            finally:
                lock.release()

    def renders_dir(self, project: str, episode: str) -> str:
        directory = self.episode_dir(project, episode) / RENDERS_DIR
        ensure_directory(directory)
        return str(directory)


def _child_ids(directory: Path, keep: Callable[[str], bool]) -> list[str]:
    """Names of sub-folders of ``directory`` that are valid ids and whose path passes
    ``keep``. The listing tells folders apart without a ``stat`` per child."""
    try:
        with os.scandir(directory) as children:
            return sorted(
                child.name
                for child in children
                if id_problem(child.name) is None and child.is_dir() and keep(child.path)
            )
    except FileNotFoundError:
        return []


def _first_manifest(scene: Scene) -> SceneManifest:
    """The manifest of a scene whose only version is its first, active (a new scene)."""
    entry = VersionEntry(
        version=1, downstream=Downstream.DERIVED, derivation_digest=scene.derivation_digest
    )
    return SceneManifest(scene.scene_id, 1, [entry])


def _decoded(kind: str, obj: object) -> dict[str, Any]:
    """``obj`` as the decoded JSON of its ``kind`` document (what ``read_body`` returns)."""
    decoded: dict[str, Any] = parse_json(encode_document(kind, obj), kind)  # type: ignore[assignment]
    return decoded
