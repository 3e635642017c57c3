"""The example in docs/writing-a-grouping-strategy.md works as written.

The doc's plugin module, pyproject.toml and test are extracted from its code blocks. The
plugin is installed as its own distribution in a temporary directory: the module files
plus a ``.dist-info`` whose name, version, requirements and entry points come from the
doc's pyproject.toml (what ``pip install`` would write, without a build step). That
directory goes on ``PYTHONPATH`` of real ``recoil`` and ``pytest`` subprocesses.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from recoil_core.testing._suite.doc_examples import (
    PYTEST,
    DocExample,
    doc_files,
    install_doc_example,
)
from recoil_core.testing.pytest_plugin import recoil_executable

DOC = Path(__file__).resolve().parents[1] / "docs" / "writing-a-grouping-strategy.md"
RECOIL = recoil_executable()

PLAN = {
    "project": "demo",
    "episode": "EP001",
    "sequences": {
        "SEQ01": {
            "location": "LOC_A",
            "shots": [
                {"shot_id": "EP001_SH01", "duration_s": 3, "characters": ["JADE"]},
                {"shot_id": "EP001_SH02", "duration_s": 2},
                {"shot_id": "EP001_SH03", "duration_s": 4, "characters": ["JADE", "KAI"]},
                {"shot_id": "EP001_SH04", "duration_s": 2, "characters": ["KAI"]},
            ],
        }
    },
}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> DocExample:
    """The doc's distribution installed in a site directory; a work dir with plan and test."""
    return install_doc_example(DOC, tmp_path_factory, PLAN)


def test_the_example_strategy_is_at_most_30_lines_of_code() -> None:
    source = doc_files(DOC)["src/recoil_by_character/strategy.py"]
    lines = [line for line in source.splitlines() if line.strip()]
    assert len(lines) <= 30, len(lines)


def test_the_example_registers_its_strategy_lazily(installed: DocExample) -> None:
    code = (
        "import sys, recoil_by_character.plugin as p\n"
        "[s] = p.recoil_grouping_strategies()\n"
        "print(type(s).__name__, 'recoil_by_character.strategy' in sys.modules)\n"
    )
    result = installed.run(sys.executable, "-c", code)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["LazyStrategy", "False"]


def test_example_distribution_shows_in_plugins_list(installed: DocExample) -> None:
    result = installed.run(RECOIL, "plugins", "list", "--json")
    assert result.returncode == 0, result.stderr
    record = {r["name"]: r for r in json.loads(result.stdout)}["by-character"]
    assert record["status"] == "ok", record
    assert record["distribution"] == "recoil-by-character"
    assert record["version"] == "0.1.0"
    assert record["provides"] == ["grouping:by_character"]


def test_recoil_group_runs_the_example_strategy(installed: DocExample) -> None:
    result = installed.run(RECOIL, "group", "plan.json", "--strategy", "by_character", "--json")
    assert result.returncode == 0, result.stderr
    units = json.loads(result.stdout)["units"]
    assert [
        (u["scene_id"], u["unit_id"], u["ordinal"], u["modality"], u["shot_ids"]) for u in units
    ] == [
        ("CHAR_JADE", "CHAR_JADE__char", 1, "r2v_multi", ["EP001_SH01", "EP001_SH03"]),
        ("CHAR_ENV", "CHAR_ENV__char", 2, "video_i2v", ["EP001_SH02"]),
        ("CHAR_KAI", "CHAR_KAI__char", 3, "video_i2v", ["EP001_SH04"]),
    ]
    assert {u["strategy"] for u in units} == {"by_character"}


def test_the_docs_group_output_is_what_recoil_prints(installed: DocExample) -> None:
    text = DOC.read_text(encoding="utf-8")
    shown = text.split("$ recoil group plan.json --strategy by_character\n", 1)[1]
    shown_rows = [line.split() for line in shown.split("...", 1)[0].strip().splitlines()]
    result = installed.run(RECOIL, "group", "plan.json", "--strategy", "by_character")
    assert result.returncode == 0, result.stderr
    printed = [line.split() for line in result.stdout.splitlines()]
    assert printed[: len(shown_rows)] == shown_rows


def test_the_docs_test_passes_against_the_installed_example(
    installed: DocExample,
) -> None:
    result = installed.run(*PYTEST, "tests/test_by_character.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
