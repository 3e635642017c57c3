"""New scenes recorded in one append-only file before their folder is written.

A run creates a scene with the ``submitting`` state of its first take, and a provider
slot waits on that write. Writing a scene's folder and its two documents (``v0001.json``,
``manifest.json``) is the dearest write of a take on most file systems (three new inodes),
and the take's next state (its job id) replaces ``v0001.json`` a moment later anyway.

So inside a write batch, while the :class:`~recoil_core.persistence.filesystem.FilesystemBackend`
object holds the episode lock, ``create_scene`` records the scene's document instead, as
one line of ``<episode>/new-scenes.jsonl`` that the batch appends when it commits, just
before its sync: the line is durable when the batch is, so the rule "persist each state
before the side effect that follows it" holds, and a batch that never commits leaves no
line (the lines of one batch are one ``write``). The scene's folder is written at its
next ``save_scene``, with the newer document as ``v0001.json``. Every read sees a
recorded scene as version 1, active.

When the backend lets go of the lock, every scene still only recorded is written in full
(one commit), then the file is removed. A process killed with scenes only recorded leaves
the file behind: readers without the lock (``recoil status``) read those scenes from it,
and the next holder of the lock writes them in full before anything else, then removes it.
A scene already written in full is never written over from the file (its folder is newer).

A line is one scene document (the same bytes as ``v0001.json``), ended by a newline. A
last line without its newline is an append the process did not finish: it was never
durable and no create followed it, so readers skip it. A complete line that cannot be
read is corruption: :class:`~recoil_core.errors.CorruptDocumentError`.
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path

from recoil_core.errors import CorruptDocumentError
from recoil_core.persistence.atomic import CommitGroup, current_group, write_all
from recoil_core.persistence.fs_documents import parse_json, read_file

NEW_SCENES_FILE = "new-scenes.jsonl"


class NewScenes:
    """The scenes one backend object recorded, per episode it holds locked."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._open: dict[Path, _Recording] = {}

    def begin(self, episode_dir: Path) -> None:
        """The episode's lock is held from now: creates in write batches may be recorded."""
        with self._guard:
            self._open.setdefault(
                episode_dir, _Recording(episode_dir / NEW_SCENES_FILE, self._guard)
            )

    def end(self, episode_dir: Path) -> dict[str, bytes]:
        """The lock is about to be let go: nothing more is recorded, the file is closed.
        Returns the scenes recorded and not written in full since (every other line of
        the file is a scene whose folder is in place)."""
        with self._guard:
            recording = self._open.pop(episode_dir, None)
        if recording is None:
            return {}
        recording.close()
        return recording.scenes

    def record(self, episode_dir: Path, scene_id: str, payload: bytes) -> bool:
        """Record ``payload`` (a scene document) for ``scene_id`` in the current write
        batch; False when there is none or this object does not hold the episode's lock
        (then nothing is recorded: write the scene in full).

        The line is appended when the batch commits, before its sync, so it is durable
        when the batch is; a batch that is abandoned (or whose commit fails) leaves no
        line and forgets the scene."""
        group = current_group()
        with self._guard:
            recording = self._open.get(episode_dir)
            if recording is None or group is None:
                return False
            recording.append(group, scene_id, payload)
            return True

    def recorded(self, episode_dir: Path, scene_id: str) -> bytes | None:
        """The document recorded for ``scene_id`` and not written in full since."""
        recording = self._open.get(episode_dir)
        return None if recording is None else recording.scenes.get(scene_id)

    def holds(self, episode_dir: Path) -> bool:
        """Whether this object records the episode's new scenes (it holds its lock)."""
        return episode_dir in self._open

    def scenes(self, episode_dir: Path) -> dict[str, bytes]:
        """The scenes recorded and not written in full since, by id (a copy)."""
        with self._guard:  # the writer thread may be adding or writing one
            recording = self._open.get(episode_dir)
            return {} if recording is None else dict(recording.scenes)

    def written(self, episode_dir: Path, scene_id: str) -> None:
        """``scene_id`` now has its folder: reads find it there."""
        with self._guard:
            recording = self._open.get(episode_dir)
            if recording is not None:
                recording.scenes.pop(scene_id, None)


class _Recording:
    """One episode's file while its lock is held: the scenes recorded and not written in
    full since, and the lines the current write batch appends when it commits."""

    def __init__(self, path: Path, guard: threading.Lock) -> None:
        self.path = path
        self._guard = guard  # NewScenes's: a batch commits on the writer thread
        self.scenes: dict[str, bytes] = {}
        self._fd: int | None = None
        self._size = 0
        self._batch: _Batch | None = None
        self._closed = False

    def append(self, group: CommitGroup, scene_id: str, payload: bytes) -> None:
        """Record the scene now (reads see it); ``group`` appends its line when it commits,
        just before its sync (abandoned, it appends nothing and the scene is forgotten)."""
        self.scenes[scene_id] = payload
        if self._batch is None or self._batch.group is not group:
            if self._fd is None and not os.path.exists(self.path):
                group.sync_directory(self.path.parent)  # the commit creates the file
            self._batch = _Batch(group)
            group.at_commit(
                functools.partial(self._commit, self._batch),
                undo=functools.partial(self._undo, self._batch),
            )
            group.sync_path(self.path)
        self._batch.lines.append((scene_id, payload))

    def _commit(self, batch: _Batch) -> None:
        with self._guard:
            if self._batch is batch:
                self._batch = None
            if self._closed:  # pragma: no cover - the lock was let go with a batch open
                raise RuntimeError(f"{self.path}: recording ended before a batch committed")
            self._opened()
            batch.start = self._size
            self._write([payload for _, payload in batch.lines])

    def _undo(self, batch: _Batch) -> None:
        with self._guard:
            for scene_id, _ in batch.lines:
                self.scenes.pop(scene_id, None)
            if self._batch is batch:
                self._batch = None
            if batch.start is not None and self._fd is not None:  # appended, sync failed
                os.ftruncate(self._fd, batch.start)
                self._size = batch.start

    def _opened(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self._size = os.fstat(self._fd).st_size
        return self._fd

    def _write(self, payloads: list[bytes]) -> None:
        """Append one line per payload in one write. A failed append is cut off again: the
        file never holds half a line followed by more lines."""
        fd = self._opened()
        data = b"".join(payload + b"\n" for payload in payloads)
        try:
            write_all(fd, data)
        except BaseException:
            os.ftruncate(fd, self._size)
            raise
        self._size += len(data)

    def close(self) -> None:
        self._closed = True
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class _Batch:
    """The lines one write batch appends at its commit."""

    def __init__(self, group: CommitGroup) -> None:
        self.group = group
        self.lines: list[tuple[str, bytes]] = []
        self.start: int | None = None
        """The file's size before the lines were appended (set at the commit)."""


def read_new_scenes(path: Path) -> dict[str, bytes]:
    """The scene documents recorded in the file at ``path``, by scene id, in the order
    written (empty when there is no file). A last line without its newline is skipped."""
    found = read_file(os.fspath(path))
    if found is None:
        return {}
    raw = found[0]
    complete = raw[: raw.rfind(b"\n") + 1]
    scenes: dict[str, bytes] = {}
    for number, line in enumerate(complete.splitlines(), start=1):
        source = f"{path} (line {number})"
        data = parse_json(line, source)
        scene_id = data.get("scene_id") if isinstance(data, dict) else None
        if not isinstance(scene_id, str):
            raise CorruptDocumentError(source, "not a scene document: it has no scene_id")
        scenes[scene_id] = line
    return scenes
