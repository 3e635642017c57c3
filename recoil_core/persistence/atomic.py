"""Crash-safe file writes: whole-file replacement and fsynced directory entries.

A reader of a file written here sees the old bytes or the new ones, never a part of them.

Writes are durable when the call returns, unless they are made inside a
:func:`commit_group`: then the group collects them and makes them durable together when
it commits (group commit). A group writes each new file to its temp name at once, and at
commit syncs the file system once, renames every temp file into place, and syncs again:
two ``syncfs(2)`` calls for the whole batch instead of two fsyncs per file. Until the
commit nothing in the group is promised; a crash leaves each of its files old or new,
never torn, just like a crash between two ordinary atomic writes.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

TEMP_SUFFIX = ".tmp"
"""Temporary files are ``.<name>.<pid>.<thread>.<n>.tmp`` next to their target."""

SYNC_ENV = "RECOIL_FS_SYNC"
"""``syncfs`` (default on Linux) or ``fsync``: how a :class:`CommitGroup` makes its files
durable. ``fsync`` syncs each file and directory of the group one by one; it is what
platforms without ``syncfs(2)`` use."""

FEW_APPENDS = 4
"""A group that only appended to this many files or fewer (a batch of ``submitting``
records) fsyncs them instead of calling ``syncfs``, which would also write back every
other dirty page of the file system (downloads in progress, other writers' files)."""

_counter = itertools.count()
_DIRECTORY_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
_local = threading.local()


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is a temporary file left by :func:`write_atomic` (e.g. after a crash)."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def remove_temp_files(folder: Path) -> int:
    """Remove the temp files a writer killed mid-write left in ``folder`` (none when the
    folder is missing); how many. Call it only where no writer of ``folder`` runs."""
    try:
        with os.scandir(folder) as entries:
            stale = [entry.path for entry in entries if is_temp_name(entry.name)]
    except FileNotFoundError:
        return 0
    removed = 0
    for path in stale:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
            removed += 1
    return removed


def temp_path(directory: Path, name: str) -> Path:
    """A fresh temp file name for ``name`` in ``directory`` (matched by :func:`is_temp_name`)."""
    unique = f"{os.getpid()}.{threading.get_ident()}.{next(_counter)}"
    return directory / f".{name}.{unique}{TEMP_SUFFIX}"


def _fsync_directory_now(directory: str | Path) -> None:
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


def fsync_directory(directory: Path) -> None:
    """Make the directory's entries (a rename, a new file) durable. No-op where unsupported.

    Inside a :func:`commit_group` the directory is synced when the group commits.
    """
    group = current_group()
    if group is not None:
        group.sync_directory(directory)
        return
    _fsync_directory_now(directory)


def sync_file(fd: int, path: Path) -> None:
    """fsync the open file ``fd`` (at ``path``), or leave it to the current group's commit."""
    group = current_group()
    if group is not None:
        group.sync_path(path)
        return
    os.fsync(fd)


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte of ``data`` is written."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def write_atomic(
    path: Path,
    data: bytes,
    *,
    stage: int = 0,
    on_replaced: Callable[[], None] | None = None,
) -> None:
    """Replace ``path`` with ``data``: temp file in the same directory, fsync, rename, fsync dir.

    ``on_replaced`` runs once ``path`` holds ``data`` durably. Several files meant to be
    placed together go in one :func:`commit_group`.

    Inside a :func:`commit_group` the temp file is written now and renamed when the group
    commits; ``stage`` orders renames within a group: a file of stage 1 is renamed only
    after every stage-0 rename is durable (a manifest after the document it lists).
    """
    temp = temp_path(path.parent, path.name)
    group = current_group()
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        try:
            write_all(fd, data)
            if group is None:
                os.fsync(fd)
        finally:
            os.close(fd)
        if group is not None:
            group.replace(temp, path, stage=stage, on_replaced=on_replaced)
            return
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_directory_now(path.parent)
    if on_replaced is not None:
        on_replaced()


