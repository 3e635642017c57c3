"""``recoil review`` as users run it: the real CLI and server over HTTP on 127.0.0.1, on the
filesystem backend and on PostgreSQL (when recoil-postgres and a server are there)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from recoil_review.testing import ReviewServer

from recoil_core.testing.pytest_plugin import RecoilCli, recoil_executable

BEAT = "EP001_SH02"
PLAN = {
    "schema_version": 1,
    "project": "cli",
    "episode": "EP001",
    "sequences": {
        "SEQ01": {"shots": [{"shot_id": "EP001_SH01", "duration_s": 2, "prompt": "A diner."}]},
        "SEQ02": {"shots": [{"shot_id": BEAT, "duration_s": 2, "prompt": "A rooftop."}]},
    },
}
needs_animatic = pytest.mark.skipif(
    importlib.util.find_spec("recoil_animatic") is None,
    reason="recoil-animatic renders the episode: pip install -e 'plugins/recoil-review[test]'",
)


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(PLAN), encoding="utf-8")
    return path


def request(url: str, *, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    """(status, headers, body bytes) of a GET, or of a POST of ``body`` as JSON."""
    data = None if body is None else json.dumps(body).encode()
    sent = {**(headers or {}), **({"Content-Type": "application/json"} if data else {})}
    req = urllib.request.Request(url, data=data, headers=sent, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def test_without_recoil_review_the_command_says_how_to_install_it(
    plan: Path, recoil_env: dict[str, str]
) -> None:
    hidden = (
        "import runpy, sys; sys.modules['recoil_review'] = None; script = sys.argv[1]; "
        "sys.argv = ['recoil', 'review', sys.argv[2]]; runpy.run_path(script, run_name='__main__')"
    )
    result = subprocess.run(
        [sys.executable, "-c", hidden, recoil_executable(), str(plan)],
        env=recoil_env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "needs the recoil-review distribution" in result.stderr
    assert "pip install recoil-review" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_episode_not_run_yet_shows_an_empty_page(plan: Path, recoil_env: dict[str, str]) -> None:
    server = ReviewServer(plan, recoil_env)
    try:
        status, _, body = request(server.url + "api/episode")
    finally:
        server.stop()

    assert status == 200
    assert json.loads(body)["scenes"] == []
    assert server.printed[1] == f"  http://127.0.0.1:{server.port}/"


@pytest.fixture(params=["filesystem", "postgres"])
def backend_env(request: Any, recoil_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """``recoil_env`` for each backend (PostgreSQL: a scratch schema, dropped afterwards)."""
    if request.param == "filesystem":
        yield recoil_env
        return
    if importlib.util.find_spec("recoil_postgres") is None:
        pytest.skip("recoil-postgres is not installed: the PostgreSQL variant needs it")
    from recoil_postgres.testing import reachable_dsn, scratch_schema

    dsn = reachable_dsn()
    with scratch_schema(dsn) as schema:
        yield {
            **recoil_env,
            "RECOIL_BACKEND": "postgres",
            "RECOIL_POSTGRES_DSN": dsn,
            "RECOIL_POSTGRES_SCHEMA": schema,
        }


@needs_animatic
def test_review_reads_serves_and_marks_an_episode_on_each_backend(
    plan: Path, backend_env: dict[str, str], recoil_cli: RecoilCli
) -> None:
    rendered = recoil_cli("run", str(plan), env=backend_env)
    assert rendered.returncode == 0, rendered.stderr
    server = ReviewServer(plan, backend_env, ["--budget", "2.5", "--by", "ana"])
    try:
        status, _, body = request(server.url + "api/episode")
        data = json.loads(body)
        beat = next(b for s in data["scenes"] for b in s["beats"] if b["beat_id"] == BEAT)
        (take,) = beat["takes"]
        video = server.url + take["video_url"].lstrip("/")
        whole = request(video)
        ranged = request(video, headers={"Range": "bytes=100-299"})
        scene_id = next(s["scene_id"] for s in data["scenes"] if beat in s["beats"])
        approve = f"{server.url}api/scenes/{scene_id}/beats/{BEAT}/approve"
        approved = request(approve, body={"note": "good"}, headers={"X-Recoil-Review": "1"})
        after = json.loads(request(server.url + "api/episode")[2])
    finally:
        server.stop()

    assert status == 200
    assert data["spend"]["cap_usd"] == "2.5000"
    assert take["state"] == "succeeded" and take["model"] and take["prompt"] == "A rooftop."
    assert whole[0] == 200 and whole[2][4:8] == b"ftyp"
    assert ranged[0] == 206 and ranged[2] == whole[2][100:300]
    assert ranged[1]["Content-Range"] == f"bytes 100-299/{len(whole[2])}"
    assert approved[0] == 200, approved[2]
    after_beat = next(b for s in after["scenes"] for b in s["beats"] if b["beat_id"] == BEAT)
    assert after_beat["mark"]["verdict"] == "approved"
    assert after_beat["mark"]["by"] == "ana"
    shown = recoil_cli("status", "--json", env=backend_env)
    assert shown.returncode == 0, shown.stderr
    assert "approved" in shown.stdout
