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
from recoil_seeddance.testing.fake_ark import FakeArkServer, billed_tokens, media_bytes

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
    ten = create_body()
    ten["content"] += [
        {"type": "image_url", "image_url": {"url": f"https://x/{n}.png"}, "role": "reference_image"}
        for n in range(10)
    ]
    for body in (no_role, mixed, ten, create_body(service_tier="flex")):
        status, answer = call(tasks_url(ark), "POST", body)
        assert (status, answer["error"]["code"]) == (400, "InvalidParameter")
    assert ark.creates_total == 0
    nine = create_body()
    nine["content"] += ten["content"][-10:-1]
    status, _ = call(tasks_url(ark), "POST", nine)
    assert status == 200 and ark.creates_total == 1


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


class Clocks:
    """The fake's two injectable clocks, moved by hand."""

    def __init__(self) -> None:
        self.mono = 0.0
        self.wall = 1_780_000_000.0

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def slow_ark(clocks: Clocks) -> Iterator[FakeArkServer]:
    """Tasks stay queued for 150 s unless polled, and finish at 300 s."""
    with FakeArkServer(
        api_key="k", clock=lambda: clocks.mono, wall_clock=lambda: clocks.wall, queue_s=300.0
    ) as server:
        yield server


def task_url(ark: FakeArkServer, task_id: str) -> str:
    return f"{tasks_url(ark)}/{task_id}"


def listed(ark: FakeArkServer, query: str = "") -> dict[str, Any]:
    status, body = call(tasks_url(ark) + query)
    assert status == 200
    assert isinstance(body, dict)
    return body


def test_delete_cancels_a_queued_task_which_then_cannot_be_deleted_again(
    slow_ark: FakeArkServer, clocks: Clocks
) -> None:
    _, created = call(tasks_url(slow_ark), "POST", create_body())
    url = task_url(slow_ark, created["id"])
    assert call(url, "DELETE") == (200, {})
    clocks.advance(1000.0)
    _, task = call(url)
    assert task["status"] == "cancelled" and "usage" not in task
    status, body = call(url, "DELETE")
    assert (status, body["error"]["code"]) == (400, "OperationDenied.InvalidState")
    stats = slow_ark.stats()
    assert stats["cancelled_deletes_refused"] == 1
    assert stats["tokens_billed_total"] == 0 and stats["finished_tasks_deleted"] == 0


def test_a_task_polled_once_is_running_and_delete_cannot_cancel_it(
    slow_ark: FakeArkServer, clocks: Clocks
) -> None:
    _, created = call(tasks_url(slow_ark), "POST", create_body())
    url = task_url(slow_ark, created["id"])
    assert call(url)[1]["status"] == "queued"
    status, body = call(url, "DELETE")
    assert (status, body["error"]["code"]) == (400, "OperationDenied.InvalidState")
    assert call(url)[1]["status"] == "running"
    clocks.advance(300.0)
    _, task = call(url)
    assert task["status"] == "succeeded"
    assert task["usage"]["completion_tokens"] == billed_tokens("720p", "16:9", 5)
    stats = slow_ark.stats()
    assert stats["cancels_refused"] == 1
    assert stats["tokens_by_task"] == {created["id"]: billed_tokens("720p", "16:9", 5)}


def test_a_queued_task_starts_running_after_half_its_queue_time_without_polls(
    slow_ark: FakeArkServer, clocks: Clocks
) -> None:
    _, created = call(tasks_url(slow_ark), "POST", create_body())
    assert listed(slow_ark)["items"][0]["status"] == "queued"
    clocks.advance(150.0)
    assert listed(slow_ark)["items"][0]["status"] == "running"
    status, _ = call(task_url(slow_ark, created["id"]), "DELETE")
    assert status == 400 and slow_ark.stats()["cancels_refused"] == 1


