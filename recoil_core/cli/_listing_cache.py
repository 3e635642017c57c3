"""The stored output of ``recoil plugins list``, printed again while nothing it came from
has changed.

The full listing imports every installed plugin and runs its registration hooks, after
importing typer, attrs, pluggy and stevedore: several times the cost of reading the entry
points. What it prints depends only on the interpreter, the files it imported (the
plugins' code, the kernel's, their dependencies'), the installed distributions and the
``RECOIL_*`` environment. So a listing stores what it printed with a fingerprint of
those, and a later ``recoil plugins list`` (or ``--json``) whose fingerprint matches
prints the stored text, importing nothing beyond the standard library (stevedore caches
its entry-point scans the same way).

The fingerprint, checked in full on every use:

- ``sys.executable``, ``sys.version`` and ``sys.path``;
- size and mtime of each folder on ``sys.path`` (installing or removing a distribution
  adds or removes a folder in site-packages), of every module file the listing imported
  outside the standard library, of every ``entry_points.txt`` and ``.pth`` file in those
  folders, and of each plugin distribution's ``METADATA``;
- the working directory, when ``sys.path`` has a relative entry;
- a digest of every ``RECOIL_*`` variable (names and values; no value is stored).

Nothing is stored for a listing with a plugin that is not ``ok`` or ``disabled`` (its
error may come from a file that was never imported), for ``--hook`` or ``--check`` or a
root option, or when one of the files changed less than :data:`RACY_S` before the
listing began (a change in the same clock tick could go unseen, as git says of racily
clean files). The stored plain text is never printed to a terminal: there the listing
draws a table as wide as the terminal. ``RECOIL_LISTING_CACHE=off`` turns the cache off.

This module imports only the standard library: it runs before the CLI is imported.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

ENV = "RECOIL_LISTING_CACHE"
"""``off`` (or ``0``, ``false``, ``no``): never read or write the stored listing."""

FORMAT = 1
"""Bumped when the stored document changes shape; another format is ignored."""

RACY_S = 2.0
"""A file modified this close to the listing's start is not trusted to a fingerprint."""

FORMS: dict[tuple[str, ...], str] = {
    ("plugins", "list"): "plain",
    ("plugins", "list", "--json"): "json",
}
"""The command lines the stored listing answers, and which of its texts each prints."""

_started: float | None = None
"""When the listing this process runs began (set by :func:`serve` on a miss)."""
_head_at_start: list[Any] | None = None
"""The listing's :func:`_head`, taken before anything was imported."""


def enabled(env: Mapping[str, str] | None = None) -> bool:
    """Whether the stored listing may be used (``RECOIL_LISTING_CACHE`` is not off)."""
    value = (os.environ if env is None else env).get(ENV, "").strip().lower()
    return value not in ("off", "0", "false", "no")


