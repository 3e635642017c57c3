"""The example in docs/writing-a-modality-runner.md works as written.

The doc's modules, pyproject.toml and tests are extracted from its code blocks and
installed as their own distribution in a temporary site directory (modules plus a
``.dist-info`` with the doc's entry points), which goes on ``PYTHONPATH`` of real
``recoil`` and ``pytest`` subprocesses; runs render with the offline animatic provider.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from recoil_core.testing._suite.doc_examples import PYTEST, DocExample, install_doc_example
from recoil_core.testing.pytest_plugin import recoil_executable

DOC = Path(__file__).resolve().parents[1] / "docs" / "writing-a-modality-runner.md"
RECOIL = recoil_executable()

PLAN = {
    "project": "demo",
    "episode": "EP001",
    "sequences": {
        "SEQ01": {
            "location": "LOC_A",
            "shots": [
                {"shot_id": "EP001_SH01", "duration_s": 2, "prompt": "Jade wakes"},
                {"shot_id": "EP001_SH02", "duration_s": 2, "prompt": "coffee, black"},
                {"shot_id": "EP001_SH03", "duration_s": 1},
            ],
        },
        "SEQ02": {
            "location": "LOC_B",
            "shots": [{"shot_id": "EP001_SH04", "duration_s": 3, "prompt": "the bus leaves"}],
        },
    },
}
RENDERS = {
    "EP001_MONTAGE_001_SH01_03_take1.mp4": ["EP001_SH01", "EP001_SH02", "EP001_SH03"],
    "EP001_MONTAGE_002_SH04_take1.mp4": ["EP001_SH04"],
}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> DocExample:
    """The doc's distribution installed in a site directory; a work dir with plan and tests."""
    return install_doc_example(DOC, tmp_path_factory, PLAN)


def test_example_distribution_shows_in_plugins_list(installed: DocExample) -> None:
    result = installed.run(RECOIL, "plugins", "list", "--json")
    assert result.returncode == 0, result.stderr
    record = {r["name"]: r for r in json.loads(result.stdout)}["montage"]
    assert record["status"] == "ok", record
    assert record["distribution"] == "recoil-montage"
    assert record["provides"] == ["grouping:montage", "runner:montage"]

    table = installed.run(RECOIL, "plugins", "list", "--hook", "modality_runners")
    assert table.returncode == 0, table.stderr
    printed = {line.split()[0]: line.split() for line in table.stdout.splitlines()}
    for row in installed.shown("recoil plugins list --hook modality_runners")[:-1]:
        assert printed[row.split()[0]] == row.split()


def test_recoil_group_makes_one_montage_unit_per_location(installed: DocExample) -> None:
    result = installed.run(RECOIL, "group", "plan.json", "--strategy", "montage")
    assert result.returncode == 0, result.stderr
    printed = [line.split() for line in result.stdout.splitlines()]
    expected = [
        line.split() for line in installed.shown("recoil group plan.json --strategy montage")[:-1]
    ]
    assert printed[: len(expected)] == expected


def test_recoil_run_renders_title_cards_and_montages_with_animatic(
    installed: DocExample,
) -> None:
    result = installed.run(RECOIL, "run", "plan.json", "--strategy", "montage")
    assert result.returncode == 0, result.stdout + result.stderr
    expected = installed.shown("recoil run plan.json --strategy montage")
    assert expected[0] == "..."
    assert result.stdout.splitlines()[-2:] == expected[1:]

    renders = installed.work / "projects" / "demo" / "EP001" / "renders"
    titles = {name.replace(".mp4", "_title.png") for name in RENDERS}
    assert {p.name for p in renders.iterdir() if not p.name.endswith(".json")} == (
        set(RENDERS) | titles
    )
    for name, shot_ids in RENDERS.items():
        video = renders / name
        sidecar = json.loads((renders / f"{name}.json").read_text(encoding="utf-8"))
        provenance = sidecar["provenance"]
        assert sidecar["sha256"] == hashlib.sha256(video.read_bytes()).hexdigest()
        assert provenance["provider"] == "animatic"
        assert provenance["modality"] == "video_i2v"
        assert provenance["grouping"]["strategy"] == "montage"
        assert provenance["grouping"]["shot_ids"] == shot_ids
        assert provenance["workflow"]["modality"] == "montage"
        assert provenance["prompt"].startswith("Montage. ")
        title = renders / name.replace(".mp4", "_title.png")
        assert provenance["inputs"]["first_frame"]["path"] == str(title)
        assert (
            provenance["inputs"]["first_frame"]["sha256"]
            == hashlib.sha256(title.read_bytes()).hexdigest()
        )

    ledger = installed.work / "projects" / "demo" / "EP001" / "ledger.jsonl"
    entries = [json.loads(line) for line in ledger.read_text(encoding="utf-8").splitlines()]
    assert sorted((e["beat_id"], e["step_id"], e["amount_usd"]) for e in entries) == [
        ("MONTAGE_001__montage", "title", 0.0),
        ("MONTAGE_001__montage", "video", 0.0),
        ("MONTAGE_002__montage", "title", 0.0),
        ("MONTAGE_002__montage", "video", 0.0),
    ]


def test_the_docs_test_passes_against_the_installed_example(installed: DocExample) -> None:
    result = installed.run(*PYTEST, "tests/test_montage.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
