"""Benchmark: where a take's time goes in ``bench/dispatch.py``'s Recoil run.

The same run as ``dispatch.py``'s Recoil line (500 takes, concurrency 100, fake Ark server
in its own process with 50 ms per request and tasks done 300 ms after their create), with
timers around each phase of a take: the writes the runner awaits (by kind), the provider's
create, polling and download, and the write batches the filesystem backend commits. The
timers wrap the methods in this process only; nothing is changed in the code measured.

Printed: per phase, how many, mean, median, 90th percentile and max in ms; then a take's
time in its provider slot (the download comes after it: Seedance gives the slot back when
the task is final) against the ideal one (create + queue + final poll + download); then
the run's start-up, provider work and wind-down.

    .venv/bin/python bench/dispatch_phases.py [--takes 500] [--concurrency 100]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx_aiohttp  # noqa: F401  (imported before Recoil's run, as dispatch.py's bare run does)
from _fake_ark_process import fake_ark_process, ideal_s
from dispatch import run_recoil
from recoil_seeddance.provider import ArkProvider

from recoil_core.persistence.filesystem import FilesystemBackend
from recoil_core.runner.journal import Journal
from recoil_core.runner.polling import Poller

TIMES: dict[str, list[float]] = defaultdict(list)
SPANS: dict[str, list[tuple[float, float]]] = defaultdict(list)
"""(start, end) of every call timed, by label: where the run's first and last calls fall."""


def timed_async(cls: type, name: str, label: Callable[..., str]) -> None:
    """Time every call of ``cls.name`` (a coroutine method) under ``label(*args)``."""
    original = getattr(cls, name)

    @functools.wraps(original)
    async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await original(self, *args, **kwargs)
        finally:
            ended = time.perf_counter()
            TIMES[label(*args, **kwargs)].append(ended - started)
            SPANS[label(*args, **kwargs)].append((started, ended))

    setattr(cls, name, wrapper)


def time_batches() -> None:
    original = FilesystemBackend.write_batch

    @contextlib.contextmanager
    def write_batch(self: FilesystemBackend) -> Iterator[None]:
        started, cpu = time.perf_counter(), time.thread_time()
        with original(self):
            yield
        TIMES["write batch (writer thread, wall)"].append(time.perf_counter() - started)
        TIMES["write batch (writer thread, CPU)"].append(time.thread_time() - cpu)

    FilesystemBackend.write_batch = write_batch  # type: ignore[method-assign]


def write_label(function: Callable[..., Any], *_args: Any, urgent: bool = False, **_kw: Any) -> str:
    name = getattr(function, "__name__", "write").replace("place_and_charge", "render+charge")
    return f"write {name}{' (urgent)' if urgent else ''}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--takes", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args()
    timed_async(ArkProvider, "submit", lambda *_a, **_k: "provider create")
    timed_async(ArkProvider, "poll", lambda *_a, **_k: "provider poll (one answer)")
    timed_async(ArkProvider, "download", lambda *_a, **_k: "provider download")
    timed_async(Poller, "wait", lambda *_a, **_k: "polling until final")
    timed_async(Journal, "write", write_label)
    time_batches()

    latency, queue = 0.05, 0.3
    tmp = Path(tempfile.mkdtemp(prefix="recoil-bench-phases-"))
    try:
        with fake_ark_process(latency * 1000, queue) as base_url:
            run = run_recoil(tmp, base_url, args.takes, args.concurrency, 0.05, False)
            run_end = time.perf_counter()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(
        f"dispatch phases: {args.takes} takes, concurrency {args.concurrency}: "
        f"wall {run['wall']:.2f} s, CPU {run['cpu'] * 1000 / args.takes:.2f} ms/take"
    )
    print(f"  {'phase':<36} {'n':>6} {'mean':>7} {'p50':>7} {'p90':>7} {'max':>7}  ms")
    for label in sorted(TIMES):
        values = sorted(TIMES[label])
        p90 = values[int(0.9 * (len(values) - 1))]
        print(
            f"  {label:<36} {len(values):>6} {statistics.mean(values) * 1000:>7.1f} "
            f"{statistics.median(values) * 1000:>7.1f} {p90 * 1000:>7.1f} "
            f"{values[-1] * 1000:>7.1f}"
        )

    def mean(label: str) -> float:
        values = TIMES.get(label)
        return statistics.mean(values) * 1000 if values else 0.0

    first_write = mean("write create_scene (urgent)") or mean("write save_scene (urgent)")
    in_slot = [
        ("submitting write", first_write),
        ("create", mean("provider create")),
        ("job id write + polling", mean("write save_scene") + mean("polling until final")),
    ]
    ideal = ideal_s(1, 1, latency * 1000, queue) * 1000  # one task
    print(
        "  in the provider slot: "
        + " + ".join(f"{name} {ms:.0f}" for name, ms in in_slot)
        + f" = {sum(ms for _, ms in in_slot):.0f} ms a take, then the download "
        f"{mean('provider download'):.0f} (ideal, download in the slot: {ideal:.0f})"
    )
    print(
        "  (the task's queue time runs during the job id write, then polling sees it done; "
        "the job id write is taken as the mean non-urgent scene save, `succeeded` included)"
    )
    run_start = run_end - run["wall"]
    first_create = min(start for start, _ in SPANS["provider create"])
    last_download = max(end for _, end in SPANS["provider download"])
    print(
        f"  the run: {(first_create - run_start) * 1000:.0f} ms to its first create, "
        f"{(last_download - first_create) * 1000:.0f} ms of provider work, "
        f"{(run_end - last_download) * 1000:.0f} ms after its last download"
    )


if __name__ == "__main__":
    main()
