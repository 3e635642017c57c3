"""The fake Ark server itself: auth, task life, faults, counters, and its command line."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from recoil_core.testing.fake_ark import FakeArkServer, billed_tokens, media_bytes

MODEL = "dreamina-seedance-2-0-260128"


def call(url: str, method: str = "GET", body: Any = None, key: str | None = "k") -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if key is not None:
        req.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as err:
        raw, status = err.read(), err.code
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


def create_body(seed: int = 1, prompt: str = "a quiet harbour", **extra: Any) -> dict[str, Any]:
    body = {
        "model": MODEL,
        "content": [{"type": "text", "text": prompt}],
        "resolution": "720p",
        "ratio": "16:9",
        "duration": 5,
        "seed": seed,
    }
    body.update(extra)
    return body


@pytest.fixture
def ark() -> Iterator[FakeArkServer]:
    with FakeArkServer(api_key="k") as server:
        yield server


def tasks_url(ark: FakeArkServer) -> str:
    return ark.base_url + "/contents/generations/tasks"


def test_requests_without_the_key_are_refused(ark: FakeArkServer) -> None:
    status, body = call(tasks_url(ark), "POST", create_body(), key="wrong")
    assert status == 401
    assert body["error"]["code"] == "AuthenticationError"
    assert ark.creates_total == 0


def test_task_finishes_after_the_configured_polls_and_bills_tokens(ark: FakeArkServer) -> None:
    ark.set(polls_to_finish=3)
    _, created = call(tasks_url(ark), "POST", create_body())
    url = f"{tasks_url(ark)}/{created['id']}"
    states = [call(url)[1]["status"] for _ in range(3)]
    assert states[:2] != ["succeeded", "succeeded"] and states[2] == "succeeded"
    _, task = call(url)
    assert task["usage"]["completion_tokens"] == billed_tokens("720p", "16:9", 5) == 108_900
    assert ark.stats()["tokens_billed_total"] == 108_900
    status, media = call(task["content"]["video_url"], key=None)
    assert status == 200 and media == media_bytes(created["id"])


def test_queue_time_follows_the_injected_clock() -> None:
    now = [0.0]
    with FakeArkServer(api_key="k", clock=lambda: now[0], queue_s=300.0) as ark:
        _, created = call(tasks_url(ark), "POST", create_body())
        url = f"{tasks_url(ark)}/{created['id']}"
        assert call(url)[1]["status"] == "queued"
        now[0] = 200.0
        assert call(url)[1]["status"] == "running"
        now[0] = 300.0
        assert call(url)[1]["status"] == "succeeded"


def test_creates_are_counted_per_request_fingerprint(ark: FakeArkServer) -> None:
    for seed in (1, 1, 2):
        call(tasks_url(ark), "POST", create_body(seed=seed))
    stats = ark.stats()
    assert stats["creates_total"] == 3
    assert sorted(stats["creates_by_fingerprint"].values()) == [1, 2]


def test_list_is_newest_first_filtered_by_model_and_paged(ark: FakeArkServer) -> None:
    ids = [call(tasks_url(ark), "POST", create_body(seed=s))[1]["id"] for s in range(3)]
    call(tasks_url(ark), "POST", create_body(model="seedance-1-0-pro-250528"))
    query = f"?page_num=1&page_size=2&filter.model={MODEL}"
    _, page1 = call(tasks_url(ark) + query)
    _, page2 = call(tasks_url(ark) + query.replace("page_num=1", "page_num=2"))
    assert page1["total"] == 3
    assert [t["id"] for t in page1["items"] + page2["items"]] == ids[::-1]
    assert all(t["seed"] in (0, 1, 2) for t in page1["items"])


def test_ark_validation_rules_are_enforced(ark: FakeArkServer) -> None:
    no_role = create_body()
    no_role["content"].append({"type": "image_url", "image_url": {"url": "https://x/a.png"}})
    mixed = create_body()
    mixed["content"] += [
        {"type": "image_url", "image_url": {"url": "https://x/a.png"}, "role": "first_frame"},
        {"type": "image_url", "image_url": {"url": "https://x/b.png"}, "role": "reference_image"},
    ]
    for body in (no_role, mixed, create_body(service_tier="flex")):
        status, answer = call(tasks_url(ark), "POST", body)
        assert (status, answer["error"]["code"]) == (400, "InvalidParameter")
    assert ark.creates_total == 0


def test_dropped_create_still_makes_the_task(ark: FakeArkServer) -> None:
    ark.inject("create", "drop")
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(
            urllib.request.Request(
                tasks_url(ark),
                data=json.dumps(create_body()).encode(),
                headers={"Authorization": "Bearer k", "Content-Type": "application/json"},
                method="POST",
            ),
            timeout=10,
        )
    assert ark.creates_total == 1


def test_rate_limit_burst_says_retry_after_and_creates_nothing(ark: FakeArkServer) -> None:
    ark.inject("create", "status", status_code=429, retry_after=0, times=2)
    req = urllib.request.Request(
        tasks_url(ark),
        data=json.dumps(create_body()).encode(),
        headers={"Authorization": "Bearer k"},
        method="POST",
    )
    for _ in range(2):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 429 and err.value.headers["Retry-After"] == "0"
    assert ark.creates_total == 0
    assert call(tasks_url(ark), "POST", create_body())[0] == 200


def test_expired_media_url_is_replaced_on_the_next_get(ark: FakeArkServer) -> None:
    ark.set(expired_media_urls=1)
    _, created = call(tasks_url(ark), "POST", create_body())
    url = f"{tasks_url(ark)}/{created['id']}"
    first = call(url)[1]["content"]["video_url"]
    assert call(first, key=None)[0] == 403
    fresh = call(url)[1]["content"]["video_url"]
    assert fresh != first
    assert call(fresh, key=None)[0] == 200
    assert call(first, key=None)[0] == 403


def test_delete_cancels_a_running_task_and_removes_a_finished_one(ark: FakeArkServer) -> None:
    ark.set(polls_to_finish=5)
    _, running = call(tasks_url(ark), "POST", create_body(seed=1))
    call(f"{tasks_url(ark)}/{running['id']}", "DELETE")
    assert call(f"{tasks_url(ark)}/{running['id']}")[1]["status"] == "cancelled"
    ark.set(polls_to_finish=1)
    _, done = call(tasks_url(ark), "POST", create_body(seed=2))
    call(f"{tasks_url(ark)}/{done['id']}")
    call(f"{tasks_url(ark)}/{done['id']}", "DELETE")
    status, body = call(f"{tasks_url(ark)}/{done['id']}")
    assert (status, body["error"]["code"]) == (404, "task_not_found")


def test_command_line_server_prints_its_url_and_serves_stats_and_controls() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "recoil_core.testing.fake_ark",
            "--port",
            "0",
            "--print-port",
            "--api-key",
            "cli-key",
            "--polls-to-finish",
            "2",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/api/v3")
        root = base_url.removesuffix("/api/v3")
        _, created = call(
            base_url + "/contents/generations/tasks", "POST", create_body(), key="cli-key"
        )
        assert (
            call(f"{base_url}/contents/generations/tasks/{created['id']}", key="cli-key")[1][
                "status"
            ]
            != "succeeded"
        )
        call(root + "/_fake/faults", "POST", {"op": "create", "kind": "status", "status_code": 500})
        status, _ = call(
            base_url + "/contents/generations/tasks", "POST", create_body(seed=2), key="cli-key"
        )
        assert status == 500
        call(root + "/_fake/knobs", "POST", {"polls_to_finish": 1})
        _, stats = call(root + "/_fake/stats", key=None)
        assert stats["creates_total"] == 2
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
