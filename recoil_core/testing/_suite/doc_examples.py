"""The example plugin of a Markdown guide, installed as a throwaway distribution for tests.

The guide's ``# src/...`` blocks become modules of a distribution described by its
``# pyproject.toml`` block; a work directory holds the plan and the guide's ``# tests/...``.
This module imports pytest: it is for test code only.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs
import pytest

from recoil_core.testing.distributions import (
    markdown_files,
    modules_from_sources,
    run_with_distributions,
    write_pyproject_distribution,
)

PYTEST = (sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider")


@attrs.frozen
class DocExample:
    """A guide's example: installed into ``site``, run from ``work``."""

    doc: Path
    files: Mapping[str, str]
    site: Path
    work: Path

    def run(
        self, *args: str, drop: Sequence[str] = ("RECOIL_",), **settings: str
    ) -> subprocess.CompletedProcess[str]:
        """Run ``args`` in the work directory with the example installed.

        Recoil settings are cleared; projects and the animatic cache live in the work
        directory unless ``settings`` say otherwise.
        """
        defaults = {
            "RECOIL_PROJECTS_ROOT": str(self.work / "projects"),
            "RECOIL_ANIMATIC_CACHE": str(self.work / "animatic-cache"),
        }
        return run_with_distributions(
            args, self.site, cwd=self.work, drop=drop, settings=defaults | settings
        )

    def shown(self, command: str, occurrence: int = 0) -> list[str]:
        """The output lines the guide shows after its ``occurrence``-th ``$ command`` line.

        ``...`` stands for lines the guide leaves out.
        """
        text = self.doc.read_text(encoding="utf-8").split(f"$ {command}\n")[occurrence + 1]
        lines = []
        for line in text.splitlines():
            if line.startswith(("$", "```")):
                break
            lines.append(line)
        return lines


def doc_files(doc: Path) -> dict[str, str]:
    """The file blocks of the guide ``doc`` (first line ``# <path>``), by path."""
    return markdown_files(doc.read_text(encoding="utf-8"))


def install_doc_example(
    doc: Path, tmp_path_factory: pytest.TempPathFactory, plan: Mapping[str, object]
) -> DocExample:
    """Install the example of ``doc``; a work directory with ``plan.json`` and its tests."""
    files = doc_files(doc)
    site = tmp_path_factory.mktemp("site")
    write_pyproject_distribution(site, files["pyproject.toml"], modules_from_sources(files))
    work = tmp_path_factory.mktemp("work")
    (work / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    for path, source in files.items():
        if path.startswith("tests/"):
            (work / path).parent.mkdir(parents=True, exist_ok=True)
            (work / path).write_text(source, encoding="utf-8")
    return DocExample(doc=doc, files=files, site=site, work=work)
