"""Throwaway installed distributions with real ``recoil.plugins`` entry points, for tests.

``write_distribution`` writes ``<name>-<version>.dist-info/`` and the plugin's module
source into a directory. Put that directory on ``PYTHONPATH`` of a ``recoil``
subprocess (:func:`pythonpath_env`) or on ``sys.path`` in-process (:func:`on_sys_path`)
and ``importlib.metadata`` (and so Recoil) sees an installed distribution::

    root = tmp_path / "site"
    write_distribution(
        root, "recoil-hello", entry_points={"hello": "recoil_hello"},
        modules={"recoil_hello": "from recoil_core import hookimpl\\n..."},
    )
    subprocess.run([recoil, "plugins", "list"], env=pythonpath_env(root), check=True)
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from recoil_core.plugins import ENTRY_POINT_GROUP

__all__ = ["on_sys_path", "pythonpath_env", "write_distribution"]

DEFAULT_REQUIRES: tuple[str, ...] = ("recoil-core>=0.1,<0.2",)


def _dist_dir_name(name: str, version: str) -> str:
    """The ``.dist-info`` directory name for a distribution (normalized as pip does)."""
    return f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}.dist-info"


def write_distribution(
    root: Path,
    name: str,
    *,
    version: str = "0.1.0",
    entry_points: Mapping[str, str],
    modules: Mapping[str, str] | None = None,
    requires: Sequence[str] = DEFAULT_REQUIRES,
) -> Path:
    """Write an installed distribution into ``root``; return its ``.dist-info`` directory.

    ``entry_points`` maps a plugin name to its object reference (``module`` or
    ``module:attr``) in the ``recoil.plugins`` group. ``modules`` maps a dotted module
    name to its source (``pkg.plugin`` writes ``pkg/__init__.py`` too). ``requires``
    become ``Requires-Dist`` lines; the default accepts the 0.1 kernel.
    """
    root.mkdir(parents=True, exist_ok=True)
    info = root / _dist_dir_name(name, version)
    info.mkdir()
    metadata = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    metadata += [f"Requires-Dist: {req}" for req in requires]
    (info / "METADATA").write_text("\n".join(metadata) + "\n", encoding="utf-8")
    lines = [f"[{ENTRY_POINT_GROUP}]"] + [f"{ep} = {ref}" for ep, ref in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (info / "RECORD").write_text("", encoding="utf-8")
    for dotted, source in (modules or {}).items():
        parts = dotted.split(".")
        for depth in range(1, len(parts)):
            init = root.joinpath(*parts[:depth], "__init__.py")
            init.parent.mkdir(parents=True, exist_ok=True)
            if not init.exists():
                init.write_text("", encoding="utf-8")
        root.joinpath(*parts[:-1], f"{parts[-1]}.py").write_text(source, encoding="utf-8")
    return info


def pythonpath_env(*roots: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``base`` (default: ``os.environ``) with ``roots`` first on ``PYTHONPATH``."""
    env = dict(os.environ if base is None else base)
    parts = [str(root) for root in roots]
    if env.get("PYTHONPATH"):
        parts.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(parts)
    return env


@contextmanager
def on_sys_path(*roots: Path) -> Iterator[None]:
    """Put ``roots`` first on ``sys.path``; on exit remove them and forget their modules."""
    entries = [str(root) for root in roots]
    before = set(sys.modules)
    sys.path[:0] = entries
    importlib.invalidate_caches()
    try:
        yield
    finally:
        for entry in entries:
            if entry in sys.path:
                sys.path.remove(entry)
        for module_name in set(sys.modules) - before:
            module = sys.modules.get(module_name)
            origin = getattr(module, "__file__", None) or ""
            if any(origin.startswith(entry) for entry in entries):
                del sys.modules[module_name]
