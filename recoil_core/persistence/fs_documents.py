"""How the filesystem backend's documents are encoded, read and told apart.

A document is JSON (:mod:`recoil_core.jsonio`) wrapped by :func:`recoil_core.convert.dump_document`
with its kind and schema version; reading checks both and migrates an older version. A
file's :data:`StatSignature` tells one write of it from the next (every write replaces the
file), which is how the backend knows a document it read is still the one on disk.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, TypeVar

from recoil_core import jsonio
from recoil_core.convert import dump_document, load_document, migrated
from recoil_core.errors import CorruptDocumentError

T = TypeVar("T")

StatSignature = tuple[int, int, int, int]
"""(inode, size, mtime_ns, ctime_ns) of a file."""


def version_file_name(version: int) -> str:
    """File name of a scene version document: ``v0001.json``."""
    return f"v{version:04d}.json"


def file_signature(path: Path) -> StatSignature | None:
    """The :data:`StatSignature` of the file at ``path``, or ``None`` when there is none."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return stat_signature(st)


def stat_signature(st: os.stat_result) -> StatSignature:
    """What tells one version of a file from the next (each write replaces the file)."""
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def encode_document(kind: str, obj: object, *, indent: bool = False) -> bytes:
    """``obj`` as the JSON bytes of a ``kind`` document (kind and schema version stamped)."""
    return jsonio.dumps(dump_document(kind, obj), indent=indent)


def parse_json(raw: bytes, source: str) -> object:
    """Decode ``raw``; :class:`CorruptDocumentError` naming ``source`` if it is not JSON."""
    try:
        return jsonio.loads(raw)
    except ValueError as exc:
        raise CorruptDocumentError(source, f"not valid JSON: {exc}") from None


def structure_document(kind: str, data: object, cls: type[T], source: str) -> T:
    """The ``cls`` value of the decoded ``kind`` document ``data`` read from ``source``
    (migrated if older; :class:`CorruptDocumentError` if it is another kind)."""
    obj = load_document(kind, data, cls, source=source)
    found = data.get("document") if isinstance(data, dict) else None
    if found != kind:
        raise CorruptDocumentError(source, f"expected a {kind} document, found {found!r}")
    return obj


def read_document(path: Path, kind: str, cls: type[T]) -> tuple[T, StatSignature] | None:
    """The ``kind`` document at ``path`` as a ``cls`` and the signature of the very file it
    was read from; ``None`` when there is no file."""
    try:
        with open(path, "rb", buffering=0) as file:
            st = os.fstat(file.fileno())
            raw = file.read()
    except FileNotFoundError:
        return None
    source = str(path)
    return structure_document(kind, parse_json(raw, source), cls, source), stat_signature(st)


def read_file(path: str) -> tuple[bytes, os.stat_result] | None:
    """The bytes of the file at ``path`` and its ``fstat`` (the very file read), or
    ``None`` when there is none. (``os.open`` and ``os.read``: a third of the cost of a
    file object for a document of a few KB.)"""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # a folder where the file should be: no file
            return None
        raw = os.read(fd, st.st_size + 1)
        if len(raw) > st.st_size:  # grew since the fstat: read the rest
            chunks = [raw]
            while chunk := os.read(fd, 1 << 16):
                chunks.append(chunk)
            raw = b"".join(chunks)
    finally:
        os.close(fd)
    return raw, st


def read_body(path: str, kind: str) -> tuple[dict[str, Any], os.stat_result] | None:
    """The body of the ``kind`` document at ``path`` as decoded JSON, its schema version
    checked and migrated (as :func:`load_document` does before structuring), and the
    file's ``fstat``; ``None`` when there is no file."""
    found = read_file(path)
    if found is None:
        return None
    raw, st = found
    data = parse_json(raw, path)
    if not isinstance(data, dict):
        raise CorruptDocumentError(path, f"expected a JSON object, got {type(data).__name__}")
    if data.get("document") != kind:
        raise CorruptDocumentError(
            path, f"expected a {kind} document, found {data.get('document')!r}"
        )
    return migrated(kind, data, path), st