def replace_durably(
    temp: Path, final: Path, *, on_replaced: Callable[[], None] | None = None
) -> None:
    """Rename the complete file ``temp`` (same directory) over ``final``, durably.

    Outside a group: fsync ``temp``, rename, fsync the directory. Inside one: at commit.
    ``on_replaced`` runs once the rename is durable.
    """
    group = current_group()
    if group is not None:
        group.replace(temp, final, on_replaced=on_replaced)
        return
    fd = os.open(temp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, final)
    _fsync_directory_now(final.parent)
    if on_replaced is not None:
        on_replaced()


def ensure_directory(directory: Path) -> None:
    """Create ``directory`` (and parents); fsync the parent of each directory created."""
    try:  # the common case, a new folder in an existing one: one system call
        os.mkdir(directory)
    except FileExistsError:
        if directory.is_dir():
            return
        raise
    except FileNotFoundError:
        pass
    else:
        fsync_directory(directory.parent)
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


# --------------------------------------------------------------------------- group commit


def _load_syncfs() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.syncfs
    except (OSError, AttributeError):  # pragma: no cover - a libc without syncfs
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int

    def syncfs(fd: int) -> int:
        if function(fd) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"syncfs: {os.strerror(errno)}")
        return 0

    return syncfs


@functools.cache
def _syncfs() -> Callable[[int], int] | None:
    """``syncfs(2)`` from the C library, loaded on first use (``ctypes`` is not cheap)."""
    return _load_syncfs()


def sync_method() -> str:
    """``syncfs`` or ``fsync``: what a group commit uses here (``RECOIL_FS_SYNC`` overrides)."""
    wanted = os.environ.get(SYNC_ENV, "").strip().lower()
    if wanted == "fsync" or _syncfs() is None:
        return "fsync"
    return "syncfs"


_Rename = tuple[int, str, str, str, "Callable[[], None] | None"]
"""(stage, temp, final, final's folder, on_replaced)"""