def cache_file() -> str:
    """Where this interpreter's stored listing lives (one per ``sys.executable``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "recoil", f"plugins-list-{_digest([sys.executable])[:16]}.json")


def serve(argv: Sequence[str]) -> bool:
    """Print the stored listing if ``argv`` asks for it and its fingerprint still holds.

    Returns ``False`` when the full listing must run; it then stores its output (see
    :func:`store`) if ``argv`` is one of :data:`FORMS`.
    """
    global _started, _head_at_start
    form = FORMS.get(tuple(argv))
    if form is None or not enabled():
        return False
    import time

    _started = time.time()
    _head_at_start = _head()
    if form == "plain" and _isatty():
        return False
    stored = _load()
    if stored is None:
        return False
    if stored.get("head") != _head_at_start or not _unchanged(stored.get("files")):
        return False
    sys.stdout.write(stored[form])
    sys.stdout.flush()
    return True


def wanted() -> bool:
    """Whether this process runs a listing that :func:`store` should keep."""
    return _started is not None


def store(statuses: Iterable[str], plain: str, json_text: str, plugin_files: Iterable[str]) -> None:
    """Keep what the listing printed (``plain`` and ``json_text``, each ending in a new
    line), unless a plugin is not fine or a file changed during the listing. Never
    fails: a cache that cannot be written is not used."""
    if _started is None or any(status not in ("ok", "disabled") for status in statuses):
        return
    try:
        files = _files(plugin_files)
        if any(mtime_ns / 1e9 >= _started - RACY_S for _, mtime_ns, _ in files):
            return
        document = {"format": FORMAT, "head": _head_at_start, "files": files}
        _write({**document, "plain": plain, "json": json_text})
    except (OSError, ValueError):
        return


# --------------------------------------------------------------------------- fingerprint


def _isatty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _digest(parts: Iterable[str]) -> str:
    try:
        from _blake2 import blake2b  # built in: spares importing hashlib and OpenSSL
    except ImportError:  # pragma: no cover - another interpreter
        from hashlib import blake2b
    digest = blake2b(digest_size=20)
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


def _head() -> list[Any]:
    """What is checked without looking at files: interpreter, path, environment."""
    entries = [str(entry) for entry in sys.path]
    # "" is the working directory; a relative folder is looked up from it (an editable
    # install's path hook entry is relative but names no folder)
    relative = any(
        not entry or (not os.path.isabs(entry) and os.path.isdir(entry)) for entry in entries
    )
    recoil_env = sorted((k, v) for k, v in os.environ.items() if k.startswith("RECOIL_"))
    return [
        FORMAT,
        sys.executable,
        sys.version,
        entries,
        os.getcwd() if relative else None,
        _digest(part for item in recoil_env for part in item),
    ]


def _path_files() -> list[str]:
    """Every ``entry_points.txt`` and ``.pth`` file in the folders on ``sys.path``."""
    found: list[str] = []
    for entry in sys.path:
        folder = entry or "."
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if name.endswith((".dist-info", ".egg-info")):
                found.append(os.path.join(folder, name, "entry_points.txt"))
            elif name.endswith(".pth"):
                found.append(os.path.join(folder, name))
    return found


def _module_files() -> list[str]:
    """The files of every module imported so far, standard library excepted."""
    stdlib = os.path.dirname(os.__file__) + os.sep
    files = []
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not isinstance(path, str):
            continue
        if path.startswith(stdlib) and "-packages" + os.sep not in path:
            continue
        files.append(path)
    return files


def _files(plugin_files: Iterable[str]) -> list[list[Any]]:
    """``[path, mtime_ns, size]`` (``-1, -1`` for a missing file) of every file the
    listing depends on."""
    folders = [os.path.abspath(entry or ".") for entry in sys.path]
    paths = sorted({*folders, *_module_files(), *_path_files(), *plugin_files})
    return [[path, *_signature(path)] for path in paths]


def _signature(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return -1, -1
    return st.st_mtime_ns, st.st_size


def _unchanged(files: Any) -> bool:
    if not isinstance(files, list):
        return False
    for item in files:
        if not isinstance(item, list) or len(item) != 3:
            return False
        path, mtime_ns, size = item
        if not isinstance(path, str) or _signature(path) != (mtime_ns, size):
            return False
    return len(files) > 0 and {item[0] for item in files} >= set(_path_files())


# --------------------------------------------------------------------------- the file


def _load() -> dict[str, Any] | None:
    import json

    try:
        with open(cache_file(), "rb") as handle:
            stored = json.loads(handle.read())
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("format") != FORMAT:
        return None
    if not all(isinstance(stored.get(form), str) for form in FORMS.values()):
        return None
    return stored


def _write(document: dict[str, Any]) -> None:
    """Replace the stored listing atomically (a reader sees the old one or the new one)."""
    import json
    from pathlib import Path

    from recoil_core.persistence.atomic import ensure_directory, write_atomic

    path = Path(cache_file())
    ensure_directory(path.parent)
    write_atomic(path, json.dumps(document).encode("utf-8"))
