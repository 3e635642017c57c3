"""The example in docs/writing-a-provider.md works as written.

The doc's modules, pyproject.toml and test are extracted from its code blocks and installed
as their own distribution in a temporary site directory (modules plus a ``.dist-info``
with the doc's entry points), which goes on ``PYTHONPATH`` of real ``recoil`` and
``pytest`` subprocesses. Runs use a temporary projects root and slideshow folder.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from recoil_core.testing._suite.doc_examples import (
    PYTEST,
    DocExample,
    doc_files,
    install_doc_example,
)
from recoil_core.testing.pytest_plugin import recoil_executable

DOC = Path(__file__).resolve().parents[1] / "docs" / "writing-a-provider.md"
RECOIL = recoil_executable()
RUN_COMMAND = "recoil run plan.json --strategy solo --provider slideshow --budget 1"
SECRET = "sk-slideshow-7f3a9c-do-not-print"

PLAN = {
    "project": "demo",
    "episode": "EP001",
    "sequences": {
        "SEQ01": {
            "location": "LOC_A",
            "shots": [
                {"shot_id": "EP001_SH01", "duration_s": 3, "prompt": "Jade at the window"},
                {"shot_id": "EP001_SH02", "duration_s": 2, "prompt": "the empty street"},
            ],
        }
    },
}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> DocExample:
    """The doc's distribution installed in a site directory; a work dir with plan and test."""
    return install_doc_example(DOC, tmp_path_factory, PLAN)


def run(installed: DocExample, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """Run ``args`` with the example installed, the slideshow service in the work dir."""
    service = str(installed.work / "service")
    return installed.run(
        *args, drop=("RECOIL_", "SLIDESHOW_"), **({"SLIDESHOW_DIR": service} | settings)
    )


def test_the_example_provider_is_at_most_60_lines_of_code() -> None:
    files = doc_files(DOC)
    sources = [files["src/recoil_slideshow/plugin.py"], files["src/recoil_slideshow/provider.py"]]
    lines = [line for source in sources for line in source.splitlines() if line.strip()]
    assert len(lines) <= 60, len(lines)


def test_example_distribution_shows_in_plugins_list(installed: DocExample) -> None:
    result = run(installed, RECOIL, "plugins", "list", "--json")
    assert result.returncode == 0, result.stderr
    record = {r["name"]: r for r in json.loads(result.stdout)}["slideshow"]
    assert record["status"] == "ok", record
    assert record["distribution"] == "recoil-slideshow"
    assert record["provides"] == ["estimator:slideshow", "provider:slideshow"]

    table = run(installed, RECOIL, "plugins", "list", "--hook", "providers")
    assert table.returncode == 0, table.stderr
    printed = {line.split()[0]: line.split() for line in table.stdout.splitlines()}
    for row in installed.shown("recoil plugins list --hook providers"):
        if row != "...":
            assert printed[row.split()[0]] == row.split()


def test_run_without_the_key_stops_before_anything_is_submitted(
    installed: DocExample,
) -> None:
    result = run(installed, RECOIL, *RUN_COMMAND.split()[1:])
    assert result.returncode != 0
    assert result.stderr.splitlines() == installed.shown(RUN_COMMAND)
    assert "Traceback" not in result.stderr
    assert not (installed.work / "service").exists()


def test_recoil_run_renders_with_the_example_provider_and_charges_its_cost(
    installed: DocExample,
) -> None:
    args = RUN_COMMAND.split()[1:]
    result = run(installed, RECOIL, *args, SLIDESHOW_API_KEY=SECRET)
    assert result.returncode == 0, result.stdout + result.stderr
    printed, doc_lines = result.stdout.splitlines(), installed.shown(RUN_COMMAND, occurrence=1)
    assert doc_lines[1] == "..."
    assert [printed[0], *printed[-2:]] == [doc_lines[0], *doc_lines[2:]]

    episode = installed.work / "projects" / "demo" / "EP001"
    expected = {"EP001_SH1_take1.mp4": 0.06, "EP001_SH2_take1.mp4": 0.04}
    assert sorted(p.name for p in (episode / "renders").glob("*.mp4")) == sorted(expected)
    for name, cost in expected.items():
        sidecar = json.loads((episode / "renders" / f"{name}.json").read_text(encoding="utf-8"))
        provenance = sidecar["provenance"]
        assert provenance["provider"] == "slideshow"
        assert provenance["provider_version"] == "0.1.0"
        assert provenance["cost_usd"] == pytest.approx(cost)
        assert provenance["provider_metadata"] == {"slides": 1}
        assert provenance["job_id"].startswith("slides-")
    assert (episode / "renders" / "EP001_SH1_take1.mp4").read_text() == "[3s] Jade at the window\n"

    ledger = [
        json.loads(line) for line in (episode / "ledger.jsonl").read_text().splitlines() if line
    ]
    charges = sorted((e["beat_id"], e["kind"], e["provider"], e["amount_usd"]) for e in ledger)
    assert charges == [
        ("EP001_SH01", "succeeded", "slideshow", pytest.approx(0.06)),
        ("EP001_SH02", "succeeded", "slideshow", pytest.approx(0.04)),
    ]

    again = run(installed, RECOIL, *args, "--json", SLIDESHOW_API_KEY=SECRET)
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["complete"] and report["provider"] == "slideshow"
    assert report["charged_usd"] == 0

    written = [p for p in installed.work.rglob("*") if p.is_file()]
    assert [p for p in written if SECRET in p.read_text(errors="replace")] == []
    assert SECRET not in result.stdout + result.stderr + again.stdout + again.stderr


def test_a_create_that_may_have_happened_is_not_submitted_again(
    installed: DocExample, tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("", encoding="utf-8")
    projects = tmp_path / "projects"
    result = run(
        installed,
        RECOIL,
        "run",
        "plan.json",
        "--strategy",
        "solo",
        "--provider",
        "slideshow",
        "--json",
        SLIDESHOW_API_KEY=SECRET,
        SLIDESHOW_DIR=str(blocked / "service"),
        RECOIL_PROJECTS_ROOT=str(projects),
    )
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["take_counts"] == {"unknown": 2}
    assert all("--resubmit-unknown" in line for line in report["attention"])
    ledger = projects / "demo" / "EP001" / "ledger.jsonl"
    assert not ledger.exists() or ledger.read_text(encoding="utf-8").strip() == ""


def test_the_docs_test_passes_against_the_installed_example(installed: DocExample) -> None:
    result = run(installed, *PYTEST, "tests/test_slideshow.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
