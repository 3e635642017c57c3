"""``recoil_core.api`` is the one module plugins use: it exports what they need, costs nothing
to import, and the repo's own plugins reach the kernel through it alone (``make lint``
runs this file).
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from recoil_core import api
from recoil_core.testing.distributions import markdown_blocks

REPO = Path(__file__).resolve().parents[1]
API_SOURCE = REPO / "recoil_core" / "api.py"
PLUGIN_SOURCES = sorted(
    [
        *REPO.glob("plugins/*/src/**/*.py"),
        *REPO.glob("recoil_plugins_*/src/**/*.py"),
    ]
)
PLUGIN_TESTS = sorted(
    [
        *REPO.glob("plugins/*/tests/**/*.py"),
        *REPO.glob("recoil_plugins_*/tests/**/*.py"),
    ]
)
GUIDES = sorted(
    [
        *REPO.glob("docs/writing-a-*.md"),
        REPO / "docs" / "persistence-backends.md",
        REPO / "docs" / "testing-plugins.md",
        REPO / "docs" / "hooks.md",
    ]
)
PUBLIC = {"recoil_core": {"hookimpl", "__version__"}, "recoil_core.api": None}
"""Kernel modules a plugin may import, with the names it may take (``None``: any)."""


TESTS_PUBLIC = ("recoil_core.api", "recoil_core.testing")
"""Kernel modules a plugin's tests may import (``recoil_core.testing``'s submodules too)."""

EMBEDDED_IMPORT = re.compile(
    r"\bfrom\s+(?P<module>recoil_core(?:\.\w+)*)\s+import\s+(?P<names>\w+(?:\s*,\s*\w+)*)"
    r"|\bimport\s+(?P<plain>recoil_core(?:\.\w+)*)"
)
"""An import of a kernel module written in a string: code a test runs in a subprocess
(``python -c``) or writes to a file."""


def embedded_imports(node: ast.Constant) -> list[tuple[int, str, list[str]]]:
    """``(line, module, names)`` of the kernel imports written in a string constant."""
    found = []
    for match in EMBEDDED_IMPORT.finditer(node.value):
        if match["plain"]:
            found.append((node.lineno, match["plain"], []))
        else:
            names = [name.strip() for name in match["names"].split(",")]
            found.append((node.lineno, match["module"], names))
    return found


def kernel_imports(path: Path, *, strings: bool = False) -> list[tuple[int, str, list[str]]]:
    """``(line, module, names)`` of every import of a ``recoil_core`` module in ``path``;
    with ``strings``, also those written in its string constants."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if strings and isinstance(node, ast.Constant) and isinstance(node.value, str):
            found += embedded_imports(node)
            continue
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
            names = []
        else:
            continue
        for module in modules:
            if module == "recoil_core" or module.startswith("recoil_core."):
                found.append((node.lineno, module, names))
    return found


def private_imports(path: Path, *, tests: bool = False, root: Path = REPO) -> list[str]:
    """The imports in ``path`` of a kernel module (or name) that is not public; with
    ``tests``, ``recoil_core.testing`` is allowed too."""
    problems = []
    for line, module, names in kernel_imports(path):
        if tests and (module == "recoil_core.testing" or module.startswith("recoil_core.testing.")):
            continue
        allowed = PUBLIC.get(module, set())
        if module in PUBLIC and (allowed is None or set(names) <= allowed):
            continue
        where = f"{path.relative_to(root)}:{line}"
        problems.append(f"{where} imports {module} {', '.join(names)}".rstrip())
    return problems


def shipped_test_support(path: Path) -> bool:
    """Whether ``path`` is a plugin's test support (its ``testing`` package or module: fake
    services, pytest fixtures), which may build on ``recoil_core.testing`` as tests do."""
    return any(part in ("testing", "testing.py") for part in path.relative_to(REPO).parts)


def test_plugin_sources_import_the_kernel_only_through_recoil_core_api() -> None:
    assert PLUGIN_SOURCES, "no plugin sources found"
    problems = [
        problem
        for path in PLUGIN_SOURCES
        for problem in private_imports(path, tests=shipped_test_support(path))
    ]

    assert problems == [], (
        "plugin sources must import the kernel through recoil_core.api (private modules may "
        "change without notice); export what is missing there:\n  " + "\n  ".join(problems)
    )


def non_test_api_imports(path: Path, root: Path = REPO) -> list[str]:
    """The kernel imports in ``path``, a plugin's test file, of anything but
    ``recoil_core.api`` and ``recoil_core.testing`` (and its submodules), including
    imports in code a test writes out or runs from a string."""
    problems = []
    for line, module, names in sorted(kernel_imports(path, strings=True), key=lambda i: i[0]):
        if module in TESTS_PUBLIC or module.startswith("recoil_core.testing."):
            continue
        where = f"{path.relative_to(root)}:{line}"
        problems.append(f"{where} imports {module} {', '.join(names)}".rstrip())
    return problems


def test_plugin_tests_use_only_recoil_core_api_and_recoil_core_testing() -> None:
    assert any("recoil_plugins_grouping" in str(path) for path in PLUGIN_TESTS)
    assert any("recoil_plugins_video" in str(path) for path in PLUGIN_TESTS)
    problems = [problem for path in PLUGIN_TESTS for problem in non_test_api_imports(path)]

    assert problems == [], (
        "plugin tests must reach the kernel through recoil_core.api and recoil_core.testing "
        "(add a helper for plugin authors there if one is missing):\n  " + "\n  ".join(problems)
    )


