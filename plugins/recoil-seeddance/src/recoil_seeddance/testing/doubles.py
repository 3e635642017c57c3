"""Test doubles for driving :class:`~recoil_seeddance.provider.ArkProvider` directly: an
injected sleep that does not wait (:class:`Sleeps`), a submit request (:func:`request`) and
an HTTP client whose next create times out once the fake Ark made its task
(:func:`create_times_out`), so "the answer came too late" needs no race with the clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from recoil_core.api import SubmitRequest
from recoil_seeddance.testing.fake_ark import TASKS_PATH, FakeArkServer

__all__ = ["CreateTimesOut", "Sleeps", "create_times_out", "request"]


class Sleeps:
    """An injected sleep that records delays and yields without waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


def request(
    modality: str = "video_t2v",
    *,
    model: str = "seeddance-2.0",
    seed: int = 101,
    inputs: dict[str, Path] | None = None,
    submitting_at: datetime | None = None,
    plan_seed: int | None = None,
    request_key: str = "",
    **payload: Any,
) -> SubmitRequest:
    """A submit request of take ``take-1``, step ``video``: a 5 s 720p 16:9 clip without
    audio (``payload`` adds or replaces fields of the payload)."""
    body: dict[str, Any] = {
        "prompt": "a lighthouse at dusk",
        "model": model,
        "duration_s": 5.0,
        "aspect_ratio": "16:9",
        "resolution": "720p",
        "seed": plan_seed,
        "generate_audio": False,
    }
    body.update(payload)
    return SubmitRequest(
        take_id="take-1",
        step_id="video",
        modality=modality,
        model=model,
        payload=body,
        seed=seed,
        inputs=inputs or {},
        submitting_at=submitting_at or datetime.now(UTC),
        request_key=request_key,
    )


class CreateTimesOut(httpx.AsyncBaseTransport):
    """A transport whose next ``times`` creates raise :class:`httpx.ReadTimeout` once the
    fake Ark has made their task (the answer, whatever it is, is dropped): a create that
    reached Ark but whose answer came too late, whatever the machine's load. Every other
    request goes through ``inner``."""

    def __init__(
        self, ark: FakeArkServer, inner: httpx.AsyncBaseTransport, *, times: int = 1
    ) -> None:
        self.ark = ark
        self.inner = inner
        self.times = times

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        is_create = request.method == "POST" and request.url.path.rstrip("/") == TASKS_PATH
        if not (is_create and self.times > 0):
            return await self.inner.handle_async_request(request)
        self.times -= 1
        made = self.ark.creates_total
        sent = asyncio.create_task(self.inner.handle_async_request(request))
        # Wait for the server's own count of made tasks, not for a clock.
        while self.ark.creates_total == made and not sent.done():
            await asyncio.sleep(0.001)
        if sent.done() and self.ark.creates_total == made:
            return sent.result()  # the server answered without making a task (a fault)
        sent.cancel()
        raise httpx.ReadTimeout("the create's answer timed out (test)", request=request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def create_times_out(ark: FakeArkServer, *, times: int = 1) -> httpx.AsyncClient:
    """An HTTP client (default timeouts) whose next ``times`` creates to ``ark`` time out
    after Ark made their task (:class:`CreateTimesOut`)."""
    return httpx.AsyncClient(transport=CreateTimesOut(ark, httpx.AsyncHTTPTransport(), times=times))
