"""The Seedance provider against a real fake Ark server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import struct
import zlib
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from recoil_seeddance.estimate import estimate_payload_usd
from recoil_seeddance.provider import ArkProvider, FindPolicy, RetryPolicy, create_provider
from recoil_seeddance.testing.doubles import Sleeps, create_times_out, request
from recoil_seeddance.testing.fake_ark import FakeArkServer, media_bytes
from recoil_seeddance.transport import make_client

from recoil_core.api import (
    JobStatus,
    LookupAmbiguous,
    ModerationBlocked,
    OutputExpired,
    ProviderContext,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    TaskNotFound,
)

T = TypeVar("T")
SENTINEL_KEY = "SENTINEL-ark-key-7f3c9d2e"


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


def png_file(path: Path) -> Path:
    """A real 1x1 PNG on disk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"\x00\xff\x00\x00"
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    path.write_bytes(png)
    return path


@pytest.fixture
def ark() -> Iterator[FakeArkServer]:
    with FakeArkServer(api_key="test-key") as server:
        yield server


def provider(
    ark: FakeArkServer,
    sleeps: Sleeps | None = None,
    *,
    key: str | None = None,
    client: httpx.AsyncClient | None = None,
    find_policy: FindPolicy | None = None,
) -> ArkProvider:
    return ArkProvider(
        api_key=key or ark.api_key,
        client=client or make_client(transport="aiohttp", connections=8),
        base_url=ark.base_url,
        retry=RetryPolicy(base_s=0.0),
        find_policy=find_policy or FindPolicy(),
        sleep=sleeps or Sleeps(),
    )


async def using(p: ArkProvider, body: Callable[[ArkProvider], Awaitable[T]]) -> T:
    try:
        return await body(p)
    finally:
        await p.aclose()


async def poll_until_final(p: ArkProvider, job_id: str, max_polls: int = 10) -> JobStatus:
    for _ in range(max_polls):
        status = await p.poll(job_id)
        if status.is_final:
            return status
    raise AssertionError(f"{job_id} did not finish in {max_polls} polls")


# ---------------------------------------------------------------------- happy paths


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
@pytest.mark.parametrize("modality", ["video_t2v", "video_i2v", "r2v_multi"])
def test_submit_poll_download_renders_each_modality(
    ark: FakeArkServer, tmp_path: Path, modality: str, transport: str
) -> None:
    ark.set(polls_to_finish=2)
    image = png_file(tmp_path / "kf.png")
    inputs = {"first_frame": image} if modality == "video_i2v" else {}
    extra = {"reference_images": [str(image), "https://cdn.example/ref.png"]}
    req = request(modality, inputs=inputs, **(extra if modality == "r2v_multi" else {}))
    env = {
        "ARK_API_KEY": ark.api_key,
        "ARK_BASE_URL": ark.base_url,
        "RECOIL_HTTP_TRANSPORT": transport,
    }
    dest = tmp_path / "out.mp4"

    async def flow(p: ArkProvider) -> tuple[str, JobStatus, JobStatus]:
        job_id = await p.submit(req)
        first = await p.poll(job_id)
        final = await poll_until_final(p, job_id)
        await p.download(final, dest)
        return job_id, first, final

    job_id, first, final = run(using(create_provider(ProviderContext(env=env)), flow))
    assert first.state in ("queued", "running")
    assert final.state == "succeeded"
    assert dest.read_bytes() == media_bytes(job_id)
    assert final.cost_usd == pytest.approx(estimate_payload_usd("seeddance-2.0", req.payload))
    assert final.metadata["completion_tokens"] == ark.stats()["tokens_by_task"][job_id]
    assert ark.stats()["creates_total"] == 1
    assert ark.stats()["media_requests_with_auth"] == 0


def test_downloads_of_two_tasks_differ(ark: FakeArkServer, tmp_path: Path) -> None:
    async def flow(p: ArkProvider) -> None:
        for seed in (1, 2):
            status = await poll_until_final(p, await p.submit(request(seed=seed)))
            await p.download(status, tmp_path / f"{seed}.mp4")

    run(using(provider(ark), flow))
    assert (tmp_path / "1.mp4").read_bytes() != (tmp_path / "2.mp4").read_bytes()


