"""Benchmark: Recoil dispatching takes to Seedance against bare HTTP scripts and the ideal.

A fake Ark server (``recoil_seeddance.testing.fake_ark``) runs in a separate process (its CPU
is not counted) with 50 ms added to every request and tasks finishing 300 ms after their
create. Against it, in this run:

* Recoil: 500 takes (a 500-shot plan, ``solo`` strategy) through the real ``EpisodeRunner``,
  the real ``seeddance`` provider, the filesystem backend and render writer in a temp dir,
  concurrency 100 (raised through ``RECOIL_SEEDDANCE_CONCURRENCY``; polls every 50 ms
  through ``RECOIL_SEEDDANCE_POLL_S``). Seedance gives a task's slot back when the task is
  final (``download_in_slot=False``: Ark counts running tasks), so its download overlaps
  the next task; a second Recoil line holds the slot through the download, as the bare
  scripts and the ideal do;
* a bare httpx asyncio script doing the same create / poll / download calls, with httpx's
  default transport, then with ``httpx_aiohttp.AiohttpTransport``;
* the ideal latency-bound time: ``ceil(takes / concurrency)`` waves of one task's
  create + queue + final poll + download.

Printed: wall times, their ratios to the ideal, CPU ms per take, and the requests per
take the server counted for each run (Recoil's provider answers concurrent polls with one
list request; ``--poll-batch 0`` polls task by task like the bare scripts).
Targets for Recoil: wall <= 1.2 x ideal, <= 5 ms CPU per take.

    .venv/bin/python bench/dispatch.py [--takes 500] [--concurrency 100] [--poll-batch N]
        [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import attrs
import httpx
from _fake_ark_process import API_KEY, fake_ark_process, ideal_s, request_counts, run_cycles

from recoil_core import hookimpl
from recoil_core.contracts.backend import BackendContext
from recoil_core.contracts.provider import CostEstimator, ProviderSpec
from recoil_core.model import CanonicalPlan
from recoil_core.registry import build_registry
from recoil_core.runner import EpisodeRunner, RunOptions
from recoil_core.settings import PluginSelection
from recoil_core.testing.plans import canonical_plan, canonical_shot

MODEL_ID = "dreamina-seedance-2-0-260128"
TASKS = "/contents/generations/tasks"


def generate_plan(n_shots: int) -> CanonicalPlan:
    shots = [
        canonical_shot(
            f"EP001_SH{i + 1:04d}",
            scene_index=i + 1,
            duration_s=5.0,
            prompt=f"shot {i + 1}: the crew crosses the market at dusk",
        )
        for i in range(n_shots)
    ]
    return canonical_plan(shots, project="bench")


class SlotThroughDownload:
    """Plugin: ``seeddance`` again as ``seeddance-slot``, holding a task's slot until its
    download is done."""

    NAME = "seeddance-slot"

    @hookimpl
    def recoil_providers(self) -> list[ProviderSpec]:
        from recoil_seeddance.plugin import recoil_providers

        [spec] = recoil_providers()
        limits = attrs.evolve(spec.limits, download_in_slot=True)
        return [attrs.evolve(spec, name=self.NAME, limits=limits)]

    @hookimpl
    def recoil_cost_estimators(self) -> list[CostEstimator]:
        from recoil_seeddance.estimate import ESTIMATOR

        return [attrs.evolve(ESTIMATOR, provider=self.NAME)]


def run_recoil(
    root: Path,
    base_url: str,
    n: int,
    concurrency: int,
    poll_s: float,
    profile: bool,
    poll_batch: int | None = None,
    slot_through_download: bool = False,
) -> dict[str, Any]:
    env = {
        "ARK_API_KEY": API_KEY,
        "ARK_BASE_URL": base_url,
        "RECOIL_SEEDDANCE_POLL_S": str(poll_s),
        "RECOIL_SEEDDANCE_CONCURRENCY": str(concurrency),
    }
    if poll_batch is not None:
        env["RECOIL_SEEDDANCE_POLL_BATCH"] = str(poll_batch)
    os.environ.update(env)  # provider limits are read when the plugin is loaded
    plugins = ("filesystem", "grouping", "video", "i2v", "seeddance")
    extra: list[tuple[str, object]] = []
    if slot_through_download:
        extra = [(SlotThroughDownload.NAME, SlotThroughDownload())]
    registry = build_registry(
        PluginSelection(load_only=(*plugins, *(name for name, _ in extra))), extra=extra
    )
    provider = SlotThroughDownload.NAME if slot_through_download else "seeddance"
    backend = registry.backend("filesystem").factory(BackendContext(projects_root=root))
    runner = EpisodeRunner(
        generate_plan(n),
        registry=registry,
        backend=backend,
        env=env,
        options=RunOptions(strategy="solo", provider=provider, concurrency=concurrency),
    )
    profiler = cProfile.Profile() if profile else None
    t0, wall0 = os.times(), time.perf_counter()
    if profiler:
        profiler.enable()
    report = asyncio.run(runner.run())
    if profiler:
        profiler.disable()
    t1 = os.times()
    result = {
        "cpu": (t1.user - t0.user) + (t1.system - t0.system),
        "user": t1.user - t0.user,
        "sys": t1.system - t0.system,
        "wall": time.perf_counter() - wall0,
    }
    if report.take_counts.get("succeeded") != n:
        raise SystemExit(f"recoil: expected {n} succeeded takes, got {report.take_counts}")
    if profiler:
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(30)
        stats.sort_stats("tottime").print_stats(25)
    return result


async def bare_script(
    base_url: str, n: int, concurrency: int, poll_s: float, transport: str, out: Path
) -> None:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    if transport == "aiohttp":
        from httpx_aiohttp import AiohttpTransport

        client = httpx.AsyncClient(transport=AiohttpTransport(limits=limits), timeout=60)
    else:
        client = httpx.AsyncClient(limits=limits, timeout=60)
    headers = {"Authorization": f"Bearer {API_KEY}"}

    async def one(i: int) -> None:
        body = {
            "model": MODEL_ID,
            "content": [{"type": "text", "text": f"shot {i + 1}"}],
            "resolution": "720p",
            "ratio": "9:16",
            "duration": 5,
            "seed": i,
        }
        created = await client.post(base_url + TASKS, json=body, headers=headers)
        task_id = created.json()["id"]
        while True:
            task = (await client.get(f"{base_url}{TASKS}/{task_id}", headers=headers)).json()
            if task["status"] in ("succeeded", "failed", "cancelled", "expired"):
                break
            await asyncio.sleep(poll_s)
        media = await client.get(task["content"]["video_url"])
        (out / f"{task_id}.mp4").write_bytes(media.content)

    async with client:
        await run_cycles(n, concurrency, one)


def run_bare(
    base_url: str, n: int, concurrency: int, poll_s: float, transport: str, out: Path
) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    t0, wall0 = os.times(), time.perf_counter()
    asyncio.run(bare_script(base_url, n, concurrency, poll_s, transport, out))
    t1 = os.times()
    return {
        "cpu": (t1.user - t0.user) + (t1.system - t0.system),
        "user": t1.user - t0.user,
        "sys": t1.system - t0.system,
        "wall": time.perf_counter() - wall0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--takes", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--queue-s", type=float, default=0.3)
    parser.add_argument("--poll-s", type=float, default=0.05)
    parser.add_argument(
        "--poll-batch",
        type=int,
        default=None,
        help="RECOIL_SEEDDANCE_POLL_BATCH for Recoil's run (0: one GET per poll, as the bare "
        "scripts do; default: the provider's, one list request for the polls waiting at once)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds of the bare aiohttp script and both Recoil runs, in rotating order; "
        "medians are printed (the bare httpx script, CPU-bound, runs once)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="print a cProfile of Recoil's first run"
    )
    args = parser.parse_args()
    n, c = args.takes, args.concurrency
    ideal = ideal_s(n, c, args.latency_ms, args.queue_s)
    tmp = Path(tempfile.mkdtemp(prefix="recoil-bench-dispatch-"))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in ROWS}
    try:
        with fake_ark_process(args.latency_ms, args.queue_s) as base_url:

            def counted(name: str, run: Any) -> None:
                # Write back what earlier runs left dirty (the bare scripts' files) first,
                # so that no run's syncfs pays for another run's files.
                os.sync()
                before = request_counts(base_url)
                result: dict[str, Any] = run(tmp / f"{name}-{len(runs[name])}".replace(" ", "-"))
                after = request_counts(base_url)
                result["requests"] = {
                    op: after[op] - before.get(op, 0)
                    for op in sorted(after)
                    if after[op] - before.get(op, 0)
                }
                runs[name].append(result)

            makers = {
                "bare httpx": lambda out: run_bare(base_url, n, c, args.poll_s, "httpx", out),
                "bare httpx+aiohttp": lambda out: run_bare(
                    base_url, n, c, args.poll_s, "aiohttp", out
                ),
                "recoil": lambda out: run_recoil(
                    out,
                    base_url,
                    n,
                    c,
                    args.poll_s,
                    args.profile and not runs["recoil"],
                    args.poll_batch,
                ),
                "recoil, slot thru dl": lambda out: run_recoil(
                    out, base_url, n, c, args.poll_s, False, args.poll_batch, True
                ),
            }
            counted("bare httpx", makers["bare httpx"])
            rotating = ROWS[1:]
            for i in range(max(1, args.rounds)):
                for name in rotating[i % 3 :] + rotating[: i % 3]:
                    counted(name, makers[name])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"dispatch: {n} takes, concurrency {c}, latency {args.latency_ms:g} ms/request, "
        f"queue {args.queue_s:g} s, poll every {args.poll_s:g} s; "
        f"median of {max(1, args.rounds)} rounds (min-max)"
    )
    print(f"  ideal (latency-bound)  wall {ideal:6.2f} s")
    medians = {name: _medians(found) for name, found in runs.items()}
    for name in ROWS:
        m, found = medians[name], runs[name]
        walls = [r["wall"] for r in found]
        spread = f" ({min(walls):.2f}-{max(walls):.2f})" if len(walls) > 1 else ""
        print(
            f"  {name:<22} wall {m['wall']:6.2f} s{spread}  x{m['wall'] / ideal:5.2f} ideal  "
            f"CPU {m['cpu'] * 1000 / n:6.2f} ms/take "
            f"(user {m['user'] * 1000 / n:5.2f}, system {m['sys'] * 1000 / n:5.2f})"
        )
        requests = found[-1]["requests"]
        per_take = ", ".join(f"{op} {count / n:.2f}" for op, count in requests.items())
        print(f"  {'':<22} requests/take {sum(requests.values()) / n:.2f} ({per_take})")
    bare = runs["bare httpx+aiohttp"]
    for name in ("recoil", "recoil, slot thru dl"):
        ratios = [r["wall"] / b["wall"] for r, b in zip(runs[name], bare, strict=True)]
        cpu = [r["cpu"] / b["cpu"] for r, b in zip(runs[name], bare, strict=True)]
        print(
            f"  {name} / bare httpx+aiohttp (same server, same round): "
            f"wall x{statistics.median(ratios):.2f}, CPU x{statistics.median(cpu):.2f}"
        )
    recoil = medians["recoil"]
    ok_wall = recoil["wall"] <= 1.2 * ideal
    ok_user = recoil["user"] * 1000 / n <= 5.0
    ok_cpu = recoil["cpu"] * 1000 / n <= 5.0
    print(
        f"  targets (recoil, medians): wall <= 1.2 x ideal {'OK' if ok_wall else 'MISSED'}; "
        f"<= 5 ms CPU/take: user {'OK' if ok_user else 'MISSED'}, "
        f"user+system {'OK' if ok_cpu else 'MISSED'}"
    )
    print(
        "  (`recoil` downloads outside the task's slot, as Seedance declares; "
        "`recoil, slot thru dl` holds the slot until the download is done, like the bare "
        "scripts and the ideal)"
    )
    print(
        "  (Recoil also makes each take's state, render, sidecar and charge durable before "
        "and after its paid calls, in batched commits; the bare scripts write nothing "
        "durable)"
    )


ROWS = ["bare httpx", "bare httpx+aiohttp", "recoil", "recoil, slot thru dl"]


def _medians(found: list[dict[str, Any]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in found) for key in ("wall", "cpu", "user", "sys")}


if __name__ == "__main__":
    main()
