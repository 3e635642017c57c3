"""Bad input never gets a traceback: fuzzed plan files through ``recoil plan validate`` and
``recoil run --dry-run`` (in-process, for speed) and a few real subprocesses. Hostile ids
(``../``, absolute paths, NUL bytes) are refused before any file is touched; corrupt state
files give an error naming the file and are left exactly as they were."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from recoil_core.cli import app
from recoil_core.testing.pytest_plugin import recoil_executable

EXAMPLE = json.loads(
    (Path(__file__).resolve().parents[1] / "examples" / "ep001" / "plan.json").read_text()
)
HOSTILE_IDS = [
    "../escape",
    "../../etc",
    "/etc/passwd",
    "/tmp/abs",
    "a/b",
    "a\\b",
    "nul\x00byte",
    "\x00",
    "..",
    ".",
    "",
    " ",
    "x" * 300,
    "C:\\win",
]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(HOSTILE_IDS),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            out += paths_of(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out += paths_of(child, (*prefix, index))
    return out


EXAMPLE_PATHS = [p for p in paths_of(EXAMPLE) if p]


def mutate(plan: dict[str, Any], path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    doc = copy.deepcopy(plan)
    parent: Any = doc
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


@pytest.fixture(scope="module")
def cli() -> CliRunner:
    return CliRunner()


def invoke(cli: CliRunner, root: Path, *args: str) -> Any:
    env = {"RECOIL_PROJECTS_ROOT": str(root / "projects"), "RECOIL_PROVIDER": "animatic"}
    env["RECOIL_ANIMATIC_CACHE"] = str(root / "cache")
    return cli.invoke(app, list(args), env=env, catch_exceptions=True)


def assert_refused_cleanly(result: Any, root: Path) -> None:
    """A clear error, a non-zero exit, no traceback, nothing written."""
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{type(result.exception).__name__}: {result.exception}"
    )
    assert "Traceback" not in result.output
    assert "error" in result.output.lower() or "problem" in result.output.lower()
    assert not (root / "projects").exists()


def check_plan_file(cli: CliRunner, root: Path, content: bytes) -> None:
    plan = root / "plan.json"
    plan.write_bytes(content)
    for args in (("plan", "validate", str(plan)), ("run", str(plan), "--dry-run")):
        result = invoke(cli, root, *args)
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            f"{args}: {type(result.exception).__name__}: {result.exception}"
        )
        assert "Traceback" not in result.output
        if result.exit_code != 0:
            assert "error" in result.output.lower() or "problem" in result.output.lower()
        assert not (root / "projects").exists(), f"{args} wrote under the projects root"


FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(st.sampled_from(EXAMPLE_PATHS), json_values, st.booleans())
def test_mutated_plans_give_clear_errors_never_tracebacks(
    cli: CliRunner, tmp_path_factory: pytest.TempPathFactory, path: Any, value: Any, delete: bool
) -> None:
    root = tmp_path_factory.mktemp("mut")
    doc = mutate(EXAMPLE, path, value, delete)
    check_plan_file(cli, root, json.dumps(doc).encode())


@FUZZ
@given(st.one_of(json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=200)))
def test_arbitrary_files_give_clear_errors_never_tracebacks(
    cli: CliRunner, tmp_path_factory: pytest.TempPathFactory, content: bytes
) -> None:
    check_plan_file(cli, tmp_path_factory.mktemp("raw"), content)


@FUZZ
@given(st.integers(0, len(json.dumps(EXAMPLE)) - 1))
def test_truncated_plans_are_refused(
    cli: CliRunner, tmp_path_factory: pytest.TempPathFactory, cut: int
) -> None:
    root = tmp_path_factory.mktemp("cut")
    plan = root / "plan.json"
    plan.write_text(json.dumps(EXAMPLE)[:cut])
    for args in (("plan", "validate", str(plan)), ("run", str(plan), "--dry-run")):
        assert_refused_cleanly(invoke(cli, root, *args), root)


@pytest.mark.parametrize("bad", HOSTILE_IDS)
@pytest.mark.parametrize("field", ["project", "episode", "shot"])
def test_hostile_ids_are_refused_before_any_file_is_touched(
    cli: CliRunner, tmp_path: Path, bad: str, field: str
) -> None:
    doc = copy.deepcopy(EXAMPLE)
    if field == "shot":
        doc["sequences"]["SEQ01"]["shots"][0]["shot_id"] = bad
    else:
        doc[field] = bad
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(doc))
    for args in (
        ("plan", "validate", str(plan)),
        ("run", str(plan), "--dry-run"),
        ("run", str(plan)),
    ):
        assert_refused_cleanly(invoke(cli, tmp_path, *args), tmp_path)


@pytest.mark.parametrize("bad", ["../escape", "/etc", "a\x00b", ".."])
def test_hostile_ids_in_options_are_refused(cli: CliRunner, tmp_path: Path, bad: str) -> None:
    for args in (
        ("status", "--project", bad),
        ("status", "--project", "ok", "--episode", bad),
        ("budget", "--project", bad),
        ("rederive", "--conform", bad, "--project", "ok", "--episode", "EP001"),
    ):
        result = invoke(cli, tmp_path, *args)
        assert result.exit_code != 0 and "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        projects = tmp_path / "projects"
        assert not projects.exists() or not any(projects.rglob("*"))
        assert not (tmp_path / "escape").exists()


def test_a_nul_byte_in_the_plan_path_is_a_clear_error(cli: CliRunner, tmp_path: Path) -> None:
    for args in (("plan", "validate", "plan\x00.json"), ("run", "plan\x00.json", "--dry-run")):
        assert_refused_cleanly(invoke(cli, tmp_path, *args), tmp_path)


# ---------------------------------------------------------------------- real subprocesses


def recoil(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECOIL_", "ARK_"))}
    env["RECOIL_PROJECTS_ROOT"] = str(tmp_path / "projects")
    env["RECOIL_ANIMATIC_CACHE"] = str(tmp_path / "cache")
    return subprocess.run(
        [recoil_executable(), *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "content",
    [None, "", "{", "[]", '{"schema_version": 99}', "\udcff garbage"],
    ids=["missing", "empty", "truncated", "array", "future-schema", "not-utf8"],
)
def test_real_cli_refuses_bad_plan_files_cleanly(tmp_path: Path, content: str | None) -> None:
    plan = tmp_path / "plan.json"
    if content is not None:
        plan.write_bytes(content.encode("utf-8", "surrogateescape"))
    for args in (("plan", "validate", str(plan)), ("run", str(plan))):
        result = recoil(tmp_path, *args)
        assert result.returncode != 0
        assert "Traceback" not in result.stderr
        assert "plan.json" in result.stderr + result.stdout
    assert not (tmp_path / "projects").exists()


def test_real_cli_refuses_a_plan_escaping_the_projects_root(tmp_path: Path) -> None:
    doc = copy.deepcopy(EXAMPLE)
    doc["project"] = "../../outside"
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(doc))
    result = recoil(tmp_path, "run", str(plan), "--provider", "animatic")
    assert result.returncode != 0 and "project" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "projects").exists() and not (tmp_path / "outside").exists()


# ---------------------------------------------------------------------- corrupt state


def state_files(root: Path) -> dict[Path, bytes]:
    """Every state file (not the locks, nor status's index: a cache status may write)."""
    return {
        p: p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and not p.name.endswith(".lock")
        and p.name not in (".lock", ".status-index.json")
    }


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An episode fully rendered with the offline animatic provider (copied per test)."""
    root = tmp_path_factory.mktemp("rendered")
    plan = root / "plan.json"
    plan.write_text(json.dumps(EXAMPLE))
    result = recoil(root, "run", str(plan), "--provider", "animatic")
    assert result.returncode == 0, result.stderr
    return root


CORRUPTIONS = {
    "scene-truncated": ("scenes/BATCH_001/v0001.json", lambda b: b[: len(b) // 2]),
    "scene-future-schema": (
        "scenes/BATCH_001/v0001.json",
        lambda b: re.sub(rb'"schema_version":\d+,', b'"schema_version":999,', b, count=1),
    ),
    "manifest-truncated": ("scenes/BATCH_002/manifest.json", lambda b: b[:10]),
    "manifest-not-json": ("scenes/BATCH_002/manifest.json", lambda b: b"\x00\x01 not json"),
    "ledger-garbage-line": ("ledger.jsonl", lambda b: b + b"{not json}\n"),
    "derivation-truncated": ("derivation.json", lambda b: b[:5]),
}


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_corrupt_state_is_named_and_never_overwritten(
    rendered: Path, tmp_path: Path, name: str
) -> None:
    import shutil

    shutil.copytree(rendered, tmp_path, dirs_exist_ok=True)
    relative, damage = CORRUPTIONS[name]
    episode_dir = tmp_path / "projects" / "nightshift" / "EP001"
    target = episode_dir / relative
    if not target.exists():
        pytest.fail(f"the rendered episode has no {relative}: {sorted(state_files(episode_dir))}")
    damaged = damage(target.read_bytes())
    assert damaged != target.read_bytes()
    target.write_bytes(damaged)
    before = state_files(tmp_path / "projects")

    results = [
        recoil(tmp_path, "run", str(tmp_path / "plan.json"), "--provider", "animatic"),
        recoil(tmp_path, "status", "--json"),
    ]

    run_result = results[0]
    assert run_result.returncode != 0, run_result.stdout
    for result in results:
        assert "Traceback" not in result.stderr
    assert target.name in run_result.stderr + run_result.stdout
    assert state_files(tmp_path / "projects") == before