def test_cancel_stops_a_queued_task(ark: FakeArkServer) -> None:
    ark.set(queue_s=60.0)  # still queued when the cancel comes

    async def flow(p: ArkProvider) -> JobStatus:
        job_id = await p.submit(request())
        await p.cancel(job_id)
        return await p.poll(job_id)

    status = run(using(provider(ark), flow))
    assert status.state == "cancelled"
    assert status.cost_usd == 0


def test_cancel_of_a_running_task_is_refused_and_the_task_is_billed(ark: FakeArkServer) -> None:
    ark.set(polls_to_finish=3)

    async def flow(p: ArkProvider) -> tuple[str, JobStatus]:
        job_id = await p.submit(request())
        running = (await p.poll(job_id)).state
        with pytest.raises(ProviderError):
            await p.cancel(job_id)
        await p.poll(job_id)
        return running, await p.poll(job_id)

    running, status = run(using(provider(ark), flow))
    assert running == "running"
    assert status.state == "succeeded" and status.cost_usd > 0


def test_unknown_task_is_task_not_found(ark: FakeArkServer) -> None:
    with pytest.raises(TaskNotFound):
        run(using(provider(ark), lambda p: p.poll("cgt-gone")))


def test_never_finishing_job_keeps_reporting_running(ark: FakeArkServer) -> None:
    async def flow(p: ArkProvider) -> list[str]:
        job_id = await p.submit(request(prompt="a storm [[never-finish]]"))
        return [(await p.poll(job_id)).state for _ in range(5)]

    states = run(using(provider(ark), flow))
    assert states[-1] == "running"
    assert all(state in ("queued", "running") for state in states)


# ---------------------------------------------------------------------- lost creates and find


def test_find_recovers_a_task_whose_create_response_was_dropped(ark: FakeArkServer) -> None:
    ark.inject("create", "drop")
    req = request(seed=4242)

    async def flow(p: ArkProvider) -> str | None:
        with pytest.raises(ProviderUnavailable) as err:
            await p.submit(req)
        assert err.value.code == "ambiguous_create"
        return await p.find(req)

    found = run(using(provider(ark), flow))
    assert ark.stats()["creates_total"] == 1
    assert found == ark.task_ids()[0]


def test_rate_limited_create_is_retried_and_creates_one_task(ark: FakeArkServer) -> None:
    ark.inject("create", "status", status_code=429, retry_after=0, times=2)
    sleeps = Sleeps()
    job_id = run(using(provider(ark, sleeps), lambda p: p.submit(request())))
    assert ark.task_ids() == [job_id]
    assert sleeps.delays == [0.0, 0.0]


def test_server_error_on_create_is_ambiguous_and_find_returns_the_one_task(
    ark: FakeArkServer,
) -> None:
    ark.inject("create", "status", status_code=500)
    req = request(seed=77)

    async def flow(p: ArkProvider) -> str | None:
        with pytest.raises(ProviderUnavailable) as err:
            await p.submit(req)
        assert err.value.code == "ambiguous_create"
        return await p.find(req)

    found = run(using(provider(ark), flow))
    assert ark.stats()["creates_total"] == 1
    assert ark.stats()["requests"]["create"] == 1
    assert found == ark.task_ids()[0]


def test_create_timeout_is_ambiguous_and_never_resent(ark: FakeArkServer) -> None:
    client = create_times_out(ark)  # Ark made the task; its answer times out
    req = request(seed=91)

    async def flow(p: ArkProvider) -> str | None:
        with pytest.raises(ProviderUnavailable) as err:
            await p.submit(req)
        assert err.value.code == "ambiguous_create"
        return await p.find(req)

    found = run(using(provider(ark, client=client), flow))
    assert ark.stats()["requests"]["create"] == 1
    assert found == ark.task_ids()[0]


def test_malformed_create_answer_is_ambiguous(ark: FakeArkServer) -> None:
    ark.inject("create", "malformed")
    with pytest.raises(ProviderUnavailable) as err:
        run(using(provider(ark), lambda p: p.submit(request())))
    assert err.value.code == "ambiguous_create"
    assert ark.stats()["requests"]["create"] == 1


