"""The filesystem backend's ledger: ``<episode>/ledger.jsonl``, one ``LedgerEntry`` a line.

The ledger is append-only; an entry is committed once its line, newline included, is
fsynced (inside a write batch: when the batch commits). A final line without a newline is
a torn append (the process died mid-write): readers ignore it, and the next append
truncates it (logging a warning) before writing. A complete line that cannot be read is
corruption and raises. Appends hold an exclusive lock on the ledger file, and each
:class:`LedgerFiles` keeps an index of entry ids per file (built on first use, then
extended by reading only the bytes appended since), so a duplicate ``entry_id`` is
refused in O(1) even when another process appended it.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import attrs
import filelock

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from recoil_core.convert import LEDGER_KIND, document_version
from recoil_core.errors import CorruptDocumentError
from recoil_core.model import LedgerEntry
from recoil_core.persistence.atomic import ensure_directory, fsync_directory, sync_file, write_all
from recoil_core.persistence.fs_documents import encode_document, parse_json, structure_document

log = logging.getLogger("recoil_core.persistence.filesystem")  # the backend's own log

LEDGER_FILE = "ledger.jsonl"
LEDGER_LOCK_FILE = ".ledger.lock"
"""Locked instead of the ledger itself where ``flock`` is missing."""


@attrs.define
class _LedgerIndex:
    """Entry ids of a ledger file up to ``offset`` (the end of its last complete line)."""

    ids: set[str] = attrs.field(factory=set)
    offset: int = 0
    lines: int = 0
    inode: int | None = None


class LedgerFiles:
    """The ledger files one backend object appends to, each with its index of entry ids."""

    def __init__(self) -> None:
        self._indexes: dict[Path, _LedgerIndex] = {}

    def append(self, episode_dir: Path, entry: LedgerEntry) -> bool:
        """Append ``entry`` to the episode's ledger; ``False`` if its ``entry_id`` is there
        already (whoever appended it). The caller serialises appends to one episode within
        this process; the file lock keeps other processes out."""
        path = episode_dir / LEDGER_FILE
        line = encode_document(LEDGER_KIND, entry) + b"\n"
        if entry.entry_id in self._refresh(path)[0].ids:
            return False
        ensure_directory(episode_dir)
        created = not path.exists()
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            with _exclusive(fd, episode_dir / LEDGER_LOCK_FILE):
                index, size = self._refresh(path)  # another process may have appended
                if entry.entry_id in index.ids:
                    return False
                if size > index.offset:
                    log.warning(
                        "%s: removing an incomplete last line (%d bytes) left by an "
                        "interrupted append before appending",
                        path,
                        size - index.offset,
                    )
                    os.ftruncate(fd, index.offset)
                write_all(fd, line)
                sync_file(fd, path)
                index.inode = os.fstat(fd).st_ino
                index.ids.add(entry.entry_id)
                index.offset += len(line)
                index.lines += 1
        finally:
            os.close(fd)
        if created:
            fsync_directory(episode_dir)
        return True

    def _refresh(self, path: Path) -> tuple[_LedgerIndex, int]:
        """Bring the entry-id index up to date with the file; return it and the file size."""
        index = self._indexes.get(path)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self._indexes[path] = index = _LedgerIndex()
            return index, 0
        if index is None or index.inode != st.st_ino or st.st_size < index.offset:
            index = _LedgerIndex(inode=st.st_ino)
            self._indexes[path] = index
        if st.st_size > index.offset:
            with open(path, "rb") as handle:
                handle.seek(index.offset)
                chunk = handle.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            for raw in complete.splitlines():
                index.lines += 1
                if raw.strip():
                    entry_id = _ledger_entry_id(raw, path, index.lines)
                    if entry_id in index.ids:
                        raise CorruptDocumentError(
                            f"{path} line {index.lines}",
                            f"entry_id {entry_id!r} appears twice; a charge is recorded once",
                        )
                    index.ids.add(entry_id)
            index.offset += len(complete)
            return index, index.offset + len(chunk) - len(complete)
        return index, st.st_size


def read_ledger_file(path: Path) -> list[LedgerEntry]:
    """Every entry of the ledger at ``path`` (none if there is no file), in order; a torn
    last line is ignored, a line that cannot be read or a repeated ``entry_id`` raises
    :class:`CorruptDocumentError` naming the line."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    lines = raw.split(b"\n")
    torn = lines.pop()
    if torn:
        log.warning(
            "%s: ignoring an incomplete last line (%d bytes) left by an interrupted "
            "append; the next append removes it",
            path,
            len(torn),
        )
    entries: list[LedgerEntry] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        source = f"{path} line {number}"
        data = parse_json(line, source)
        entry = structure_document(LEDGER_KIND, data, LedgerEntry, source)
        if entry.entry_id in seen:
            raise CorruptDocumentError(
                source,
                f"entry_id {entry.entry_id!r} appears twice (also on line "
                f"{seen[entry.entry_id]}); a charge is recorded once",
            )
        seen[entry.entry_id] = number
        entries.append(entry)
    return entries


@contextlib.contextmanager
def _exclusive(fd: int, fallback: Path) -> Iterator[None]:
    """Hold an exclusive lock on the open file ``fd`` across processes (blocking)."""
    if fcntl is None:  # pragma: no cover - platforms without flock
        with filelock.FileLock(fallback):
            yield
        return
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _ledger_entry_id(raw: bytes, path: Path, number: int) -> str:
    source = f"{path} line {number}"
    data = parse_json(raw, source)
    if not isinstance(data, dict):
        raise CorruptDocumentError(source, "expected a JSON object")
    document_version(data, source, to="append to this ledger")
    entry_id = data.get("entry_id")
    if not isinstance(entry_id, str) or not entry_id:
        raise CorruptDocumentError(source, "missing entry_id")
    return entry_id
