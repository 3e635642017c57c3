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

To test the example of a guide, take its files from the Markdown (:func:`markdown_files`),
install them from the guide's pyproject.toml (:func:`write_pyproject_distribution`) and
run ``recoil`` or ``pytest`` against them (:func:`run_with_distributions`).
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from recoil_core.plugins import ENTRY_POINT_GROUP

__all__ = [
    "markdown_blocks",
    "markdown_files",
    "modules_from_sources",
    "on_sys_path",
    "plugin_env",
    "pythonpath_env",
    "run_with_distributions",
    "write_distribution",
    "write_pyproject_distribution",
]

DEFAULT_REQUIRES: tuple[str, ...] = ("recoil-core>=0.1,<0.2",)
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


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


def markdown_blocks(text: str, language: str | None = None) -> list[str]:
    """The bodies of the fenced code blocks in Markdown ``text``, in order.

    With ``language``, only the blocks whose opening fence names it (``python``, ``toml``).
    """
    return [body for lang, body in _FENCE.findall(text) if language is None or lang == language]


def markdown_files(text: str) -> dict[str, str]:
    """The code blocks of Markdown ``text`` that are files, by path, without that first line.

    A block is a file when its first line is ``# <path>`` naming a path with a ``/`` in it
    (``# src/pkg/plugin.py``) or a ``.toml`` file (``# pyproject.toml``).
    """
    files = {}
    for body in markdown_blocks(text):
        first, _, rest = body.partition("\n")
        if first.startswith("# ") and ("/" in first or first.endswith(".toml")):
            files[first[2:].strip()] = rest
    return files


def modules_from_sources(files: Mapping[str, str], src: str = "src") -> dict[str, str]:
    """Module sources by dotted name, from the ``.py`` files of ``files`` under ``src/``.

    ``files`` maps a ``/``-separated path to its text: ``src/pkg/plugin.py`` becomes
    ``pkg.plugin``; paths outside ``src/`` are left out.
    """
    prefix = src.rstrip("/") + "/"
    return {
        path.removeprefix(prefix).removesuffix(".py").replace("/", "."): source
        for path, source in files.items()
        if path.startswith(prefix) and path.endswith(".py")
    }


def write_pyproject_distribution(root: Path, pyproject: str, modules: Mapping[str, str]) -> Path:
    """Install ``modules`` into ``root`` as the distribution ``pyproject`` (TOML text) describes.

    Name, version, ``dependencies`` and the ``recoil.plugins`` entry points come from its
    ``[project]`` table, as ``pip install`` would write them (without a build step).
    Returns the ``.dist-info`` directory.
    """
    project = tomllib.loads(pyproject)["project"]
    entry_points = project["entry-points"][ENTRY_POINT_GROUP]
    return write_distribution(
        root,
        str(project["name"]),
        version=str(project["version"]),
        entry_points={str(name): str(ref) for name, ref in entry_points.items()},
        modules=modules,
        requires=[str(req) for req in project.get("dependencies", [])],
    )


def plugin_env(
    *roots: Path, drop: Sequence[str] = ("RECOIL_",), settings: Mapping[str, str] | None = None
) -> dict[str, str]:
    """This process's environment with ``roots`` first on ``PYTHONPATH`` (if any are given).

    Variables whose names start with one of ``drop`` (default: every Recoil setting) are
    removed, then ``settings`` are set.
    """
    env = pythonpath_env(*roots) if roots else dict(os.environ)
    for key in [key for key in env if key.startswith(tuple(drop))]:
        del env[key]
    env.update(settings or {})
    return env


def run_with_distributions(
    args: Sequence[str],
    *roots: Path,
    cwd: Path,
    drop: Sequence[str] = ("RECOIL_",),
    settings: Mapping[str, str] | None = None,
    timeout: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    """Run ``args`` in ``cwd`` with :func:`plugin_env` (``roots``, ``drop``, ``settings``).

    Output is captured as text; a non-zero exit is returned, not raised::

        run_with_distributions([recoil, "plugins", "list", "--json"], site, cwd=tmp_path)
    """
    return subprocess.run(
        list(args),
        capture_output=True,
        text=True,
        cwd=cwd,
        env=plugin_env(*roots, drop=drop, settings=settings),
        timeout=timeout,
        check=False,
    )