def test_find_returns_none_when_nothing_was_created(ark: FakeArkServer) -> None:
    ark.inject("create", "status", status_code=400)

    async def flow(p: ArkProvider) -> str | None:
        with pytest.raises(ProviderRejected):
            await p.submit(request(seed=5))
        await p.submit(request(seed=6))  # another take's task, same model
        return await p.find(request(seed=5))

    assert run(using(provider(ark), flow)) is None


def test_find_ignores_tasks_created_before_the_take_was_submitting() -> None:
    now = [1_000_000.0]
    with FakeArkServer(api_key="k", wall_clock=lambda: now[0]) as ark:
        old = request(seed=9, submitting_at=datetime.fromtimestamp(now[0], UTC))

        async def flow(p: ArkProvider) -> str | None:
            await p.submit(old)
            now[0] += 3600
            return await p.find(request(seed=9, submitting_at=datetime.fromtimestamp(now[0], UTC)))

        assert run(using(provider(ark), flow)) is None


def test_find_pages_through_newer_tasks_of_the_same_model(ark: FakeArkServer) -> None:
    ark.inject("create", "drop")
    target = request(seed=1000)

    async def flow(p: ArkProvider) -> str | None:
        with pytest.raises(ProviderUnavailable):
            await p.submit(target)
        for seed in range(5):
            await p.submit(request(seed=seed))
        return await p.find(target)

    found = run(using(provider(ark, find_policy=FindPolicy(page_size=2)), flow))
    lost = [t for t in ark.task_ids() if ark.task(t)["seed"] == 1000]
    assert found == lost[0]
    assert ark.stats()["requests"]["list"] == 3


def test_find_with_a_plan_fixed_seed_refuses_to_guess_between_takes(ark: FakeArkServer) -> None:
    async def flow(p: ArkProvider) -> tuple[str | None, str | None]:
        first = await p.submit(request(seed=1, plan_seed=7))
        alone = await p.find(request(seed=1, plan_seed=7))
        assert alone == first
        await p.submit(request(seed=2, plan_seed=7))
        return alone, await p.find(request(seed=2, plan_seed=7))

    with pytest.raises(LookupAmbiguous):
        run(using(provider(ark), flow))


def test_find_tells_takes_sharing_a_plan_fixed_seed_apart_by_safety_identifier(
    ark: FakeArkServer,
) -> None:
    async def flow(p: ArkProvider) -> tuple[list[str], list[str | None]]:
        made = [await p.submit(request(plan_seed=7, request_key=f"rk_{n}")) for n in ("a", "b")]
        found = [await p.find(request(plan_seed=7, request_key=f"rk_{n}")) for n in "abc"]
        return made, found

    made, found = run(using(provider(ark), flow))
    assert found == [made[0], made[1], None]
    assert [ark.task(t)["safety_identifier"] for t in made] == ["rk_a", "rk_b"]


def test_find_never_adopts_a_task_created_before_the_take_was_submitting(
    ark: FakeArkServer,
) -> None:
    """Another episode's take with the same ids sent the same seed an hour ago."""
    from datetime import timedelta

    async def flow(p: ArkProvider) -> str | None:
        await p.submit(request(plan_seed=7))
        later = datetime.now(UTC) + timedelta(hours=1)
        return await p.find(request(plan_seed=7, submitting_at=later))

    assert run(using(provider(ark), flow)) is None


# ---------------------------------------------------------------------- retries on reads


def test_malformed_json_on_poll_is_retried(ark: FakeArkServer) -> None:
    sleeps = Sleeps()

    async def flow(p: ArkProvider) -> JobStatus:
        job_id = await p.submit(request())
        ark.inject("get", "malformed")
        return await p.poll(job_id)

    status = run(using(provider(ark, sleeps), flow))
    assert status.state == "succeeded"
    assert ark.stats()["requests"]["get"] == 2
    assert len(sleeps.delays) == 1


def test_server_errors_and_rate_limits_on_poll_are_retried_honouring_retry_after(
    ark: FakeArkServer,
) -> None:
    sleeps = Sleeps()

    async def flow(p: ArkProvider) -> JobStatus:
        job_id = await p.submit(request())
        ark.inject("get", "status", status_code=503)
        ark.inject("get", "status", status_code=429, retry_after=3)
        return await p.poll(job_id)

    assert run(using(provider(ark, sleeps), flow)).state == "succeeded"
    assert 3.0 in sleeps.delays
    assert ark.stats()["requests"]["get"] == 3