def test_never_finishing_task_runs_from_the_first_look_and_cannot_be_cancelled(
    ark: FakeArkServer,
) -> None:
    _, created = call(tasks_url(ark), "POST", create_body(prompt="a storm [[never-finish]]"))
    url = task_url(ark, created["id"])
    assert [call(url)[1]["status"] for _ in range(3)] == ["running"] * 3
    assert call(url, "DELETE")[0] == 400
    assert call(url)[1]["status"] == "running"
    assert ark.stats()["cancels_refused"] == 1


def test_delete_erases_a_finished_task_from_history_but_its_bill_stands(
    ark: FakeArkServer,
) -> None:
    _, done = call(tasks_url(ark), "POST", create_body(seed=1))
    _, failed = call(tasks_url(ark), "POST", create_body(seed=2, prompt="x [[fail]]"))
    _, kept = call(tasks_url(ark), "POST", create_body(seed=3))
    for created in (done, failed, kept):
        call(task_url(ark, created["id"]))
    bill = ark.stats()["tokens_by_task"]
    assert set(bill) == {done["id"], kept["id"]}
    for created in (done, failed):
        assert call(task_url(ark, created["id"]), "DELETE") == (200, {})
        status, body = call(task_url(ark, created["id"]))
        assert (status, body["error"]["code"]) == (404, "task_not_found")
        status, body = call(task_url(ark, created["id"]), "DELETE")
        assert (status, body["error"]["code"]) == (404, "task_not_found")
    assert [t["id"] for t in listed(ark)["items"]] == [kept["id"]]
    ids_query = f"?filter.task_ids={done['id']}&filter.task_ids={kept['id']}"
    assert [t["id"] for t in listed(ark, ids_query)["items"]] == [kept["id"]]
    stats = ark.stats()
    assert stats["tokens_by_task"] == bill
    assert stats["tokens_billed_total"] == 2 * billed_tokens("720p", "16:9", 5)
    assert stats["finished_tasks_deleted"] == 2
    assert stats["deleted_task_ids"] == [done["id"], failed["id"]]


def test_nothing_erased_or_refused_shows_as_zero_counters(ark: FakeArkServer) -> None:
    stats = ark.stats()
    assert stats["finished_tasks_deleted"] == 0 and stats["deleted_task_ids"] == []
    assert stats["cancels_refused"] == stats["cancelled_deletes_refused"] == 0


def test_cancelled_tasks_are_purged_a_day_after_the_cancel(
    slow_ark: FakeArkServer, clocks: Clocks
) -> None:
    _, created = call(tasks_url(slow_ark), "POST", create_body())
    call(task_url(slow_ark, created["id"]), "DELETE")
    clocks.advance(24 * 3600 - 1)
    assert listed(slow_ark)["items"][0]["status"] == "cancelled"
    clocks.advance(1)
    assert call(task_url(slow_ark, created["id"]))[0] == 404
    assert listed(slow_ark)["total"] == 0
    assert slow_ark.stats()["cancelled_tasks_purged"] == 1


LIST_ITEM_KEYS = {
    "id",
    "model",
    "status",
    "seed",
    "created_at",
    "updated_at",
    "usage",
    "content",
    "service_tier",
    "generate_audio",
    "safety_identifier",
    "failure_reason",
}


def test_list_items_are_thinner_than_a_get(ark: FakeArkServer) -> None:
    v1 = "seedance-1-0-pro-250528"
    _, done = call(
        tasks_url(ark),
        "POST",
        create_body(
            model=v1, service_tier="flex", generate_audio=False, safety_identifier="take-1"
        ),
    )
    _, failed = call(tasks_url(ark), "POST", create_body(seed=2, prompt="x [[fail]]"))
    for created in (done, failed):
        call(task_url(ark, created["id"]))
    ids_query = f"?filter.task_ids={done['id']}&filter.task_ids={failed['id']}"
    for body in (listed(ark), listed(ark, ids_query)):
        items = {t["id"]: t for t in body["items"]}
        for item in items.values():
            assert set(item) <= LIST_ITEM_KEYS
            assert not {"resolution", "ratio", "duration", "error"} & set(item)
        ok, bad = items[done["id"]], items[failed["id"]]
        assert ok["status"] == "succeeded" and ok["content"]["video_url"].endswith(".mp4")
        assert ok["usage"]["completion_tokens"] == billed_tokens("720p", "16:9", 5)
        assert (ok["model"], ok["seed"], ok["service_tier"]) == (v1, 1, "flex")
        assert (ok["generate_audio"], ok["safety_identifier"]) == (False, "take-1")
        assert isinstance(ok["created_at"], int) and isinstance(ok["updated_at"], int)
        assert bad["failure_reason"]["code"] == "InternalServiceError"
        assert "content" not in bad and "usage" not in bad
    _, full = call(task_url(ark, done["id"]))
    assert (full["resolution"], full["ratio"], full["duration"]) == ("720p", "16:9", 5)
    assert full["safety_identifier"] == "take-1"
    _, full_failed = call(task_url(ark, failed["id"]))
    assert full_failed["error"]["code"] == "InternalServiceError"
    assert "failure_reason" not in full_failed


