"""sha256 digests of media and input files, read in chunks."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO

CHUNK = 1024 * 1024
"""Bytes read (and copied) at a time."""


def digest(handle: BinaryIO) -> tuple[str, int]:
    """sha256 hex digest and size of what ``handle`` reads to its end."""
    sha256 = hashlib.sha256()
    size = 0
    while chunk := handle.read(CHUNK):
        sha256.update(chunk)
        size += len(chunk)
    return sha256.hexdigest(), size


def file_sha256(path: Path) -> str:
    """sha256 hex digest of a file's content."""
    with path.open("rb") as handle:
        return digest(handle)[0]