class CommitGroup:
    """Atomic writes collected in one thread and made durable together by :meth:`commit`.

    Use through :func:`commit_group`. Files written in place (an append) are registered
    with :meth:`sync_path`; directories whose entries changed with :meth:`sync_directory`;
    appends to make only if the group commits with :meth:`at_commit`. Paths are kept as
    strings: a batch handles thousands of them.
    """

    def __init__(self, method: str | None = None) -> None:
        self.method = method or sync_method()
        self._renames: list[_Rename] = []
        self._paths: set[str] = set()
        self._directories: set[str] = set()
        self._pending_dirs: set[str] = set()
        self._at_commit: list[tuple[Callable[[], None], Callable[[], None]]] = []

    def __len__(self) -> int:
        return len(self._renames) + len(self._paths) + len(self._directories) + len(self._at_commit)

    def at_commit(self, write: Callable[[], None], *, undo: Callable[[], None]) -> None:
        """Run ``write`` when the group commits, before its first sync (an append that the
        sync makes durable: register the file with :meth:`sync_path`); run ``undo``
        instead if the group is abandoned or its commit fails, so that a write the group
        never made leaves nothing, in the file or in memory."""
        self._at_commit.append((write, undo))

    def replace(
        self,
        temp: Path,
        final: Path,
        *,
        stage: int = 0,
        on_replaced: Callable[[], None] | None = None,
    ) -> None:
        """Rename the complete ``temp`` over ``final`` at commit (after stage - 1 is durable)."""
        target = os.fspath(final)
        folder = os.path.dirname(target)
        self._renames.append((stage, os.fspath(temp), target, folder, on_replaced))
        self._pending_dirs.add(folder)

    def sync_path(self, path: Path) -> None:
        self._paths.add(os.fspath(path))

    def sync_directory(self, directory: Path) -> None:
        self._directories.add(os.fspath(directory))

    def has_pending(self, directory: Path) -> bool:
        """Whether a rename into ``directory`` waits for the commit."""
        return bool(self._pending_dirs) and os.fspath(directory) in self._pending_dirs

    def commit(self) -> None:
        """Make everything in the group durable: sync, rename stage by stage, sync."""
        renames, self._renames = self._renames, []
        paths, self._paths = self._paths, set()
        directories, self._directories = self._directories, set()
        self._pending_dirs = set()
        at_commit, self._at_commit = self._at_commit, []
        if not renames and not paths and not directories and not at_commit:
            return
        try:
            for write, _ in at_commit:
                write()
            folders = {r[3] for r in renames}
            self._sync_data([r[1] for r in renames], paths, directories, folders)
            stages = sorted({r[0] for r in renames})
            for stage in stages:
                done = renames if len(stages) == 1 else [r for r in renames if r[0] == stage]
                for _, temp, final, _, _ in done:
                    os.replace(temp, final)
                self._sync_entries({r[3] for r in done})
                for *_, on_replaced in done:
                    if on_replaced is not None:
                        on_replaced()
        except BaseException:
            for _, temp, *_ in renames:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)
            for _, undo in at_commit:
                undo()
            raise

    def abandon(self) -> None:
        """Drop the group without committing: its temp files are removed, nothing renamed,
        no :meth:`at_commit` write made."""
        renames, self._renames = self._renames, []
        self._paths, self._directories, self._pending_dirs = set(), set(), set()
        at_commit, self._at_commit = self._at_commit, []
        for _, temp, *_ in renames:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
        for _, undo in at_commit:
            undo()

    def _sync_data(
        self,
        temps: list[str],
        paths: set[str],
        directories: set[str],
        folders: set[str],
    ) -> None:
        few_appends = not temps and not directories and len(paths) <= FEW_APPENDS
        if self.method == "syncfs" and not few_appends:
            self._syncfs(folders | directories | {os.path.dirname(p) for p in paths})
            return
        for path in [*temps, *paths]:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for directory in directories:
            _fsync_directory_now(directory)

    def _sync_entries(self, folders: set[str]) -> None:
        if self.method == "syncfs":
            self._syncfs(folders)
            return
        for folder in folders:
            _fsync_directory_now(folder)

    @staticmethod
    def _syncfs(folders: set[str]) -> None:
        """One ``syncfs`` per file system the folders live on."""
        syncfs = _syncfs()
        assert syncfs is not None
        devices: dict[int, str] = {}
        for folder in folders:
            devices.setdefault(_device(folder), folder)
        for folder in devices.values():
            fd = os.open(folder, _DIRECTORY_FLAGS)
            try:
                syncfs(fd)
            finally:
                os.close(fd)


_DEVICES: dict[str, int] = {}


def _device(folder: str) -> int:
    """The device number of ``folder``'s file system (remembered: one ``stat`` per folder)."""
    device = _DEVICES.get(folder)
    if device is None:
        if len(_DEVICES) > 1024:  # bounded: a run touches thousands of scene folders
            _DEVICES.clear()
        device = _DEVICES[folder] = os.stat(folder).st_dev
    return device


def current_group() -> CommitGroup | None:
    """The :class:`CommitGroup` open in this thread, if any."""
    group: CommitGroup | None = getattr(_local, "group", None)
    return group


@contextlib.contextmanager
def commit_group(method: str | None = None) -> Iterator[CommitGroup]:
    """Collect this thread's atomic writes and make them durable together on exit.

    On a normal exit the group commits (and the ``with`` returns once all is durable). On
    an exception nothing more is renamed: the writes already placed stay (a crash would
    keep them or not), the rest are dropped. Nested use joins the outer group.
    """
    outer = current_group()
    if outer is not None:
        yield outer
        return
    group = CommitGroup(method)
    _local.group = group
    try:
        yield group
    except BaseException:
        group.abandon()
        raise
    else:
        group.commit()
    finally:
        _local.group = None