def test_safety_identifier_is_checked_stored_and_echoed(ark: FakeArkServer) -> None:
    for bad in ("x" * 65, 12):
        status, answer = call(tasks_url(ark), "POST", create_body(safety_identifier=bad))
        assert (status, answer["error"]["code"]) == (400, "InvalidParameter")
    assert ark.creates_total == 0
    longest = "y" * 64
    _, given = call(tasks_url(ark), "POST", create_body(seed=1, safety_identifier=longest))
    _, plain = call(tasks_url(ark), "POST", create_body(seed=2))
    assert call(task_url(ark, given["id"]))[1]["safety_identifier"] == longest
    assert "safety_identifier" not in call(task_url(ark, plain["id"]))[1]
    items = {t["id"]: t for t in listed(ark)["items"]}
    assert items[given["id"]]["safety_identifier"] == longest
    assert "safety_identifier" not in items[plain["id"]]


def test_only_the_last_seven_days_are_listable(clocks: Clocks) -> None:
    with FakeArkServer(
        api_key="k", clock=lambda: clocks.mono, wall_clock=lambda: clocks.wall
    ) as ark:
        _, old = call(tasks_url(ark), "POST", create_body(seed=1))
        clocks.advance(3600.0)
        _, recent = call(tasks_url(ark), "POST", create_body(seed=2))
        clocks.advance(7 * 24 * 3600 - 3600.0)
        assert [t["id"] for t in listed(ark)["items"]] == [recent["id"], old["id"]]
        clocks.advance(1.0)
        assert [t["id"] for t in listed(ark)["items"]] == [recent["id"]]
        ids_query = f"?filter.task_ids={old['id']}&filter.task_ids={recent['id']}"
        body = listed(ark, ids_query)
        assert [t["id"] for t in body["items"]] == [recent["id"]] and body["total"] == 1
        _, task = call(task_url(ark, old["id"]))
        assert task["id"] == old["id"] and task["status"] == "succeeded"


def test_list_filters_by_exact_model_status_and_service_tier(ark: FakeArkServer) -> None:
    v1 = "seedance-1-0-pro-250528"
    _, done = call(tasks_url(ark), "POST", create_body(seed=1))
    call(task_url(ark, done["id"]))
    _, waiting = call(tasks_url(ark), "POST", create_body(seed=2, prompt="x [[never-finish]]"))
    _, flex = call(tasks_url(ark), "POST", create_body(seed=3, model=v1, service_tier="flex"))

    def ids(query: str) -> list[str]:
        return [t["id"] for t in listed(ark, query)["items"]]

    assert ids("?filter.status=succeeded") == [done["id"]]
    assert ids(f"?filter.status=running&filter.model={MODEL}") == [waiting["id"]]
    assert ids(f"?filter.model={v1}") == [flex["id"]]
    assert ids("?filter.model=seedance-1-0-pro") == []
    assert ids("?filter.service_tier=flex") == [flex["id"]]
    assert ids("?filter.status=queued") == []


def test_command_line_server_prints_its_url_and_serves_stats_and_controls() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "recoil_seeddance.testing.fake_ark",
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
