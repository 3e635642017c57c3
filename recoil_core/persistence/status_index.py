"""The episode's status index (``.status-index.json``): what ``recoil status`` kept of each
scene at its last run, so an unchanged scene is not read and parsed again. A cache of the
:class:`~recoil_core.persistence.filesystem.FilesystemBackend`'s documents: losing it costs
a slower status, never a wrong one."""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from typing import TYPE_CHECKING, Any

import orjson

from recoil_core.ids import validate_id
from recoil_core.model import SCHEMA_VERSION
from recoil_core.persistence.atomic import temp_path
from recoil_core.persistence.filesystem import MANIFEST_FILE
from recoil_core.persistence.fs_documents import StatSignature, read_file, version_file_name

if TYPE_CHECKING:
    from recoil_core.persistence.filesystem import FilesystemBackend

__all__ = ["RACY_NS", "STATUS_INDEX_FILE", "STATUS_INDEX_KIND", "StatusIndex"]

STATUS_INDEX_FILE = ".status-index.json"
"""Per episode: what ``recoil status`` keeps of each scene between runs (a cache, see
:class:`StatusIndex`)."""
STATUS_INDEX_KIND = "status_index"
RACY_NS = 2_000_000_000
"""A scene file changed less than this before a status began reading is not indexed: a
second change in the same clock tick could leave its signature as it was (git's "racily
clean" entries)."""


def _reads_back(value: Any) -> bool:
    """Whether orjson writes ``value`` as JSON that reads back equal to it: no NaN or
    infinity (written as ``null``), no integer wider than 64 bits, no tuple, only string
    keys."""
    stack = [value]
    pop, extend = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is dict:
            for key in item:
                if type(key) is not str:
                    return False
            extend(item.values())
        elif kind is list:
            extend(item)
        elif kind is int:
            if not -(2**63) <= item < 2**64:
                return False
        elif kind is float:
            if item - item != 0.0:  # NaN or an infinity
                return False
        else:
            return False
    return True


def _clock_ns() -> int:
    """Now, for the racily-clean rule (tests move it)."""
    return time.time_ns()


class StatusIndex:
    """What ``recoil status`` kept of each scene at its last run, in the episode's
    ``.status-index.json``, so that a scene whose files have not changed since is not read
    and parsed again (10,000 scenes: a ``stat`` of two files each instead of reading and
    parsing 50 MB).

    An entry holds the signatures (inode, size, mtime, ctime) of the scene's manifest and
    of the active version document it read, the active version, and the reader's fields
    of the two (``tag`` names their form). It is used only while both files still have
    those signatures: every write replaces a file (a new inode, a new ctime), and a hand
    edit changes its ctime even when it keeps its size and mtime. Files changed less than
    :data:`RACY_NS` before the reading began are not indexed (see there). The file is a
    header line (kind, tag, schema version, digest of the rest) and the entries; an index
    that is missing, of another tag or schema, or whose digest does not match is ignored,
    and then every scene is read. It is written whole to a temp name and renamed, never
    synced (a cache: what a crash loses is read again), only when an entry changed, and
    never inside a write batch; a failed write is ignored (a read-only episode is read
    every time)."""

    def __init__(self, backend: FilesystemBackend, project: str, episode: str, tag: str):
        self._backend = backend
        self._project = project
        self._episode = episode
        self._tag = tag
        self._episode_dir = backend.episode_dir(project, episode)
        self._path = os.path.join(self._episode_dir, STATUS_INDEX_FILE)
        self._scenes = backend._scenes_path(project, episode)
        self._started_ns = _clock_ns()
        self._old = self._load()
        self._kept: dict[str, list[Any]] = {}
        self._read: dict[str, tuple[StatSignature, int, StatSignature]] = {}
        self._added = False

    def _header(self, body: bytes) -> dict[str, Any]:
        return {
            "document": STATUS_INDEX_KIND,
            "tag": self._tag,
            "schema_version": SCHEMA_VERSION,
            "digest": hashlib.blake2b(body, digest_size=16).hexdigest(),
        }

    def _load(self) -> dict[str, Any]:
        found = read_file(self._path)
        if found is None:
            return {}
        head, _, body = found[0].partition(b"\n")
        try:
            if orjson.loads(head) != self._header(body):
                return {}
            entries = orjson.loads(body)
        except orjson.JSONDecodeError:
            return {}
        return entries if isinstance(entries, dict) else {}

    def scene_ids(self) -> list[str]:
        """The folders of the episode's scenes and the scenes only recorded in its
        ``new-scenes.jsonl`` (:meth:`FilesystemBackend.list_scenes` without its look for
        each one's manifest: :meth:`cached` and :meth:`read` look)."""
        return self._backend._scene_ids(self._episode_dir, lambda child: True)

    def cached(self, scene_id: str) -> Any | None:
        """The fields kept of ``scene_id`` when its manifest and active version document
        are the files they were read from; otherwise ``None`` (read them: :meth:`read`)."""
        entry = self._old.get(scene_id)
        if entry is None:
            return None
        validate_id(scene_id, what="scene id")
        scene_dir = f"{self._scenes}{os.sep}{scene_id}{os.sep}"
        try:
            manifest_signature, active, scene_signature, fields = entry
            st = os.stat(f"{scene_dir}{MANIFEST_FILE}")
            if [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns] != manifest_signature:
                return None
            st = os.stat(f"{scene_dir}{version_file_name(active)}")
            if [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns] != scene_signature:
                return None
        except (OSError, TypeError, ValueError):
            return None
        self._kept[scene_id] = entry
        return fields

    def read(self, scene_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """:meth:`FilesystemBackend.load_status_documents`, remembering which files were
        read for :meth:`keep`."""
        found = self._backend._status_documents(self._project, self._episode, scene_id)
        if found is None:
            return None
        manifest, scene, manifest_signature, scene_signature = found
        if manifest_signature is not None and scene_signature is not None:  # files: indexable
            self._read[scene_id] = (manifest_signature, manifest["active_version"], scene_signature)
        return manifest, scene

    def keep(self, scene_id: str, fields: Any) -> None:
        """Index ``fields`` (JSON types only: lists, not tuples) of the files :meth:`read`
        just read of ``scene_id``, unless one of them changed too recently to tell a next
        change from it."""
        read = self._read.pop(scene_id, None)
        if read is None:
            return
        manifest_signature, active, scene_signature = read
        changed = max(*manifest_signature[2:], *scene_signature[2:])
        if changed >= self._started_ns - RACY_NS or not _reads_back(fields):
            return
        self._kept[scene_id] = [list(manifest_signature), active, list(scene_signature), fields]
        self._added = True

    def save(self) -> None:
        """Write the entries used or kept by this reading, if they differ from the file's."""
        if not self._added and self._kept.keys() == self._old.keys():
            return
        try:
            body = orjson.dumps(self._kept)
        except orjson.JSONEncodeError:  # pragma: no cover - keep() let in only what reads back
            return
        payload = orjson.dumps(self._header(body)) + b"\n" + body
        temp = temp_path(self._episode_dir, STATUS_INDEX_FILE)
        try:
            with open(temp, "xb") as file:
                file.write(payload)
            os.replace(temp, self._path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temp)
