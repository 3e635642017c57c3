"""The ``postgres`` backend through the real ``recoil`` CLI: registration, an episode run
end to end, read back by ``status`` and ``budget``, and no password in any output."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from psycopg import sql
from recoil_postgres.connection import connect
from recoil_postgres.testing import reachable_dsn, scratch_schema

from recoil_core.registry import BACKENDS, build_registry

PLAN = Path(__file__).parents[1] / "examples" / "ep001" / "plan.json"
SECRET = "s3cr3t-Pa55word"

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def dsn() -> str:
    return reachable_dsn()


@pytest.fixture
def postgres_env(dsn: str) -> Iterator[dict[str, str]]:
    with scratch_schema(dsn) as schema:
        yield {
            "RECOIL_BACKEND": "postgres",
            "RECOIL_POSTGRES_DSN": dsn,
            "RECOIL_POSTGRES_SCHEMA": schema,
        }


def test_entry_point_registers_the_postgres_backend_without_importing_psycopg() -> None:
    registry = build_registry()
    assert "postgres" in registry.backends
    registered = registry.origin(BACKENDS, "postgres")
    assert registered is not None and registered.distribution == "recoil-postgres"
    probe = (
        "import sys, recoil_postgres.plugin as p; "
        "specs = p.recoil_persistence_backends(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'psycopg'), specs[0].name)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["[]", "postgres"]


def _json(result: subprocess.CompletedProcess[str]) -> object:
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def _without_paths(status: object) -> object:
    """``status --json`` output with each take's job ids and render path blanked."""
    data = json.loads(json.dumps(status))
    for episode in data["episodes"]:
        for scene in episode["scenes"]:
            for beat in scene["beats"]:
                for take in beat["takes"]:
                    take["job_ids"] = len(take["job_ids"])
                    take["render"] = Path(take["render"]).name
    return data


def test_episode_runs_on_postgres_and_reads_back_like_the_filesystem_backend(
    recoil_cli: Cli, postgres_env: dict[str, str], dsn: str, tmp_path: Path
) -> None:
    filesystem_root = tmp_path / "fs-projects"
    on_fs = {"RECOIL_PROJECTS_ROOT": str(filesystem_root)}
    assert recoil_cli("run", str(PLAN), env=on_fs).returncode == 0

    first = recoil_cli("run", str(PLAN), env=postgres_env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "episode complete" in first.stdout
    status = _json(recoil_cli("status", "--json", env=postgres_env))
    budget = _json(recoil_cli("budget", "--json", env=postgres_env))

    assert isinstance(status, dict) and status["project"] == "nightshift"
    (episode,) = status["episodes"]
    assert episode["episode"] == "EP001" and len(episode["scenes"]) == 7
    takes = [t for s in episode["scenes"] for b in s["beats"] for t in b["takes"]]
    assert takes and all(t["state"] == "succeeded" for t in takes)
    assert all(Path(t["render"]).is_file() for t in takes)
    assert all(str(tmp_path / "projects") in t["render"] for t in takes)
    assert isinstance(budget, dict) and budget["entries"] > 0

    # the same episode on the filesystem backend reads back the same (job ids and render
    # paths differ: the animatic provider keys jobs by their output path)
    fs_status = _json(recoil_cli("status", "--json", env=on_fs))
    assert _without_paths(fs_status) == _without_paths(status)
    assert _json(recoil_cli("budget", "--json", env=on_fs)) == budget

    # the rows are really in PostgreSQL
    with connect(dsn, autocommit=True) as conn:
        schema = sql.Identifier(postgres_env["RECOIL_POSTGRES_SCHEMA"])
        scenes = conn.execute(sql.SQL("SELECT count(*) FROM {}.scenes").format(schema))
        ledger = conn.execute(sql.SQL("SELECT count(*) FROM {}.ledger").format(schema))
        assert (scenes.fetchone(), ledger.fetchone()) == ((7,), (budget["entries"],))

    # a second run resumes: nothing to render, nothing charged twice
    again = recoil_cli("run", str(PLAN), env=postgres_env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 beat(s) to render" in again.stdout
    assert _json(recoil_cli("budget", "--json", env=postgres_env)) == budget


def test_unreachable_server_is_a_clear_error_without_the_password(recoil_cli: Cli) -> None:
    env = {
        "RECOIL_BACKEND": "postgres",
        "RECOIL_POSTGRES_DSN": f"postgresql://recoil:{SECRET}@127.0.0.1:1/recoil",
    }
    for args in (("status", "--json"), ("budget",), ("run", str(PLAN))):
        result = recoil_cli(*args, env=env)
        output = result.stdout + result.stderr
        assert result.returncode == 10, output
        assert "cannot connect to PostgreSQL at postgresql://recoil:***@127.0.0.1:1" in output
        assert SECRET not in output
        assert "Traceback" not in output


def test_unusable_schema_name_is_a_clear_error(recoil_cli: Cli, dsn: str) -> None:
    env = {
        "RECOIL_BACKEND": "postgres",
        "RECOIL_POSTGRES_DSN": dsn,
        "RECOIL_POSTGRES_SCHEMA": 'x"; DROP TABLE y; --',
    }
    result = recoil_cli("status", env=env)
    assert result.returncode == 2
    assert "RECOIL_POSTGRES_SCHEMA" in result.stdout + result.stderr