def test_poll_gives_up_after_the_retry_budget(ark: FakeArkServer) -> None:
    async def flow(p: ArkProvider) -> JobStatus:
        job_id = await p.submit(request())
        ark.inject("get", "status", status_code=500, times=50)
        return await p.poll(job_id)

    with pytest.raises(ProviderUnavailable):
        run(using(provider(ark), flow))
    assert ark.stats()["requests"]["get"] == RetryPolicy().attempts


# ---------------------------------------------------------------------- moderation and billing


def test_output_moderation_fails_the_job_with_its_code_unbilled(ark: FakeArkServer) -> None:
    async def flow(p: ArkProvider) -> JobStatus:
        return await poll_until_final(p, await p.submit(request(prompt="x [[moderate-output]]")))

    status = run(using(provider(ark), flow))
    assert status.state == "failed"
    assert status.error_code == "OutputVideoSensitiveContentDetected"
    assert status.cost_usd == 0


def test_billed_output_moderation_reports_its_cost(ark: FakeArkServer) -> None:
    req = request(prompt="x [[moderate-output-billed]]")

    async def flow(p: ArkProvider) -> JobStatus:
        return await poll_until_final(p, await p.submit(req))

    status = run(using(provider(ark), flow))
    assert status.state == "failed"
    assert status.cost_usd > 0
    assert status.cost_usd == pytest.approx(estimate_payload_usd("seeddance-2.0", req.payload))


def test_input_moderation_is_moderation_blocked_and_creates_nothing(ark: FakeArkServer) -> None:
    with pytest.raises(ModerationBlocked) as err:
        run(using(provider(ark), lambda p: p.submit(request(prompt="[[moderate-input]]"))))
    assert err.value.code == "InputTextSensitiveContentDetected"
    assert ark.stats()["creates_total"] == 0


def test_mixing_frames_and_references_on_2_0_is_refused_before_any_call(
    ark: FakeArkServer, tmp_path: Path
) -> None:
    req = request(
        "r2v_multi",
        inputs={"first_frame": png_file(tmp_path / "a.png")},
        reference_images=["https://cdn.example/ref.png"],
    )
    with pytest.raises(ProviderRejected, match="cannot mix"):
        run(using(provider(ark), lambda p: p.submit(req)))
    assert ark.stats()["requests"] == {}


# ---------------------------------------------------------------------- downloads


def test_expired_media_url_is_refreshed_from_the_task(ark: FakeArkServer, tmp_path: Path) -> None:
    ark.set(expired_media_urls=1)
    dest = tmp_path / "v.mp4"

    async def flow(p: ArkProvider) -> str:
        job_id = await p.submit(request())
        await p.download(await poll_until_final(p, job_id), dest)
        return job_id

    job_id = run(using(provider(ark), flow))
    assert dest.read_bytes() == media_bytes(job_id)
    assert ark.stats()["requests"]["media"] == 2


def test_media_url_that_stays_expired_gives_up_without_a_file(
    ark: FakeArkServer, tmp_path: Path
) -> None:
    ark.set(expired_media_urls=100)
    dest = tmp_path / "v.mp4"

    async def flow(p: ArkProvider) -> None:
        await p.download(await poll_until_final(p, await p.submit(request())), dest)

    with pytest.raises(ProviderUnavailable) as err:
        run(using(provider(ark), flow))
    assert err.value.code == "media_expired"
    assert not dest.exists()


def test_a_video_kept_past_its_24_hours_is_output_expired_with_the_bill_standing(
    ark: FakeArkServer, tmp_path: Path
) -> None:
    """Within Ark's 24 h a GET signs a fresh URL and the download works; after them every
    URL answers 404 and the download raises OutputExpired (final), not a retryable error."""
    dest = tmp_path / "v.mp4"

    async def flow(p: ArkProvider) -> tuple[str, JobStatus, OutputExpired]:
        job_id = await p.submit(request())
        status = await poll_until_final(p, job_id)
        ark.pass_time(23 * 3600)
        await p.download(status, dest)  # still kept: fine
        ark.pass_time(2 * 3600)
        with pytest.raises(OutputExpired) as gone:
            await p.download(status, tmp_path / "again.mp4")
        return job_id, status, gone.value

    job_id, status, gone = run(using(provider(ark), flow))

    assert dest.read_bytes() == media_bytes(job_id)
    assert gone.job_id == job_id and gone.code == "output_expired" and gone.cost_usd is None
    assert "24 h" in str(gone) and status.cost_usd > 0
    assert not (tmp_path / "again.mp4").exists()
    assert ark.stats()["tokens_by_task"][job_id] > 0


