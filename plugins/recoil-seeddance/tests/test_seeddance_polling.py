"""Polls of many Seedance tasks answered by one list request (``filter.task_ids``).

Against the fake Ark server on 127.0.0.1: what the batched polls cost in requests, that
they answer exactly what a GET would (state, media URL, cost), and that every way the
list can fail or fall short ends in a GET of the task, never in a wrong answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from recoil_seeddance.plugin import check, poll_batch
from recoil_seeddance.polling import PollBatcher
from recoil_seeddance.provider import ArkProvider, RetryPolicy, _complete
from recoil_seeddance.testing.doubles import Sleeps, request
from recoil_seeddance.testing.fake_ark import FakeArkServer
from recoil_seeddance.transport import make_client

from recoil_core.api import JobStatus, ProviderContext, TaskNotFound


@pytest.fixture
def ark() -> Iterator[FakeArkServer]:
    with FakeArkServer(api_key="test-key") as server:
        yield server


def ark_provider(ark: FakeArkServer, *, batch: int = 100) -> ArkProvider:
    return ArkProvider(
        api_key=ark.api_key,
        client=make_client(transport="aiohttp", connections=32),
        base_url=ark.base_url,
        retry=RetryPolicy(base_s=0.0),
        sleep=Sleeps(),
        poll_batch=batch,
    )


async def create_tasks(p: ArkProvider, n: int) -> list[str]:
    return [await p.submit(request(seed=1000 + i)) for i in range(n)]


def requests_made(ark: FakeArkServer) -> dict[str, int]:
    return dict(ark.stats()["requests"])


async def poll_all(
    ark: FakeArkServer, p: ArkProvider, ids: list[str]
) -> tuple[list[JobStatus], dict[str, int]]:
    """Poll every task at once: the answers, and the requests the server saw meanwhile."""
    before = requests_made(ark)
    statuses = list(await asyncio.gather(*(p.poll(i) for i in ids)))
    after = requests_made(ark)
    return statuses, {op: n - before.get(op, 0) for op, n in after.items()}


def test_concurrent_polls_share_one_list_request_and_match_a_get(ark: FakeArkServer) -> None:
    """One list answers all. Ark's list items carry no resolution (the bill depends on it):
    the provider that created the tasks knows what it sent and needs no GET."""

    async def main() -> tuple[list[JobStatus], list[JobStatus], dict[str, int]]:
        p = ark_provider(ark)
        single = ark_provider(ark, batch=0)
        try:
            ids = await create_tasks(p, 20)
            batched, made = await poll_all(ark, p, ids)
            one_by_one = [await single.poll(i) for i in ids]
            return batched, one_by_one, made
        finally:
            await p.aclose()
            await single.aclose()

    batched, one_by_one, made = asyncio.run(main())
    assert made.get("list") == 1 and made.get("get", 0) == 0
    assert [s.state for s in batched] == ["succeeded"] * 20
    assert batched == one_by_one  # same state, media URL, cost and metadata as a GET
    assert all(s.cost_usd > 0 and s.media_url for s in batched)


def test_more_polls_than_a_list_holds_are_split_across_list_requests(
    ark: FakeArkServer,
) -> None:
    ark.set(queue_s=60.0)  # still queued: each answer is a non-final state

    async def main() -> tuple[list[JobStatus], dict[str, int]]:
        p = ark_provider(ark, batch=8)
        try:
            return await poll_all(ark, p, await create_tasks(p, 20))
        finally:
            await p.aclose()

    statuses, made = asyncio.run(main())
    assert made.get("list") == 3 and made.get("get", 0) == 0  # 8 + 8 + 4
    assert {s.state for s in statuses} <= {"queued", "running"}


def test_a_lone_poll_is_a_plain_get(ark: FakeArkServer) -> None:
    async def main() -> dict[str, int]:
        p = ark_provider(ark)
        try:
            (status,), made = await poll_all(ark, p, await create_tasks(p, 1))
            assert status.state == "succeeded"
            return made
        finally:
            await p.aclose()

    made = asyncio.run(main())
    assert made.get("get") == 1 and made.get("list", 0) == 0


@pytest.mark.parametrize("fault", ["status", "malformed", "drop"])
def test_a_failed_list_falls_back_to_one_get_per_task(ark: FakeArkServer, fault: Any) -> None:
    async def main() -> tuple[list[JobStatus], dict[str, int]]:
        p = ark_provider(ark)
        try:
            ids = await create_tasks(p, 5)
            ark.inject("list", fault, times=2)  # a dropped idempotent GET may be resent once
            return await poll_all(ark, p, ids)
        finally:
            await p.aclose()

    statuses, made = asyncio.run(main())
    assert [s.state for s in statuses] == ["succeeded"] * 5
    assert made.get("get") == 5
    assert made.get("list") == (2 if fault == "drop" else 1)  # no retry of ours


def test_a_task_the_list_does_not_show_is_asked_for_alone(ark: FakeArkServer) -> None:
    async def main() -> list[Any]:
        p = ark_provider(ark)
        try:
            ids = await create_tasks(p, 3)
            polls = [p.poll(i) for i in ids] + [p.poll("cgt-does-not-exist")]
            return list(await asyncio.gather(*polls, return_exceptions=True))
        finally:
            await p.aclose()

    *found, missing = asyncio.run(main())
    assert [s.state for s in found] == ["succeeded"] * 3
    assert isinstance(missing, TaskNotFound)  # its own GET answered 404; the others are fine


def test_a_listed_final_task_without_its_bill_is_fetched_with_get() -> None:
    base = {"id": "t", "model": "dreamina-seedance-2-0-260128", "resolution": "720p"}
    succeeded = {
        **base,
        "status": "succeeded",
        "content": {"video_url": "https://media/t.mp4"},
        "usage": {"completion_tokens": 108900},
    }
    assert _complete({"id": "t", "status": "running"})
    assert _complete(succeeded)
    assert _complete({**base, "status": "failed", "usage": {"completion_tokens": 0}})
    for missing in ("usage", "content", "model", "resolution"):
        assert not _complete({k: v for k, v in succeeded.items() if k != missing}), missing
    assert not _complete({**base, "status": "failed"})  # billed or not: only GET can say
    assert not _complete({**succeeded, "status": "done"})
    # seedance 1.5 pro bills audio and silent clips differently: generate_audio must be shown
    audio = {**succeeded, "model": "seedance-1-5-pro-251215"}
    assert not _complete(audio)
    assert _complete({**audio, "generate_audio": False})


def test_cancelled_polls_leave_the_rest_answered_and_aclose_ends_waiting_polls() -> None:
    gate = asyncio.Event()
    listed: list[list[str]] = []

    async def get_one(job_id: str) -> JobStatus:
        return JobStatus(job_id=job_id, state="running")

    async def list_many(job_ids: Any) -> dict[str, JobStatus]:
        listed.append(list(job_ids))
        await gate.wait()
        return {i: JobStatus(job_id=i, state="running") for i in job_ids}

    async def main() -> None:
        batcher = PollBatcher(get_one, list_many, max_ids=10)
        polls = [asyncio.ensure_future(batcher.poll(f"t{i}")) for i in range(4)]
        while not listed:
            await asyncio.sleep(0)
        polls[0].cancel()
        gate.set()
        answered = await asyncio.gather(*polls[1:])
        assert [s.job_id for s in answered] == ["t1", "t2", "t3"]
        assert listed == [["t0", "t1", "t2", "t3"]]

        gate.clear()
        waiting = [asyncio.ensure_future(batcher.poll(f"u{i}")) for i in range(2)]
        while len(listed) < 2:
            await asyncio.sleep(0)
        await batcher.aclose()
        for poll in waiting:
            with pytest.raises(asyncio.CancelledError):
                await poll

    asyncio.run(asyncio.wait_for(main(), 10))


def test_poll_batch_setting() -> None:
    assert poll_batch({}) == 100
    assert poll_batch({"RECOIL_SEEDDANCE_POLL_BATCH": "0"}) == 0
    assert poll_batch({"RECOIL_SEEDDANCE_POLL_BATCH": "9000"}) == 500
    env = {"ARK_API_KEY": "k", "RECOIL_SEEDDANCE_POLL_BATCH": "lots"}
    (problem,) = check(ProviderContext(env=env, settings={}))
    assert "RECOIL_SEEDDANCE_POLL_BATCH='lots'" in problem and "0" in problem
    env["RECOIL_SEEDDANCE_POLL_BATCH"] = "501"
    assert check(ProviderContext(env=env, settings={}))


def test_downloads_refresh_expired_urls_with_their_own_get(
    ark: FakeArkServer, tmp_path: Any
) -> None:
    ark.set(expired_media_urls=1)  # every task's first URL answers 403

    async def main() -> dict[str, int]:
        p = ark_provider(ark)
        try:
            ids = await create_tasks(p, 6)
            statuses = await asyncio.gather(*(p.poll(i) for i in ids))
            before = requests_made(ark)
            await asyncio.gather(*(p.download(s, tmp_path / f"{s.job_id}.mp4") for s in statuses))
            after = requests_made(ark)
            return {k: after[k] - before.get(k, 0) for k in after}
        finally:
            await p.aclose()

    made = asyncio.run(main())
    assert made.get("get") == 6 and made.get("list", 0) == 0  # one fresh URL each
    assert len(list(tmp_path.glob("*.mp4"))) == 6


def test_tasks_another_run_created_are_priced_from_a_get(ark: FakeArkServer) -> None:
    """A resumed run polls tasks an earlier process created: their list items lack the
    resolution, so each final one is fetched with a GET before it is billed."""

    async def main() -> tuple[list[JobStatus], list[JobStatus], dict[str, int]]:
        creator = ark_provider(ark, batch=0)
        resumed = ark_provider(ark)
        single = ark_provider(ark, batch=0)
        try:
            ids = await create_tasks(creator, 8)
            batched, made = await poll_all(ark, resumed, ids)
            return batched, [await single.poll(i) for i in ids], made
        finally:
            for p in (creator, resumed, single):
                await p.aclose()

    batched, one_by_one, made = asyncio.run(main())
    assert made.get("list") == 1 and made.get("get", 0) == 8
    assert batched == one_by_one and all(s.cost_usd > 0 for s in batched)
