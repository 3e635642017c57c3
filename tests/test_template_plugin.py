"""The plugin template (plugins/_template) works when copied as its README says, and
docs/hooks.md names every hook Recoil offers.

The template is copied and renamed with the README's own shell commands, installed as a
distribution in a temporary site directory (its modules plus a ``.dist-info`` built from
its pyproject.toml), and checked through real ``recoil`` and ``pytest`` subprocesses.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from recoil_core import hookspecs
from recoil_core.registry import KINDS, OBSERVER_HOOKS
from recoil_core.testing._suite.doc_examples import PYTEST
from recoil_core.testing.distributions import (
    markdown_blocks,
    modules_from_sources,
    run_with_distributions,
    write_pyproject_distribution,
)
from recoil_core.testing.pytest_plugin import recoil_executable

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "plugins" / "_template"
HOOKS_DOC = REPO / "docs" / "hooks.md"
RECOIL = recoil_executable()
HOOK_NAMES = sorted(
    name
    for name, fn in vars(hookspecs).items()
    if callable(fn) and hasattr(fn, f"{hookspecs.PROJECT_NAME}_spec")
)

PLAN = {
    "project": "demo",
    "episode": "EP001",
    "sequences": {
        "SEQ01": {
            "location": "LOC_A",
            "shots": [
                {"shot_id": "EP001_SH01", "duration_s": 3},
                {"shot_id": "EP001_SH02", "duration_s": 2},
            ],
        }
    },
}


def rename_commands() -> str:
    """The README's copy-and-rename shell block (the one that starts with ``cp -r``)."""
    readme = (TEMPLATE / "README.md").read_text(encoding="utf-8")
    [block] = [body for body in markdown_blocks(readme) if body.startswith("cp -r")]
    return block


