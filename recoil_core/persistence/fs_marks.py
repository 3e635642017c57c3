"""The filesystem backend's review marks: ``<episode>/review/marks.json``.

One document holds every beat's mark as ``{scene_id, beat_id, revision, mark}``; the mark
itself is the caller's own document. A save is a read-compare-write of the whole file
under ``review/.marks.lock`` (never the episode lock, which a run holds for as long as it
runs), refused when the beat's revision is not the one the caller read. A file that
cannot be read raises :class:`CorruptDocumentError` and is never written over.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import attrs
import filelock

from recoil_core.errors import CorruptDocumentError
from recoil_core.persistence.atomic import (
    current_group,
    ensure_directory,
    remove_temp_files,
    write_atomic,
)
from recoil_core.persistence.fs_documents import encode_document, read_document

REVIEW_DIR = "review"
MARKS_FILE = "marks.json"
MARKS_LOCK_FILE = ".marks.lock"
MARKS_KIND = "review_marks"
"""Document kind of ``review/marks.json`` (each mark inside is the caller's own document)."""

Marks = dict[tuple[str, str], tuple[int, dict[str, Any]]]
"""``(scene_id, beat_id)`` -> ``(revision, mark)``."""


@attrs.define
class _MarksDocument:
    """``review/marks.json``: each beat's mark, ``{scene_id, beat_id, revision, mark}``."""

    marks: list[dict[str, Any]] = attrs.field(factory=list)


def marks_path(episode_dir: Path) -> Path:
    return episode_dir / REVIEW_DIR / MARKS_FILE


def read_marks(path: Path) -> Marks:
    """Every beat's mark in the file at ``path`` (none when there is no file)."""
    found = read_document(path, MARKS_KIND, _MarksDocument)
    marks: Marks = {}
    for item in [] if found is None else found[0].marks:
        key, revision, mark = item.get("scene_id"), item.get("revision"), item.get("mark")
        beat_id = item.get("beat_id")
        if (
            not isinstance(key, str)
            or not isinstance(beat_id, str)
            or not isinstance(revision, int)
            or not isinstance(mark, dict)
        ):
            raise CorruptDocumentError(str(path), f"malformed mark entry {item!r}")
        marks[(key, beat_id)] = (revision, mark)
    return marks


def save_mark(
    path: Path,
    key: tuple[str, str],
    document: dict[str, Any],
    *,
    expected_revision: int,
    mutex: threading.RLock,
) -> int | None:
    """Store ``document`` as the mark of ``key`` (``(scene_id, beat_id)``) if its revision
    is still ``expected_revision``; the new revision, or ``None`` when another save came
    first. ``mutex`` serialises this process's saves to the folder (the lock file, other
    processes'). Inside a commit group the file is durable before the lock is let go."""
    folder = path.parent
    with mutex:
        ensure_directory(folder)
        with filelock.FileLock(folder / MARKS_LOCK_FILE, thread_local=False):
            marks = read_marks(path)  # a corrupt file raises: never written over
            found = marks.get(key, (0, {}))[0]
            if found != expected_revision:
                return None
            marks[key] = (found + 1, dict(document))
            body = _MarksDocument(
                [
                    {"scene_id": s, "beat_id": b, "revision": r, "mark": m}
                    for (s, b), (r, m) in sorted(marks.items())
                ]
            )
            remove_temp_files(folder)  # left by a killed writer; none runs now
            write_atomic(path, encode_document(MARKS_KIND, body, indent=True))
            group = current_group()
            if group is not None:
                group.commit()
    return found + 1