PROBE_TEST = '''\
from recoil_core.api import hookimpl
from recoil_core.testing.installed import InstalledPlugins
import recoil_core.testing
from recoil_core import hookimpl as again
from recoil_core.registry import build_registry
CODE = "import sys; from recoil_core.cli import main; main()"
SOURCE = """
from recoil_core.testing.plans import write_plan
from recoil_core.persistence.filesystem import FilesystemBackend as MyBackend
import recoil_core.model
"""
'''


def test_the_tests_boundary_check_catches_private_imports_in_code_and_in_strings(
    tmp_path: Path,
) -> None:
    source = tmp_path / "test_probe.py"
    source.write_text(PROBE_TEST, encoding="utf-8")

    assert non_test_api_imports(source, root=tmp_path) == [
        "test_probe.py:4 imports recoil_core hookimpl",
        "test_probe.py:5 imports recoil_core.registry build_registry",
        "test_probe.py:6 imports recoil_core.cli main",
        "test_probe.py:7 imports recoil_core.persistence.filesystem FilesystemBackend",
        "test_probe.py:7 imports recoil_core.model",
    ]


@pytest.mark.parametrize("guide", GUIDES, ids=lambda path: path.name)
def test_the_guides_examples_import_the_kernel_only_through_its_api(
    guide: Path, tmp_path: Path
) -> None:
    problems = []
    for number, block in enumerate(markdown_blocks(guide.read_text(encoding="utf-8"), "python")):
        source = tmp_path / f"block{number}.py"
        source.write_text(block, encoding="utf-8")
        problems += private_imports(source, tests=True, root=tmp_path)

    assert problems == []


def test_the_boundary_check_catches_a_private_import(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text(
        "from recoil_core.api import hookimpl\n"
        "from recoil_core import hookimpl as again\n"
        "from recoil_core.persistence.filesystem import RENDERS_DIR\n"
        "import recoil_core.model\n"
        "from recoil_core.testing.plans import canonical_shot\n"
        "from recoil_core import registry\n",
        encoding="utf-8",
    )
    found = private_imports(source, root=tmp_path)

    assert found == [
        "probe.py:3 imports recoil_core.persistence.filesystem RENDERS_DIR",
        "probe.py:4 imports recoil_core.model",
        "probe.py:5 imports recoil_core.testing.plans canonical_shot",
        "probe.py:6 imports recoil_core registry",
    ]
    assert private_imports(source, tests=True, root=tmp_path) == [found[0], found[1], found[3]]


def type_checking_imports() -> dict[str, str]:
    """What the ``if TYPE_CHECKING:`` block of api.py imports: name -> module."""
    tree = ast.parse(API_SOURCE.read_text(encoding="utf-8"))
    [block] = [
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    ]
    imported = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names:
            assert alias.asname == alias.name, f"{alias.name}: re-export it as itself"
            imported[alias.name] = node.module
    return imported


def test_all_is_what_type_checkers_see_and_each_name_is_the_kernels_own() -> None:
    imported = type_checking_imports()

    assert sorted(imported) == api.__all__
    for name, module in imported.items():
        assert getattr(api, name) is getattr(importlib.import_module(module), name), name


def test_star_import_gives_every_public_name_and_nothing_else() -> None:
    namespace: dict[str, object] = {}
    exec("from recoil_core.api import *", namespace)

    assert sorted(set(namespace) - {"__builtins__"}) == api.__all__


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'CanonicalShots'"):
        _ = api.CanonicalShots  # type: ignore[attr-defined]
    with pytest.raises(ImportError):
        exec("from recoil_core.api import CanonicalShots", {})


@pytest.mark.parametrize(
    "name",
    [
        "hookimpl",
        "LazyStrategy",
        "OptionSpec",
        "CanonicalShot",
        "JobStatus",
        "PersistenceBackend",
        "RENDERS_DIR",
        "SCENE_KIND",
        "render_name",
        "validate_id",
        "OptionError",
        "ProviderRejected",
    ],
)
def test_what_plugins_need_is_exported(name: str) -> None:
    assert name in api.__all__


def test_every_kernel_error_is_exported() -> None:
    from recoil_core import errors
    from recoil_core.persistence import protocol

    kernel_errors = {*errors.__all__} | {
        name
        for name in protocol.__all__
        if isinstance(getattr(protocol, name), type)
        and issubclass(getattr(protocol, name), errors.RecoilError)
    }

    assert sorted(kernel_errors - set(api.__all__)) == []


def test_importing_the_api_imports_no_kernel_module_until_a_name_is_used() -> None:
    code = (
        "import sys\n"
        "import recoil_core.api\n"
        "print(sorted(m for m in sys.modules if m.startswith(('recoil_core', 'cattrs'))))\n"
        "from recoil_core.api import LazyStrategy, hookimpl\n"
        "print(sorted(m for m in sys.modules if m.startswith(('recoil_core', 'cattrs'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    first, second = (ast.literal_eval(line) for line in result.stdout.splitlines())

    assert first == ["recoil_core", "recoil_core.api"]
    assert {"recoil_core.lazy", "recoil_core.hookspecs"} <= set(second)
    assert "recoil_core._version" not in second
    assert not {"recoil_core.model", "recoil_core.convert", "cattrs"} & set(second)