def test_video_not_ready_download_is_retried(ark: FakeArkServer, tmp_path: Path) -> None:
    ark.set(media_not_ready=2)
    sleeps = Sleeps()
    dest = tmp_path / "v.mp4"

    async def flow(p: ArkProvider) -> str:
        job_id = await p.submit(request())
        await p.download(await poll_until_final(p, job_id), dest)
        return job_id

    job_id = run(using(provider(ark, sleeps), flow))
    assert dest.read_bytes() == media_bytes(job_id)
    assert len(sleeps.delays) == 2
    assert ark.stats()["creates_total"] == 1


def test_media_host_errors_and_dropped_connections_are_retried(
    ark: FakeArkServer, tmp_path: Path
) -> None:
    dest = tmp_path / "v.mp4"

    async def flow(p: ArkProvider) -> str:
        job_id = await p.submit(request())
        status = await poll_until_final(p, job_id)
        ark.inject("media", "status", status_code=503)
        ark.inject("media", "drop")
        await p.download(status, dest)
        return job_id

    job_id = run(using(provider(ark), flow))
    assert dest.read_bytes() == media_bytes(job_id)
    assert ark.stats()["requests"]["media"] == 3


# ---------------------------------------------------------------------- secrets


def test_refused_key_never_appears_in_errors_logs_or_reprs(
    ark: FakeArkServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []

    async def flow(p: ArkProvider) -> str:
        for call in (lambda: p.submit(request()), lambda: p.poll("cgt-1"), lambda: p.cancel("x")):
            try:
                await call()
            except ProviderRejected as exc:
                errors.append(exc)
        return repr(p)

    text = run(using(provider(ark, key=SENTINEL_KEY), flow))
    assert len(errors) == 3
    assert all("ARK_API_KEY" in str(e) for e in errors)
    seen = [text] + [f"{e!s} {e!r} {e.args!r} {e.__cause__!r} {e.__context__!r}" for e in errors]
    seen += [record.getMessage() + repr(record.args) for record in caplog.records]
    assert not any(SENTINEL_KEY in item for item in seen)


def test_statuses_of_a_full_render_carry_no_key(tmp_path: Path) -> None:
    with FakeArkServer(api_key=SENTINEL_KEY) as ark:

        async def flow(p: ArkProvider) -> list[JobStatus]:
            job_id = await p.submit(request())
            status = await poll_until_final(p, job_id)
            await p.download(status, tmp_path / "v.mp4")
            return [status, await p.poll(job_id)]

        statuses = run(using(provider(ark), flow))
    assert not any(SENTINEL_KEY in repr(s) for s in statuses)


def test_unreachable_server_errors_carry_no_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with FakeArkServer() as gone:
        base_url = gone.base_url
    p = ArkProvider(
        api_key=SENTINEL_KEY,
        client=make_client(transport="aiohttp", connections=2),
        base_url=base_url,
        retry=RetryPolicy(base_s=0.0, attempts=2),
        sleep=Sleeps(),
    )
    with pytest.raises(ProviderUnavailable) as err:
        run(using(p, lambda p: p.poll("cgt-1")))
    assert SENTINEL_KEY not in f"{err.value!s} {err.value!r} {err.value.__context__!r}"
    assert not any(SENTINEL_KEY in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3.0), ("0.5", 0.5), ("-2", 0.0), ("inf", None), ("nan", None), ("soon", None)],
)
def test_retry_after_is_a_finite_wait_or_none(header: str, seconds: float | None) -> None:
    """``Retry-After: inf`` would have the runner wait forever on a rate-limited create."""
    from recoil_seeddance.errors import retry_after_s

    assert retry_after_s({"retry-after": header}) == seconds
