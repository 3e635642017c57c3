"""The replicate provider against the fake Replicate API on 127.0.0.1: what a create sends,
what a poll bills, lost creates found by their request key, output expiry, retries."""

from __future__ import annotations

import asyncio
import json
import struct
import zlib
from collections.abc import Awaitable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from recoil_replicate import plugin
from recoil_replicate.provider import FindPolicy, ReplicateProvider, RetryPolicy, sends_token_to
from recoil_replicate.testing.fake_replicate import (
    HARDWARE_PRICES,
    RETENTION_S,
    FakeReplicateServer,
    ManualClock,
    media_bytes,
)

from recoil_core.api import (
    AuthenticationFailed,
    LookupAmbiguous,
    OutputExpired,
    ProviderContext,
    ProviderRejected,
    ProviderUnavailable,
    SubmitRequest,
    WorkflowStep,
)

T = TypeVar("T")
TOKEN = "SENTINEL-replicate-token-51c0"


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


def png(path: Path) -> Path:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b""))
    return path


@pytest.fixture
def wall() -> ManualClock:
    return ManualClock(datetime.now(UTC).timestamp())


@pytest.fixture
def fake(wall: ManualClock) -> Iterator[FakeReplicateServer]:
    with FakeReplicateServer(api_token=TOKEN, wall_clock=wall) as server:
        yield server


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def provider_for(fake: FakeReplicateServer, sleeps: Sleeps | None = None) -> ReplicateProvider:
    return ReplicateProvider(
        api_token=TOKEN,
        client=httpx.AsyncClient(timeout=10.0),
        base_url=fake.base_url,
        retry=RetryPolicy(attempts=4, base_s=0.0),
        find_policy=FindPolicy(clock_skew_s=5.0),
        sleep=sleeps if sleeps is not None else Sleeps(),
    )


def request(
    model: str = "seedance-1-pro",
    *,
    key: str = "rk-one",
    at: datetime | None = None,
    inputs: dict[str, Path] | None = None,
    **payload: Any,
) -> SubmitRequest:
    return SubmitRequest(
        take_id="SH01_take_0",
        step_id="video",
        modality="video_i2v" if inputs else "video_t2v",
        model=model,
        payload={"prompt": "a harbour at dawn", "duration_s": 4.2, **payload},
        seed=12345,
        inputs=inputs or {},
        submitting_at=at or datetime.now(UTC) - timedelta(seconds=1),
        request_key=key,
    )


async def settle(provider: ReplicateProvider, job_id: str) -> Any:
    for _ in range(10):
        status = await provider.poll(job_id)
        if status.is_final:
            return status
    raise AssertionError(f"{job_id} never finished")


# ------------------------------------------------------------------ create and bill


def test_an_official_create_maps_the_step_and_bills_its_output_seconds(
    fake: FakeReplicateServer,
) -> None:
    provider = provider_for(fake)

    async def scenario() -> Any:
        job_id = await provider.submit(request(resolution="1080p", aspect_ratio="9:16"))
        try:
            return job_id, await settle(provider, job_id)
        finally:
            await provider.aclose()

    job_id, status = run(scenario())

    sent = fake.prediction(job_id)["input"]
    assert sent == {
        "prompt": "a harbour at dawn",
        "duration": 5,  # 4.2 s rounded up to a duration the model renders
        "resolution": "1080p",
        "aspect_ratio": "9:16",
        "seed": 12345,
        "recoil_request_key": "rk-one",
    }
    assert status.state == "succeeded" and status.media_url
    assert status.cost_usd == pytest.approx(5 * 0.15)
    assert status.cost_usd == fake.stats()["billed_usd_by_prediction"][job_id]
    assert status.metadata["price_table"].startswith("shipped ")


def test_kling_animates_the_start_image_and_takes_the_last_frame_only_in_pro_mode(
    fake: FakeReplicateServer, tmp_path: Path
) -> None:
    provider = provider_for(fake)
    frames = {"first_frame": png(tmp_path / "a.png"), "last_frame": png(tmp_path / "b.png")}

    async def scenario() -> str:
        try:
            with pytest.raises(ProviderRejected, match="animates a start image"):
                await provider.submit(request("kling-v2.1"))
            with pytest.raises(ProviderRejected, match="no last frame at 720p"):
                await provider.submit(request("kling-v2.1", inputs=frames))
            return await provider.submit(request("kling-v2.1", inputs=frames, resolution="1080p"))
        finally:
            await provider.aclose()

    job_id = run(scenario())

    sent = fake.prediction(job_id)["input"]
    assert sent["mode"] == "pro" and sent["duration"] == 5
    assert sent["start_image"].startswith("data:image/png;base64,")
    assert sent["end_image"].startswith("data:image/png;base64,")
    assert fake.stats()["creates_total"] == 1


