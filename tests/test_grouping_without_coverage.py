"""Without recoil-coverage the other strategies, ``plugins list`` and ``group`` keep working.

Two ways to lose the plugin are checked:

* disabled: ``RECOIL_DISABLE_PLUGINS=coverage`` on the shared environment;
* uninstalled: a throwaway virtual environment (``venv --without-pip``, well under a
  second) whose site-packages links every entry of the shared one *except* the files
  the ``recoil-coverage`` RECORD lists, i.e. exactly what ``pip uninstall recoil-coverage``
  removes (its ``.dist-info`` and its editable ``.pth``). The shared environment is never
  modified, and the distribution is really absent: no metadata, no entry point, no module.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path

import pytest

RECOIL = shutil.which("recoil", path=str(Path(sys.executable).parent)) or "recoil"
RUN_CLI = "import sys; sys.argv[0] = 'recoil'; from recoil_core.cli import main; main()"

PLAN = {
    "project": "demo",
    "episode": "EP001",
    "sequences": {
        "SEQ01": {
            "location": "LOC_A",
            "shots": [
                {"shot_id": "EP001_SH01", "duration_s": 3},
                {"shot_id": "EP001_SH02", "duration_s": 4},
            ],
        }
    },
}

Runner = Callable[..., subprocess.CompletedProcess[str]]


def _site_without_coverage(venv: Path) -> Path:
    """Create ``venv`` and link the shared site-packages into it, minus recoil-coverage."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    shared = Path(sysconfig.get_paths()["purelib"])
    [record] = shared.glob("recoil_coverage-*.dist-info/RECORD")
    removed = {line.split(",")[0].split("/")[0] for line in record.read_text().splitlines()}
    target = Path(
        subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    for entry in shared.iterdir():
        if entry.name not in removed and not (target / entry.name).exists():
            (target / entry.name).symlink_to(entry)
    return venv / "bin" / "python"


@pytest.fixture(scope="module")
def uninstalled_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _site_without_coverage(tmp_path_factory.mktemp("no-coverage") / "venv")


@pytest.fixture(params=["disabled", "uninstalled"])
def without_coverage(request: pytest.FixtureRequest, tmp_path: Path) -> Runner:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOIL_")}
    if request.param == "disabled":
        command = [RECOIL]
        env["RECOIL_DISABLE_PLUGINS"] = "coverage"
    else:
        python = request.getfixturevalue("uninstalled_python")
        command = [str(python), "-c", RUN_CLI]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=60,
            check=False,
        )

    run.mode = request.param  # type: ignore[attr-defined]
    return run


@pytest.fixture
def plan_file(tmp_path: Path) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(PLAN), encoding="utf-8")
    return path


def test_the_uninstalled_environment_really_lacks_recoil_coverage(
    uninstalled_python: Path,
) -> None:
    probe = (
        "import importlib.metadata as m, importlib.util as u\n"
        "names = {d.metadata['Name'] for d in m.distributions()}\n"
        "print('recoil-coverage' in names, 'recoil-plugins-grouping' in names,"
        " u.find_spec('recoil_coverage') is None)"
    )
    out = subprocess.run(
        [str(uninstalled_python), "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["False", "True", "True"]


def test_plugins_list_shows_grouping_without_coverage(without_coverage: Runner) -> None:
    result = without_coverage("plugins", "list", "--json")
    assert result.returncode == 0, result.stderr
    records = {r["name"]: r for r in json.loads(result.stdout)}
    assert records["grouping"]["status"] == "ok"
    assert records["grouping"]["provides"] == [
        "grouping:continuity",
        "grouping:oner",
        "grouping:solo",
    ]
    if without_coverage.mode == "disabled":  # type: ignore[attr-defined]
        assert records["coverage"]["status"] == "disabled"
    else:
        assert "coverage" not in records


def test_other_strategies_still_group(without_coverage: Runner, plan_file: Path) -> None:
    for strategy, first_scene in [
        ("continuity", "BATCH_001"),
        ("solo", "EP001_SH01"),
        ("oner", "ONER_001"),
    ]:
        result = without_coverage("group", str(plan_file), "--strategy", strategy, "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["units"][0]["scene_id"] == first_scene


def test_asking_for_coverage_names_the_available_strategies(
    without_coverage: Runner, plan_file: Path
) -> None:
    result = without_coverage("group", str(plan_file), "--strategy", "coverage")
    assert result.returncode == 2
    assert (
        "unknown grouping strategy 'coverage'; available: continuity, oner, solo" in result.stderr
    )
    assert "Traceback" not in result.stderr
