"""A billed take whose output the provider deleted before it was downloaded, through a real
``recoil run`` against the fake Replicate API: the take is ``failed_but_billed`` with the
reason (provider, prediction id, retention), the ledger equals what the fake billed,
nothing is sent again, and ``recoil run`` (text and --json) and ``recoil status`` say so."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from recoil_replicate.testing.fake_replicate import FakeReplicateServer

from recoil_core.testing.pytest_plugin import RecoilCli

REPO = Path(__file__).resolve().parents[1]
TOKEN = "SENTINEL-replicate-expiry-9c2e71"


@pytest.fixture
def replicate() -> Iterator[FakeReplicateServer]:
    server = FakeReplicateServer(api_token=TOKEN).start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    data = json.loads((REPO / "examples" / "ep001" / "plan.json").read_text())
    data["defaults"]["video_model"] = "seedance-1-pro"  # an official model, billed per output
    # two sequences: an r2v_multi unit and single-shot units, kept small for speed
    data["sequences"] = {k: v for k, v in data["sequences"].items() if k != "SEQ03"}
    data["coverage_passes"] = []
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data))
    return path


def _ledger(root: Path) -> dict[str, float]:
    totals: dict[str, float] = {}
    for ledger in root.rglob("ledger*.jsonl"):
        for line in ledger.read_text().splitlines():
            entry = json.loads(line)
            assert entry["kind"] == "failed_but_billed", entry
            totals[entry["job_id"]] = totals.get(entry["job_id"], 0.0) + entry["amount_usd"]
    return totals


def test_output_deleted_before_download_is_failed_but_billed_and_reported(
    recoil_cli: RecoilCli,
    recoil_env: dict[str, str],
    replicate: FakeReplicateServer,
    plan: Path,
) -> None:
    replicate.set(hour_passes_before_download=True)
    env = {
        "REPLICATE_API_TOKEN": TOKEN,
        "REPLICATE_API_BASE": replicate.base_url,
        "RECOIL_REPLICATE_POLL_S": "0.02",
    }

    text = recoil_cli("run", str(plan), "--provider", "replicate", "--budget", "100", env=env)

    assert text.returncode != 0 and "Traceback" not in text.stderr, text.stderr
    stats = replicate.stats()
    billed = {k: v for k, v in stats["billed_usd_by_prediction"].items() if v}
    assert billed and stats["creates_total"] == len(billed)
    for job_id in billed:
        line = next(line for line in text.stdout.splitlines() if job_id in line)
        assert "failed_but_billed" in line and "output expired before download" in line
        assert "replicate keeps outputs 1 h" in line
    root = Path(recoil_env["RECOIL_PROJECTS_ROOT"])
    ledger = _ledger(root)
    assert ledger.keys() == billed.keys()
    for job_id, amount in billed.items():
        assert ledger[job_id] == pytest.approx(amount, abs=1e-9)

    again = recoil_cli("run", str(plan), "--provider", "replicate", "--json", env=env)
    status = recoil_cli("status")
    status_json = recoil_cli("status", "--json")

    assert replicate.stats()["creates_total"] == stats["creates_total"], "sent again"
    assert _ledger(root) == ledger, "charged again"
    report = json.loads(again.stdout)
    assert "Traceback" not in again.stderr and report["charged_usd"] == 0
    reported = [t for s in report["scenes"] for b in s["beats"] for t in b["takes"]]
    assert {t["state"] for t in reported} == {"failed_but_billed"}
    assert all("output expired before download" in t["error"] for t in reported)
    assert status.returncode == 0, status.stderr
    for job_id in billed:
        assert any(
            "billed, no render: output_expired" in line and job_id in line
            for line in status.stdout.splitlines()
        ), status.stdout
    takes = [
        take
        for episode in json.loads(status_json.stdout)["episodes"]
        for scene in episode["scenes"]
        for beat in scene["beats"]
        for take in beat["takes"]
    ]
    assert {t["state"] for t in takes} == {"failed_but_billed"}
    assert all("output expired before download" in t["error"] for t in takes)
    for path in root.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
