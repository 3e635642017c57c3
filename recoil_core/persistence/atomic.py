"""Crash-safe file writes: whole-file replacement and fsynced directory entries.

A reader of a file written here sees the old bytes or the new ones, never a part of them.
"""

from __future__ import annotations

import itertools
import os
import threading
from pathlib import Path

TEMP_SUFFIX = ".tmp"
"""Temporary files are ``.<name>.<pid>.<thread>.<n>.tmp`` next to their target."""

_counter = itertools.count()
_DIRECTORY_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is a temporary file left by :func:`write_atomic` (e.g. after a crash)."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def fsync_directory(directory: Path) -> None:
    """Make the directory's entries (a rename, a new file) durable. No-op where unsupported."""
    try:
        fd = os.open(directory, _DIRECTORY_FLAGS)
    except OSError:  # pragma: no cover - platforms that cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems that refuse fsync on directories
        pass
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte of ``data`` is written."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def write_atomic(path: Path, data: bytes, *, sync_dir: bool = True) -> None:
    """Replace ``path`` with ``data``: temp file in the same directory, fsync, rename, fsync dir.

    ``sync_dir=False`` leaves the directory fsync to a caller that renames several files
    into one directory and makes the renames durable together with :func:`fsync_directory`.
    """
    directory = path.parent
    temp = directory / (
        f".{path.name}.{os.getpid()}.{threading.get_ident()}.{next(_counter)}{TEMP_SUFFIX}"
    )
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_directory(directory)


def ensure_directory(directory: Path) -> None:
    """Create ``directory`` (and parents); fsync the parent of each directory created."""
    if directory.is_dir():
        return
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    directory.mkdir(parents=True, exist_ok=True)
    for created in reversed(missing):
        fsync_directory(created.parent)
