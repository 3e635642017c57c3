"""The fake Ark server in its own process (its CPU is not the client's), and a bounded
loop of client cycles against it, for the dispatch benchmarks."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import httpx

API_KEY = "bench-ark-key"


@contextmanager
def fake_ark_process(latency_ms: float, queue_s: float) -> Iterator[str]:
    """Start ``recoil_seeddance.testing.fake_ark`` accepting :data:`API_KEY`, with ``latency_ms``
    added to every request and tasks finishing ``queue_s`` after their create; yield its
    base URL, stop it on exit."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "recoil_seeddance.testing.fake_ark",
            "--port",
            "0",
            "--print-port",
            "--api-key",
            API_KEY,
            "--latency-ms",
            str(latency_ms),
            "--queue-s",
            str(queue_s),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        if not base_url.startswith("http"):
            raise SystemExit("the fake Ark server did not start")
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ideal_s(takes: int, concurrency: int, latency_ms: float, queue_s: float) -> float:
    """The latency-bound time of ``takes`` at ``concurrency``: ``ceil(takes / concurrency)``
    waves of one task's create + queue + final poll + download."""
    latency = latency_ms / 1000
    return math.ceil(takes / concurrency) * (latency + queue_s + latency + latency)


def request_counts(base_url: str) -> dict[str, int]:
    """Requests the fake server has answered so far, by operation (create, get, list, ...)."""
    root = base_url.split("/api/")[0] if "/api/" in base_url else base_url
    counts = httpx.get(f"{root}/_fake/stats", timeout=10).json()["requests"]
    return {str(op): int(n) for op, n in counts.items()}


async def run_cycles(n: int, concurrency: int, cycle: Callable[[int], Awaitable[None]]) -> None:
    """Run ``cycle(0)`` .. ``cycle(n - 1)``, at most ``concurrency`` of them at a time."""
    slots = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        async with slots:
            await cycle(index)

    await asyncio.gather(*(one(index) for index in range(n)))