def run(cwd: Path, site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_with_distributions(args, site, cwd=cwd)


@pytest.fixture(scope="module")
def copied(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The template copied into a scratch repo, renamed to ``acme``, and installed."""
    scratch = tmp_path_factory.mktemp("scratch")
    repo = scratch / "repo"
    shutil.copytree(
        TEMPLATE,
        repo / "plugins" / "_template",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    renamed = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", rename_commands()],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert renamed.returncode == 0, renamed.stderr
    project_dir = scratch / "recoil-acme"
    sources = {
        path.relative_to(project_dir).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted((project_dir / "src").rglob("*.py"))
    }
    site = scratch / "site"
    write_pyproject_distribution(
        site,
        (project_dir / "pyproject.toml").read_text(encoding="utf-8"),
        modules_from_sources(sources),
    )
    (scratch / "plan.json").write_text(json.dumps(PLAN), encoding="utf-8")
    return {"scratch": scratch, "project": project_dir, "site": site}


def test_renaming_leaves_no_trace_of_the_template_name(copied: dict[str, Path]) -> None:
    project_dir = copied["project"]
    leftovers = [
        str(path.relative_to(project_dir))
        for path in project_dir.rglob("*")
        if path.name != "README.md"
        and (
            "myplugin" in path.name.lower()
            or (path.is_file() and "myplugin" in path.read_text(encoding="utf-8").lower())
        )
    ]

    assert leftovers == []
    assert (project_dir / "src" / "recoil_acme" / "plugin.py").is_file()


def test_renaming_renames_class_names_and_environment_variables(copied: dict[str, Path]) -> None:
    package = copied["project"] / "src" / "recoil_acme"
    plugin = (package / "plugin.py").read_text(encoding="utf-8")

    assert "class AcmeStrategy:" in (package / "strategy.py").read_text(encoding="utf-8")
    assert '"recoil_acme.strategy:AcmeStrategy"' in plugin
    assert "AcmeProvider" in plugin and "ACME_API_KEY" in plugin


def test_the_readme_survives_the_rename_commands(copied: dict[str, Path]) -> None:
    readme = (TEMPLATE / "README.md").read_text(encoding="utf-8")

    assert (copied["project"] / "README.md").read_text(encoding="utf-8") == readme
    assert rename_commands() in readme


def test_template_declares_its_license_as_an_spdx_expression() -> None:
    pyproject = tomllib.loads((TEMPLATE / "pyproject.toml").read_text(encoding="utf-8"))

    assert pyproject["project"]["license"] == "Apache-2.0"
    assert not any("License ::" in c for c in pyproject["project"].get("classifiers", []))
    assert "setuptools>=77" in pyproject["build-system"]["requires"]  # the first to take it


def test_template_sources_import_the_kernel_only_through_its_api() -> None:
    sources = "\n".join(
        path.read_text(encoding="utf-8") for path in (TEMPLATE / "src").rglob("*.py")
    )

    # commented-out hooks included: they are what an author uncomments
    assert set(re.findall(r"from (recoil_core\S*) import", sources)) == {"recoil_core.api"}


def test_renamed_template_is_listed_ok_by_recoil_plugins_list(copied: dict[str, Path]) -> None:
    result = run(copied["scratch"], copied["site"], RECOIL, "plugins", "list", "--json")

    assert result.returncode == 0, result.stderr
    record = {r["name"]: r for r in json.loads(result.stdout)}["acme"]
    assert record["status"] == "ok", record
    assert record["distribution"] == "recoil-acme"
    assert record["provides"] == ["grouping:acme"]
    assert record["hooks"] == ["recoil_grouping_strategies"]
    assert record["module"] == "recoil_acme.plugin"


def test_renamed_template_strategy_groups_a_plan(copied: dict[str, Path]) -> None:
    result = run(
        copied["scratch"],
        copied["site"],
        RECOIL,
        "group",
        "plan.json",
        "--strategy",
        "acme",
        "--json",
    )

    assert result.returncode == 0, result.stderr
    units = json.loads(result.stdout)["units"]
    assert [(u["scene_id"], u["strategy"], u["shot_ids"]) for u in units] == [
        ("EP001_SH01", "acme", ["EP001_SH01"]),
        ("EP001_SH02", "acme", ["EP001_SH02"]),
    ]


def test_renamed_template_own_tests_pass(copied: dict[str, Path]) -> None:
    result = run(copied["project"], copied["site"], *PYTEST)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_template_is_neither_installed_nor_collected_nor_loaded() -> None:
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution("recoil-myplugin")
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    listed = run_with_distributions([RECOIL, "plugins", "list", "--json"], cwd=REPO, timeout=60)

    assert "test_" in collected.stdout, collected.stdout + collected.stderr
    assert "plugins/_template" not in collected.stdout
    assert listed.returncode == 0, listed.stderr
    assert "myplugin" not in {r["name"] for r in json.loads(listed.stdout)}


def test_template_plugin_module_shows_every_hook() -> None:
    source = (TEMPLATE / "src" / "recoil_myplugin" / "plugin.py").read_text(encoding="utf-8")

    assert [name for name in HOOK_NAMES if f"def {name}(" not in source] == []


def test_hooks_doc_names_every_hookspec_and_nothing_else() -> None:
    text = HOOKS_DOC.read_text(encoding="utf-8")
    headings = re.findall(r"^### `(recoil_\w+)`", text, re.MULTILINE)

    assert sorted(headings) == HOOK_NAMES
    for guide in (
        "writing-a-grouping-strategy.md",
        "writing-a-modality-runner.md",
        "writing-a-provider.md",
    ):
        assert f"]({guide})" in text, guide
        assert (REPO / "docs" / guide).is_file(), guide


def hook_sections() -> dict[str, str]:
    """The text under each ``### `recoil_...``` heading of docs/hooks.md, by hook name."""
    text = HOOKS_DOC.read_text(encoding="utf-8")
    parts = re.split(r"^### `(recoil_\w+)`\n", text, flags=re.MULTILINE)
    return {
        name: body.split("\n## ", 1)[0] for name, body in zip(parts[1::2], parts[2::2], strict=True)
    }


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_hooks_doc_states_each_hooks_return_type_and_provides_label(name: str) -> None:
    section = hook_sections()[name]
    returns = getattr(hookspecs, name).__annotations__["return"]
    provides = {kind.hook: f"{kind.prefix}:" for kind in KINDS} | OBSERVER_HOOKS

    assert f"`{returns}`" in section
    assert f"`{provides[name]}" in section
