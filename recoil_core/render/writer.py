"""The render writer: media and its provenance sidecar put in place atomically, together.

Every modality writes its outputs through here, so checksums and sidecars look the same
whichever runner or provider produced them.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from recoil_core import jsonio
from recoil_core.convert import converter
from recoil_core.ids import validate_id
from recoil_core.persistence.atomic import (
    commit_group,
    ensure_directory,
    is_temp_name,
    replace_durably,
    temp_path,
    write_atomic,
)
from recoil_core.render.checksums import CHUNK, digest
from recoil_core.render.naming import sidecar_name
from recoil_core.render.provenance import OutputRecord, Provenance, provenance_document
from recoil_core.render.secret_scan import SecretInProvenanceError, find_secret_keys

SIDECAR_KIND = "render_sidecar"
SIDECAR_SCHEMA_VERSION = 1


@attrs.frozen
class RenderSidecar:
    """The sidecar document ``<render>.json``: the render's checksum and provenance."""

    render: str
    sha256: str
    bytes: int
    provenance: dict[str, Any]
    """The provenance's JSON form, with ``output`` (name, sha256, bytes)."""
    schema_version: int = SIDECAR_SCHEMA_VERSION
    kind: str = SIDECAR_KIND


@attrs.frozen
class RenderRecord:
    """A render written in place: its path, sidecar, checksum and size."""

    path: Path
    sidecar_path: Path
    sha256: str
    bytes: int


class RenderFolders:
    """The temp files of each render folder written to, listed once and kept up to date.

    A write first removes the temp files a crashed write of the same name left behind.
    Listing a folder of thousands of renders for every write made writing N renders
    O(N^2) in CPU (3,000 renders: 10.8 s listing each time, 6.2 s listing once). A temp
    file is left behind only by a process that died mid-write, and while a run writes an
    episode's renders it holds the episode lock, so no other process writes there: one
    instance per run (the lock's scope) is exact. The folder is listed on the first write
    into it (or when the folder itself was replaced: one ``stat`` per write checks).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._folders: dict[Path, tuple[int, set[str]]] = {}

    def prepare(self, dest_dir: Path, names: tuple[str, ...]) -> int:
        """Create ``dest_dir`` if needed, remove the temp files a crashed write of one of
        ``names`` left there, and return the folder's device number."""
        try:
            info = os.stat(dest_dir)
        except FileNotFoundError:
            ensure_directory(dest_dir)  # its entry made durable like the files put in it
            info = os.stat(dest_dir)
        prefixes = tuple(f".{name}." for name in names)
        with self._lock:
            cached = self._folders.get(dest_dir)
            if cached is not None and cached[0] == info.st_ino:
                temps = cached[1]
            else:
                with os.scandir(dest_dir) as entries:
                    temps = {e.name for e in entries if is_temp_name(e.name)}
                self._folders[dest_dir] = (info.st_ino, temps)
            stale = [t for t in temps if any(_is_temp_of(t, p) for p in prefixes)]
            temps.difference_update(stale)
        for leftover in stale:
            (dest_dir / leftover).unlink(missing_ok=True)
        return info.st_dev


def _is_temp_of(temp: str, prefix: str) -> bool:
    """Whether ``temp`` matches the glob ``<prefix>*.tmp``."""
    return temp.startswith(prefix) and temp[len(prefix) :].endswith(".tmp")


PROCESS_FOLDERS = RenderFolders()
"""The folders :func:`write_render` uses when its caller passes none: shared by every
write in this process (a temp file another process leaves in a folder already listed
here is not removed, only replaced by the next write of its name)."""


def _copy_atomic(source: Path, final: Path, *, remove_source: bool = False) -> tuple[str, int]:
    """Copy ``source`` to ``final`` through a same-dir temp file; never a partial ``final``.

    With ``remove_source`` the source is deleted once the copy is durable.
    """
    temp = temp_path(final.parent, final.name)
    sha256 = hashlib.sha256()
    size = 0
    try:
        with temp.open("xb") as out, source.open("rb") as src:
            while chunk := src.read(CHUNK):
                sha256.update(chunk)
                size += len(chunk)
                out.write(chunk)
        replace_durably(temp, final, on_replaced=source.unlink if remove_source else None)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return sha256.hexdigest(), size


def _move_atomic(source: Path, final: Path) -> tuple[str, int]:
    """Hash ``source``, then rename it to ``final`` durably (same file system only)."""
    with source.open("rb") as src:
        digested = digest(src)
    replace_durably(source, final)
    return digested


def _movable(source: Path, device: int) -> bool:
    """A regular file (not a link to one) on file system ``device``: a rename places it."""
    try:
        info = os.lstat(source)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_dev == device


def _sidecar_bytes(sidecar: RenderSidecar) -> bytes:
    # compact: sidecars are read by tools (and jq); indenting costs ~1 ms of CPU per render
    document = converter.unstructure(sidecar, RenderSidecar)
    return jsonio.dumps(document, sort_keys=True, default=str) + b"\n"


def write_render(
    dest_dir: Path,
    name: str,
    media: Path,
    provenance: Provenance | Mapping[str, Any],
    *,
    move: bool = True,
    folders: RenderFolders | None = None,
) -> RenderRecord:
    """Put finished ``media`` at ``dest_dir/name`` and its sidecar at ``dest_dir/name.json``.

    Both files are written through a same-directory temp file, synced and renamed, so the
    final names only ever hold complete files; a rerun replaces them (and any temp file a
    crash left behind, found through ``folders``: see :class:`RenderFolders`). They are
    placed together by one commit group (the caller's, when it has one: see
    :func:`~recoil_core.persistence.atomic.commit_group`). The sidecar carries
    ``provenance`` (a :class:`~recoil_core.render.provenance.Provenance`, or a mapping
    written as given) plus ``provenance.output`` (name, sha256, bytes). Provenance holding
    credential-like fields is refused before anything is written. With ``move`` the
    source media is removed once in place: renamed when it is on the same file system (a
    downloaded ``.part`` file beside the renders), copied otherwise.
    """
    validate_id(name, what="render file name")
    if isinstance(provenance, Provenance):
        recorded = provenance_document(provenance)
    else:
        recorded = dict(provenance)
    secrets = find_secret_keys(recorded)
    if secrets:
        raise SecretInProvenanceError(name, secrets)
    final = dest_dir / name
    sidecar = dest_dir / sidecar_name(name)
    device = (folders or PROCESS_FOLDERS).prepare(dest_dir, (name, sidecar.name))
    with commit_group():  # both files placed and made durable together
        elsewhere = os.path.abspath(media) != os.path.abspath(final)
        if move and elsewhere and _movable(media, device):
            sha256, size = _move_atomic(media, final)
        else:
            sha256, size = _copy_atomic(media, final, remove_source=move and elsewhere)
        recorded["output"] = converter.unstructure(OutputRecord(name, sha256, size))
        document = RenderSidecar(render=name, sha256=sha256, bytes=size, provenance=recorded)
        write_atomic(sidecar, _sidecar_bytes(document))
    return RenderRecord(path=final, sidecar_path=sidecar, sha256=sha256, bytes=size)