def test_a_unit_longer_than_the_model_renders_is_refused_never_clamped(
    fake: FakeReplicateServer,
) -> None:
    provider = provider_for(fake)

    async def scenario() -> None:
        try:
            with pytest.raises(ProviderRejected, match="at most 12 s; 36 s") as refused:
                await provider.submit(request(duration_s=36.0))
            assert refused.value.code == "duration_out_of_range"
        finally:
            await provider.aclose()

    run(scenario())
    assert fake.stats()["creates_total"] == 0


def test_a_short_versioned_model_is_created_with_prefer_wait_and_billed_its_hardware_time(
    fake: FakeReplicateServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = fake.add_version("acme/quick", hardware="gpu-t4", predict_s=8.0)
    prices = tmp_path / "prices.json"
    prices.write_text(
        json.dumps(
            {
                "as_of": "2026-11-30",
                "versioned": {"acme/quick": {"hardware": "gpu-t4", "estimate_predict_s": 20}},
            }
        )
    )
    monkeypatch.setenv("RECOIL_REPLICATE_PRICES", str(prices))
    provider = provider_for(fake)
    model = f"acme/quick:{version}"

    async def scenario() -> Any:
        try:
            job_id = await provider.submit(request(model, provider_hints={"input": {"steps": 4}}))
            return job_id, await provider.poll(job_id)
        finally:
            await provider.aclose()

    job_id, status = run(scenario())

    assert status.state == "succeeded"
    assert fake.stats()["requests"].get("get", 0) == 0, "the waited create answered the poll"
    assert status.cost_usd == pytest.approx(8.0 * HARDWARE_PRICES["gpu-t4"])
    assert status.metadata["hardware"] == "gpu-t4"
    assert status.metadata["price_table"] == f"{prices} 2026-11-30"
    assert fake.prediction(job_id)["input"]["steps"] == 4
    step = WorkflowStep(step_id="video", modality="video_t2v", provider="replicate", model=model)
    assert plugin.estimate_step_usd(step) == pytest.approx(20 * HARDWARE_PRICES["gpu-t4"])


def test_a_versioned_model_failure_is_billed_the_time_it_ran(fake: FakeReplicateServer) -> None:
    version = fake.add_version("acme/crashy", hardware="gpu-h100", predict_s=30.0)
    provider = provider_for(fake)

    async def scenario() -> Any:
        try:
            job_id = await provider.submit(request(f"acme/crashy:{version}", prompt="[[fail]]"))
            return await settle(provider, job_id)
        finally:
            await provider.aclose()

    status = run(scenario())

    assert status.state == "failed" and status.error_code == "prediction_failed"
    # an unlisted versioned model is priced at the dearest hardware: never below its bill
    assert status.cost_usd >= 30.0 * HARDWARE_PRICES["gpu-h100"]
    assert "assumed" in status.metadata["hardware"]


def test_output_moderation_is_a_failed_official_prediction_billed_nothing(
    fake: FakeReplicateServer,
) -> None:
    provider = provider_for(fake)

    async def scenario() -> Any:
        try:
            job_id = await provider.submit(request(prompt="[[moderate]] a harbour"))
            return await settle(provider, job_id)
        finally:
            await provider.aclose()

    status = run(scenario())

    assert (status.state, status.error_code, status.cost_usd) == ("failed", "moderated", 0.0)
    assert "flagged as sensitive" in status.error_message


# ------------------------------------------------------------------ output retention


def test_a_prediction_polled_after_the_hour_is_expired_with_its_bill_and_the_reason(
    fake: FakeReplicateServer, wall: ManualClock, tmp_path: Path
) -> None:
    first = provider_for(fake)

    async def create() -> Any:
        try:
            job_id = await first.submit(request())
            return await settle(first, job_id)
        finally:
            await first.aclose()

    done = run(create())
    wall.advance(RETENTION_S + 1)  # the run was killed, and resumed after the hour
    later = provider_for(fake)

    async def resume() -> Any:
        try:
            status = await later.poll(done.job_id)
            with pytest.raises(OutputExpired) as gone:
                await later.download(done, tmp_path / "clip.mp4")
            return status, gone.value
        finally:
            await later.aclose()

    status, gone = run(resume())

    assert status.state == "expired" and status.error_code == "output_expired"
    assert "removed prediction" in status.error_message
    assert status.media_url is None
    # a later run cannot see what the create asked for (the input is gone): it never
    # bills below the real bill
    assert status.cost_usd >= fake.stats()["billed_usd_by_prediction"][done.job_id] > 0
    assert status.metadata["bill_basis"].startswith("assumed")
    assert gone.code == "output_expired" and not (tmp_path / "clip.mp4").exists()


def test_the_run_that_made_a_prediction_bills_it_exactly_even_after_the_hour(
    fake: FakeReplicateServer, wall: ManualClock
) -> None:
    provider = provider_for(fake)

    async def scenario() -> Any:
        try:
            job_id = await provider.submit(request(resolution="480p", duration_s=7))
            await settle(provider, job_id)
            wall.advance(RETENTION_S)
            return await provider.poll(job_id)
        finally:
            await provider.aclose()

    status = run(scenario())

    assert status.state == "expired"
    assert status.cost_usd == pytest.approx(7 * 0.03)
    assert status.cost_usd == fake.stats()["billed_usd_by_prediction"][status.job_id]


def resumed_after_the_hour(
    fake: FakeReplicateServer, wall: ManualClock, sent: SubmitRequest, told: SubmitRequest
) -> tuple[Any, Any]:
    """A prediction created for ``sent`` and finished; the run is killed before its
    download and resumed after the hour by a provider the kernel tells ``told`` (what it
    persisted before the create). The first run's final status and the resumed poll's."""
    first = provider_for(fake)

    async def create() -> Any:
        try:
            return await settle(first, await first.submit(sent))
        finally:
            await first.aclose()

    done = run(create())
    wall.advance(RETENTION_S + 1)
    later = provider_for(fake)

    async def resume() -> Any:
        try:
            later.remember(done.job_id, told)
            return await later.poll(done.job_id)
        finally:
            await later.aclose()

    return done, run(resume())


def test_a_later_run_told_the_request_bills_it_exactly_after_the_hour(
    fake: FakeReplicateServer, wall: ManualClock
) -> None:
    sent = request(resolution="480p", duration_s=7)

    done, status = resumed_after_the_hour(fake, wall, sent, sent)

    assert status.state == "expired" and status.error_code == "output_expired"
    assert status.cost_usd == pytest.approx(7 * 0.03)
    assert status.cost_usd == fake.stats()["billed_usd_by_prediction"][done.job_id]
    assert status.metadata["bill_basis"] == "as sent"


def test_a_request_replicate_would_refuse_teaches_remember_nothing(
    fake: FakeReplicateServer, wall: ManualClock
) -> None:
    refused = request(resolution="8k")  # no such resolution

    done, status = resumed_after_the_hour(fake, wall, request(), refused)

    assert status.metadata["bill_basis"].startswith("assumed")  # never below the bill
    assert status.cost_usd >= fake.stats()["billed_usd_by_prediction"][done.job_id]


def test_download_writes_the_output_and_sends_the_token_only_to_replicate_hosts(
    fake: FakeReplicateServer, tmp_path: Path
) -> None:
    provider = provider_for(fake)

    async def scenario() -> Any:
        try:
            job_id = await provider.submit(request())
            status = await settle(provider, job_id)
            await provider.download(status, tmp_path / "clip.mp4")
            return status
        finally:
            await provider.aclose()

    status = run(scenario())

    assert (tmp_path / "clip.mp4").read_bytes() == media_bytes(status.job_id)
    assert fake.stats()["media_requests_with_auth"] == 1
    base = "https://api.replicate.com/v1"
    assert sends_token_to("https://replicate.delivery/xezq/out.mp4", base)
    assert sends_token_to("https://pbxt.replicate.delivery/out.mp4", base)
    assert not sends_token_to("https://cdn.example.com/out.mp4", base)
    assert not sends_token_to("https://replicate.delivery.example.com/out.mp4", base)


# ------------------------------------------------------------------ lost creates


def test_a_create_whose_answer_was_lost_is_found_by_its_request_key(
    fake: FakeReplicateServer, wall: ManualClock
) -> None:
    provider = provider_for(fake)
    fake.set(page_size=2)

    async def scenario() -> Any:
        try:
            fake.inject("create", "drop")
            with pytest.raises(ProviderUnavailable) as lost:
                await provider.submit(request(key="rk-lost"))
            for n in range(4):  # newer predictions of other takes push it to page 3
                wall.advance(1)
                await provider.submit(request(key=f"rk-other-{n}"))
            return lost.value, await provider.find(request(key="rk-lost"))
        finally:
            await provider.aclose()

    lost, found = run(scenario())

    assert lost.code == "ambiguous_create"
    assert found == fake.prediction_ids()[0]
    assert fake.stats()["creates_total"] == 5, "the lost create was not sent again"


def test_find_answers_none_only_when_no_prediction_could_be_the_create(
    fake: FakeReplicateServer,
) -> None:
    provider = provider_for(fake)

    async def scenario() -> Any:
        try:
            await provider.submit(request(key="rk-a", prompt="another shot"))
            return await provider.find(request(key="rk-never-sent"))
        finally:
            await provider.aclose()

    assert run(scenario()) is None


def test_find_never_guesses_between_predictions_it_cannot_tell_apart(
    fake: FakeReplicateServer, wall: ManualClock
) -> None:
    provider = provider_for(fake)
    since = datetime.fromtimestamp(wall(), UTC)

    async def scenario() -> None:
        try:
            await provider.submit(request(key="rk-twice"))
            await provider.submit(request(key="rk-twice"))
            with pytest.raises(LookupAmbiguous, match="2 predictions"):
                await provider.find(request(key="rk-twice", at=since))
        finally:
            await provider.aclose()

    run(scenario())


def test_a_prediction_whose_input_was_removed_makes_the_search_ambiguous(
    fake: FakeReplicateServer, wall: ManualClock
) -> None:
    provider = provider_for(fake)
    since = datetime.fromtimestamp(wall(), UTC)

    async def scenario() -> None:
        try:
            job_id = await provider.submit(request(key="rk-old"))
            await settle(provider, job_id)
            wall.advance(RETENTION_S)
            with pytest.raises(LookupAmbiguous, match="no longer shows a request key"):
                await provider.find(request(key="rk-old", at=since))
        finally:
            await provider.aclose()

    run(scenario())


def test_the_search_is_declared_for_less_than_the_hour_inputs_are_kept() -> None:
    (spec,) = plugin.recoil_providers()
    assert spec.can_find_by_request and spec.find_window_s is not None
    assert spec.find_window_s < RETENTION_S == spec.output_retention_s
    assert spec.cancellable_states == frozenset({"queued"}) and spec.bills_failures


# ------------------------------------------------------------------ retries and errors


def test_a_429_create_is_retried_after_retry_after_and_a_5xx_create_never(
    fake: FakeReplicateServer, sleeps: Sleeps
) -> None:
    provider = provider_for(fake, sleeps)

    async def scenario() -> Any:
        try:
            fake.inject("create", "status", times=2, status_code=429, retry_after=7)
            made = await provider.submit(request(key="rk-limited"))
            fake.inject("create", "status", status_code=503)
            with pytest.raises(ProviderUnavailable) as ambiguous:
                await provider.submit(request(key="rk-5xx"))
            return made, ambiguous.value
        finally:
            await provider.aclose()

    made, ambiguous = run(scenario())

    assert sleeps == [7.0, 7.0]
    assert ambiguous.code == "ambiguous_create"
    assert fake.stats()["creates_by_key"] == {"rk-limited": 1, "rk-5xx": 1}
    assert made in fake.prediction_ids()


def test_a_refused_token_is_named_and_never_shown(fake: FakeReplicateServer) -> None:
    provider = ReplicateProvider(
        api_token="SENTINEL-wrong-token",
        client=httpx.AsyncClient(timeout=10.0),
        base_url=fake.base_url,
    )

    async def scenario() -> AuthenticationFailed:
        try:
            with pytest.raises(AuthenticationFailed) as refused:
                await provider.submit(request())
            return refused.value
        finally:
            await provider.aclose()

    refused = run(scenario())

    assert "REPLICATE_API_TOKEN" in str(refused) and "SENTINEL" not in str(refused)
    assert "SENTINEL" not in repr(provider)


def test_the_factory_reads_the_token_and_base_url_from_the_context(
    fake: FakeReplicateServer,
) -> None:
    (spec,) = plugin.recoil_providers()
    env = {"REPLICATE_API_TOKEN": TOKEN, "REPLICATE_API_BASE": fake.base_url}
    provider = spec.factory(ProviderContext(env={**env, "RECOIL_HTTP_TRANSPORT": "httpx"}))

    async def scenario() -> str:
        try:
            return await provider.submit(request())
        finally:
            await provider.aclose()

    assert run(scenario()) in fake.prediction_ids()
    assert spec.check is not None
    assert spec.check(ProviderContext(env=env)) == []
    (missing,) = spec.check(ProviderContext(env={}))
    assert "REPLICATE_API_TOKEN is not set" in missing
