"""docs/persistence-backends.md: the conformance example works as written, and the
variables and tables it documents are the ones the postgres backend uses."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from recoil_postgres import config, schema

DOC = Path(__file__).resolve().parents[3] / "docs" / "persistence-backends.md"


FILESYSTEM_AS_MY_BACKEND = """\
from recoil_core.api import BackendContext
from recoil_core.testing.installed import InstalledPlugins

FILESYSTEM = InstalledPlugins("filesystem").backend("filesystem")


def MyBackend(store):  # the installed filesystem backend over ``store``
    return FILESYSTEM.factory(BackendContext(store))
"""
"""Stands for the docs' ``MyBackend``: the kernel's filesystem backend, through the
public API as any backend plugin's tests would reach it."""


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_conformance_example_runs_against_a_backend_as_written(tmp_path: Path) -> None:
    (example,) = [b for b in _python_blocks(DOC.read_text()) if "BackendConformance" in b]
    source = example.replace(
        "from my_recoil_backend import MyBackend",
        FILESYSTEM_AS_MY_BACKEND,
    )
    assert source != example
    test_file = tmp_path / "test_conformance_mybackend.py"
    test_file.write_text(source)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b3\d passed\b", result.stdout), result.stdout


def test_documented_settings_and_tables_match_the_backend() -> None:
    text = DOC.read_text()
    for name in (config.DSN_ENV, config.SCHEMA_ENV, config.DEFAULT_DSN, config.DEFAULT_SCHEMA):
        assert f"`{name}`" in text
    tables = re.findall(r"CREATE TABLE IF NOT EXISTS \{s\}\.(\w+)", schema.DDL)
    assert tables
    for table in tables:
        assert f"| `{table}` |" in text
