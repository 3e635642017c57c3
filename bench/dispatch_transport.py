"""Benchmark: create/poll/download cycles through the Seedance provider per HTTP transport.

Runs the fake Ark server in a separate process (50 ms latency per request, 300 ms queue
time), then drives N cycles at concurrency C with the httpx default transport and with
the aiohttp transport, and prints wall time, client CPU ms per task and ratios against
the ideal (latency-bound) wall time and against httpx. Usage::

    .venv/bin/python bench/dispatch_transport.py [--tasks 500] [--concurrency 100]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _fake_ark_process import API_KEY, fake_ark_process, run_cycles
from recoil_seeddance.provider import ArkProvider
from recoil_seeddance.transport import make_client

from recoil_core.contracts.provider import SubmitRequest


async def cycle(p: ArkProvider, index: int, poll_s: float, out_dir: Path) -> None:
    req = SubmitRequest(
        take_id=f"take-{index}",
        step_id="video",
        modality="video_t2v",
        model="seeddance-2.0",
        payload={"prompt": f"shot {index}", "duration_s": 5, "resolution": "720p"},
        seed=index,
        submitting_at=datetime.now(UTC),
    )
    job_id = await p.submit(req)
    while True:
        await asyncio.sleep(poll_s)
        status = await p.poll(job_id)
        if status.is_final:
            break
    await p.download(status, out_dir / f"{index}.mp4")


async def run_mode(
    transport: str, base_url: str, tasks: int, concurrency: int, poll_s: float
) -> tuple[float, float]:
    client = make_client(transport=transport, connections=concurrency + 4)
    p = ArkProvider(api_key=API_KEY, client=client, base_url=base_url)

    with tempfile.TemporaryDirectory() as tmp:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        await run_cycles(tasks, concurrency, lambda i: cycle(p, i, poll_s, Path(tmp)))
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    await p.aclose()
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--queue-s", type=float, default=0.3)
    parser.add_argument("--poll-s", type=float, default=0.1)
    args = parser.parse_args()
    latency = args.latency_ms / 1000
    # create, polls until the queue time has passed, the final poll's latency, download
    per_cycle = (
        latency
        + math.ceil(args.queue_s / (args.poll_s + latency)) * (args.poll_s + latency)
        + latency
    )
    ideal_wall = math.ceil(args.tasks / args.concurrency) * per_cycle
    results: dict[str, tuple[float, float]] = {}
    with fake_ark_process(args.latency_ms, args.queue_s) as base_url:
        for transport in ("httpx", "aiohttp"):
            results[transport] = asyncio.run(
                run_mode(transport, base_url, args.tasks, args.concurrency, args.poll_s)
            )
    print(
        f"{args.tasks} cycles at concurrency {args.concurrency}, "
        f"{args.latency_ms:g} ms latency, {args.queue_s:g} s queue, poll every {args.poll_s:g} s"
    )
    print(f"{'mode':<8} {'wall s':>8} {'x ideal':>8} {'cpu ms/task':>12} {'cpu x httpx':>12}")
    print(f"{'ideal':<8} {ideal_wall:>8.2f} {1.0:>8.2f} {0.0:>12.2f} {'':>12}")
    base_cpu = results["httpx"][1]
    for name, (wall, cpu) in results.items():
        print(
            f"{name:<8} {wall:>8.2f} {wall / ideal_wall:>8.2f} "
            f"{cpu * 1000 / args.tasks:>12.2f} {cpu / base_cpu:>12.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
