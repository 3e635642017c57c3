"""Ctrl-C during ``recoil run``: dispatching stops, state stays resumable, the user is told
how to resume, and the resumed run finishes without creating any task twice."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from recoil_seeddance.testing.fake_ark import FakeArkServer

from recoil_core.testing.pytest_plugin import recoil_executable

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ep001" / "plan.json"


@contextmanager
def children_take_sigint() -> Iterator[None]:
    """Processes started in here get SIGINT's default action. A test runner started in the
    background by a shell (``make test &``, a CI step) ignores SIGINT, and an ignored
    signal stays ignored across exec: the ``recoil run`` under test would never see the
    Ctrl-C it is sent (rightly: a background job keeps ignoring it)."""
    before = signal.getsignal(signal.SIGINT)
    if before is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # reset to default by exec
    try:
        yield
    finally:
        if before is signal.SIG_IGN:
            signal.signal(signal.SIGINT, before)


def test_ctrl_c_leaves_takes_resumable_and_the_rerun_never_creates_twice(recoil_env, tmp_path):
    with FakeArkServer(api_key="k", never_finish=True) as server:
        env = {
            **recoil_env,
            "ARK_API_KEY": "k",
            "ARK_BASE_URL": server.base_url,
            "RECOIL_SEEDDANCE_POLL_S": "0.01",
        }
        command = [
            recoil_executable(),
            "run",
            str(EXAMPLE),
            "--provider",
            "seeddance",
            "--concurrency",
            "2",
        ]
        with children_take_sigint():
            process = subprocess.Popen(
                command,
                env=env,
                cwd=tmp_path,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        deadline = time.monotonic() + 60
        while server.stats()["creates_total"] < 2:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the run never reached the provider"
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
        assert process.returncode == 130, (out, err)
        assert "run the same command again to resume" in err
        assert "Traceback" not in err
        created_before = server.stats()["creates_total"]

        status = subprocess.run(
            [recoil_executable(), "status", "--json"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        )
        takes = [
            t
            for s in json.loads(status.stdout)["episodes"][0]["scenes"]
            for b in s["beats"]
            for t in b["takes"]
        ]
        in_flight = [t for t in takes if t["state"] in ("submitting", "submitted")]
        assert len(in_flight) == created_before
        assert all(t["job_ids"] for t in takes if t["state"] == "submitted")

        server.set(never_finish=False)
        resumed = subprocess.run(
            command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert resumed.returncode == 0, resumed.stderr
        stats = server.stats()
        final = subprocess.run(
            [recoil_executable(), "status", "--json"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        )
        beats = [b for s in json.loads(final.stdout)["episodes"][0]["scenes"] for b in s["beats"]]
        assert all(b["succeeded"] and len(b["takes"]) == 1 for b in beats)
        assert max(stats["creates_by_fingerprint"].values()) == 1
        assert stats["creates_total"] == len(beats), "one paid create per beat, none repeated"
