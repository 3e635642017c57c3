"""The fake Replicate API is as strict as the real one: auth, input validation, Prefer: wait,
the list's order and cursor, cancel, and the one-hour retention on its injectable clock."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from recoil_replicate.testing.fake_replicate import (
    HARDWARE_PRICES,
    RETENTION_S,
    FakeReplicateServer,
    ManualClock,
)

TOKEN = "fake-token-for-protocol-tests"


@pytest.fixture
def wall() -> ManualClock:
    return ManualClock()


@pytest.fixture
def fake(wall: ManualClock) -> Iterator[FakeReplicateServer]:
    with FakeReplicateServer(api_token=TOKEN, wall_clock=wall) as server:
        yield server


@pytest.fixture
def http(fake: FakeReplicateServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=fake.base_url, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as client:
        yield client


SEEDANCE = "/models/bytedance/seedance-1-pro/predictions"


def seedance(**inputs: Any) -> dict[str, Any]:
    return {"input": {"prompt": "a harbour at dawn", "duration": 5, "resolution": "720p", **inputs}}


def test_every_api_call_needs_the_bearer_token(fake: FakeReplicateServer) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        answer = httpx.post(fake.base_url + SEEDANCE, json=seedance(), headers=headers)
        assert answer.status_code == 401
        assert answer.json()["title"] == "Unauthenticated"
    assert fake.stats()["creates_total"] == 0


def test_official_inputs_are_validated_and_undeclared_ones_kept_as_sent(
    http: httpx.Client, fake: FakeReplicateServer
) -> None:
    refused = http.post(
        "/models/kwaivgi/kling-v2.1/predictions", json={"input": {"prompt": "x", "duration": 7}}
    )
    assert refused.status_code == 422
    fields = {f["field"] for f in refused.json()["invalid_fields"]}
    assert fields == {"input.start_image", "input.duration"}
    assert http.post("/models/nobody/nothing/predictions", json=seedance()).status_code == 404

    made = http.post(SEEDANCE, json=seedance(recoil_request_key="rk-1"))

    assert made.status_code == 201
    body = made.json()
    assert body["status"] == "starting" and body["input"]["recoil_request_key"] == "rk-1"
    assert fake.stats()["creates_by_key"] == {"rk-1": 1}


def test_a_versioned_create_needs_a_registered_version_of_that_model(
    http: httpx.Client, fake: FakeReplicateServer
) -> None:
    version = fake.add_version("acme/clipper")
    for given in ("0" * 64, f"other/model:{version}"):
        answer = http.post("/predictions", json={"version": given, "input": {"prompt": "x"}})
        assert answer.status_code == 422, given
    for given in (version, f"acme/clipper:{version}"):
        answer = http.post("/predictions", json={"version": given, "input": {"prompt": "x"}})
        assert answer.status_code == 201 and answer.json()["model"] == "acme/clipper"


def test_prefer_wait_answers_final_when_the_run_fits_and_refuses_bad_waits(
    http: httpx.Client, fake: FakeReplicateServer
) -> None:
    short = fake.add_version("acme/short", hardware="gpu-t4", predict_s=4.0)
    body = {"version": short, "input": {"prompt": "x"}}
    for bad in ("wait=0", "wait=61", "wait=soon", "respond-async"):
        assert http.post("/predictions", json=body, headers={"Prefer": bad}).status_code == 400

    waited = http.post("/predictions", json=body, headers={"Prefer": "wait=10"}).json()
    too_short = http.post("/predictions", json=body, headers={"Prefer": "wait=2"}).json()
    video = http.post(SEEDANCE, json=seedance(), headers={"Prefer": "wait"}).json()

    assert waited["status"] == "succeeded" and waited["metrics"]["predict_time"] == 4.0
    assert too_short["status"] != "succeeded"
    assert video["status"] != "succeeded"  # 90 s of video does not fit in 60


def test_the_list_is_newest_first_in_cursor_pages_filtered_by_creation_time(
    http: httpx.Client, fake: FakeReplicateServer, wall: ManualClock
) -> None:
    fake.set(page_size=2)
    made = []
    for _ in range(5):
        made.append(http.post(SEEDANCE, json=seedance()).json())
        wall.advance(10)

    seen, url = [], "/predictions"
    while url:
        page = http.get(url).json()
        seen += [p["id"] for p in page["results"]]
        url = page["next"]
    recent = http.get("/predictions", params={"created_after": made[3]["created_at"]}).json()

    assert seen == [p["id"] for p in reversed(made)]
    assert [p["id"] for p in recent["results"]] == [made[4]["id"], made[3]["id"]]
    assert recent["next"] is None


def test_cancel_stops_a_starting_prediction_free_and_bills_a_processing_one(
    http: httpx.Client, fake: FakeReplicateServer
) -> None:
    version = fake.add_version("acme/long", hardware="gpu-a100-large", predict_s=300.0)
    fake.set(hold_starting=True)
    starting = http.post("/predictions", json={"version": version, "input": {"p": 1}}).json()
    cancelled = http.post(f"/predictions/{starting['id']}/cancel").json()
    fake.set(hold_starting=False, never_finish=True, cancel_predict_s=20.0)
    running = http.post("/predictions", json={"version": version, "input": {"p": 2}}).json()
    assert http.get(f"/predictions/{running['id']}").json()["status"] == "processing"
    stopped = http.post(f"/predictions/{running['id']}/cancel").json()
    again = http.post(f"/predictions/{running['id']}/cancel").json()

    billed = fake.stats()["billed_usd_by_prediction"]
    assert cancelled["status"] == "canceled" and billed[starting["id"]] == 0.0
    assert stopped["status"] == "canceled" and stopped["metrics"]["predict_time"] == 20.0
    assert billed[running["id"]] == pytest.approx(20.0 * HARDWARE_PRICES["gpu-a100-large"])
    assert again == stopped  # a final prediction is left as it is
    assert http.post("/predictions/nope/cancel").status_code == 404


def test_input_output_and_files_are_removed_an_hour_after_completion_the_bill_stays(
    http: httpx.Client, fake: FakeReplicateServer, wall: ManualClock
) -> None:
    made = http.post(SEEDANCE, json=seedance(recoil_request_key="rk-9")).json()
    done = http.get(f"/predictions/{made['id']}").json()
    assert done["status"] == "succeeded" and httpx.get(done["output"]).status_code == 200

    wall.advance(RETENTION_S - 1)
    assert http.get(f"/predictions/{made['id']}").json()["data_removed"] is False
    wall.advance(1)
    gone = http.get(f"/predictions/{made['id']}").json()
    listed = http.get("/predictions").json()["results"][0]

    assert gone["data_removed"] is True and gone["output"] is None and gone["input"] == {}
    assert gone["status"] == "succeeded" and gone["metrics"]["predict_time"] > 0
    assert listed["input"] == {} and listed["data_removed"] is True
    assert httpx.get(done["output"]).status_code == 404
    assert fake.stats()["billed_usd_by_prediction"][made["id"]] == pytest.approx(5 * 0.06)


def test_the_fake_runs_as_its_own_process_driven_over_http() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "recoil_replicate.testing.fake_replicate",
            "--print-port",
            "--api-token",
            TOKEN,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        root = base_url.removesuffix("/v1")
        version = httpx.post(
            f"{root}/_fake/versions", json={"ref": "acme/clip", "predict_s": 3.0}
        ).json()["version"]
        httpx.post(f"{root}/_fake/faults", json={"op": "create", "kind": "drop"})
        auth = {"Authorization": f"Bearer {TOKEN}"}
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.post(
                f"{base_url}/predictions",
                json={"version": version, "input": {"prompt": "x"}},
                headers=auth,
            )
        stats = httpx.get(f"{root}/_fake/stats").json()
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    assert stats["creates_total"] == 1 and proc.returncode == 0
