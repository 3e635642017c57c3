"""The fal provider against the fake fal queue API, call by call."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from recoil_fal.provider import create_provider
from recoil_fal.testing.fake_fal import FakeFalServer

from recoil_core.api import (
    AuthenticationFailed,
    LookupAmbiguous,
    OutputExpired,
    ProviderContext,
    ProviderRejected,
    SubmitRequest,
)


def provider_for(fal: FakeFalServer, key: str | None = None):  # type: ignore[no-untyped-def]
    env = {
        "FAL_KEY": key or fal.api_key,
        "FAL_QUEUE_URL": fal.base_url,
        "FAL_API_URL": fal.base_url,
    }
    return create_provider(ProviderContext(env=env))


def request(key: str = "key-1", seconds: float = 5.0, model: str = "kling-2.1") -> SubmitRequest:
    payload = {"prompt": "a harbour at dusk", "duration_s": seconds, "aspect_ratio": "16:9"}
    return SubmitRequest(
        "SH01_take_0",
        "video",
        "video_t2v",
        model,
        payload,
        seed=1,
        submitting_at=datetime.now(UTC),
        request_key=key,
    )


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_a_unit_longer_than_the_model_renders_is_refused_before_anything_is_sent(
    fake_fal: FakeFalServer,
) -> None:
    async def scenario() -> None:
        provider = provider_for(fake_fal)
        try:
            with pytest.raises(ProviderRejected, match="at most 10 s"):
                await provider.submit(request(seconds=36.0))
        finally:
            await provider.aclose()

    run(scenario())
    assert fake_fal.creates_total == 0 and "submit" not in fake_fal.requests_by_op


def test_a_unit_is_rendered_at_the_shortest_duration_covering_it(fake_fal: FakeFalServer) -> None:
    async def scenario() -> str:
        provider = provider_for(fake_fal)
        try:
            return await provider.submit(request(seconds=6.0))
        finally:
            await provider.aclose()

    job_id = run(scenario())
    (sent,) = fake_fal.requests()
    assert sent.input["duration"] == "10" and job_id.endswith(sent.id)


def test_a_refused_key_is_an_authentication_error_that_never_shows_the_key(
    fake_fal: FakeFalServer,
) -> None:
    async def scenario() -> None:
        provider = provider_for(fake_fal, key="wrong-key-0042")
        try:
            await provider.submit(request())
        finally:
            await provider.aclose()

    with pytest.raises(AuthenticationFailed) as caught:
        run(scenario())
    assert "wrong-key-0042" not in str(caught.value) and fake_fal.creates_total == 0


def test_a_running_request_cancelled_goes_on_and_is_billed(fake_fal: FakeFalServer) -> None:
    fake_fal.set(hold="running")

    async def scenario() -> tuple[str, float]:
        provider = provider_for(fake_fal)
        try:
            job_id = await provider.submit(request())
            assert (await provider.poll(job_id)).state == "running"
            await provider.cancel(job_id)
            fake_fal.set(hold=None)
            status = await provider.poll(job_id)
            return status.state, status.cost_usd
        finally:
            await provider.aclose()

    state, cost = run(scenario())
    assert list(fake_fal.cancels.values()) == ["CANCELLATION_REQUESTED"]
    assert state == "succeeded" and cost == pytest.approx(sum(fake_fal.billed_usd().values()))
    assert cost > 0


def test_find_matches_the_request_key_and_refuses_to_guess_between_two(
    fake_fal: FakeFalServer,
) -> None:
    async def scenario() -> None:
        provider = provider_for(fake_fal)
        try:
            job_id = await provider.submit(request("key-a"))
            await provider.submit(request("key-b"))
            assert await provider.find(request("key-a")) == job_id
            assert await provider.find(request("key-missing")) is None
            await provider.submit(request("key-a"))  # a second request with the same key
            with pytest.raises(LookupAmbiguous):
                await provider.find(request("key-a"))
        finally:
            await provider.aclose()

    run(scenario())


def test_fal_keeps_a_result_an_hour_and_its_media_a_week(fake_fal: FakeFalServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """After an hour the queue result is gone: a poll reports the request expired with its
    bill. The media stays a week: a status already holding its URL still downloads; after
    the week the download raises OutputExpired (fal does not sign URLs again)."""

    async def scenario():  # type: ignore[no-untyped-def]
        provider = provider_for(fake_fal)
        try:
            job_id = await provider.submit(request())
            done = await provider.poll(job_id)
            fake_fal.pass_time(3601)
            later = await provider.poll(job_id)
            await provider.download(done, tmp_path / "kept.mp4")
            fake_fal.pass_time(7 * 24 * 3600)
            with pytest.raises(OutputExpired) as gone:
                await provider.download(done, tmp_path / "gone.mp4")
            return job_id, done, later, gone.value
        finally:
            await provider.aclose()

    job_id, done, later, gone = run(scenario())

    assert done.state == "succeeded" and done.cost_usd > 0
    assert later.state == "expired" and later.error_code == "output_expired"
    assert later.cost_usd == done.cost_usd == sum(fake_fal.billed_usd().values())
    assert (tmp_path / "kept.mp4").stat().st_size > 0
    assert gone.job_id == job_id and not (tmp_path / "gone.mp4").exists()
