"""Benchmark: the episode runner's own CPU and memory per take against an instant provider.

A studio renders an episode shot by shot: a generated plan of 10,000 shots (``--takes``) runs
through the real ``EpisodeRunner`` with the ``solo`` strategy (every shot its own scene and
take), the real ``video_i2v`` runner, the real filesystem backend in a temp dir and the real
render writer. The provider answers at once (no network), so what is measured is Recoil:
planning, reconciliation, the take state machine, persistence and render writing.
``--layout scenes`` instead puts 100 one-shot beats in each scene (a scene document that
grows as its takes finish).

Printed per take: the user CPU of Recoil's code (the kernel's own work: planning,
reconciliation, the take state machine, encoding, render writing) and the system CPU the
operating system spends on the durable writes (fsync, rename), beside the same two numbers
for a baseline measured in this run (per take, the durable writes a take cannot avoid: its
scene document as JSON, the media file, its JSON sidecar and a ledger line, each written
atomically and fsynced; a 2,000-take sample), their ratios, wall time, and peak RSS.
Targets: <= 2 ms of kernel (user) CPU per take, peak RSS < 150 MiB.

    .venv/bin/python bench/runner_overhead.py [--takes 10000] [--layout solo|scenes] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import pstats
import resource
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from recoil_core.contracts.backend import BackendContext
from recoil_core.contracts.grouping import GroupingContext
from recoil_core.contracts.provider import JobStatus, ProviderLimits, ProviderSpec, SubmitRequest
from recoil_core.model import CanonicalPlan, CanonicalShot, Group
from recoil_core.persistence.atomic import write_atomic
from recoil_core.registry import build_registry
from recoil_core.runner import EpisodeRunner, RunOptions
from recoil_core.settings import PluginSelection
from recoil_core.testing.doubles import StaticStrategy, fixed_estimator, make_plugin
from recoil_core.testing.plans import canonical_plan, canonical_shot

MEDIA = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 4072
"""A 4 KiB stand-in clip (what the fake Ark server serves by default)."""
BEATS_PER_SCENE = 100


class InstantProvider:
    """Every job succeeds on its first poll, billing a fixed amount; nothing is kept."""

    def __init__(self) -> None:
        self._next = 0

    async def submit(self, request: SubmitRequest) -> str:
        self._next += 1
        return f"job-{self._next}"

    async def poll(self, job_id: str) -> JobStatus:
        return JobStatus(job_id=job_id, state="succeeded", cost_usd=0.01)

    async def find(self, request: SubmitRequest) -> str | None:
        return None

    async def download(self, status: JobStatus, dest: Path) -> None:
        dest.write_bytes(MEDIA)

    async def cancel(self, job_id: str) -> None:
        return None

    async def aclose(self) -> None:
        return None


def generate_plan(n_shots: int) -> CanonicalPlan:
    """``n_shots`` shots, 40 per sequence, a handful of locations and characters."""
    characters = ("JADE", "KAI", "MARA")
    shots = [
        canonical_shot(
            f"EP001_SH{i + 1:05d}",
            scene_index=i + 1,
            sequence_id=f"SEQ{i // 40 + 1:04d}",
            location_id=f"LOC_{i % 5}",
            characters=characters[i % 3 : i % 3 + 1 + i % 2],
            prompt=f"shot {i + 1}: the crew crosses the market at dusk, camera tracking left",
            duration_s=float(2 + i % 4),
        )
        for i in range(n_shots)
    ]
    return canonical_plan(shots, project="bench")


def scenes_strategy() -> StaticStrategy:
    """Scenes of BEATS_PER_SCENE one-shot beats each (the solo strategy's units, grouped)."""
    from recoil_plugins_grouping.helpers import solo_unit

    def assemble(shots: Sequence[CanonicalShot], _ctx: GroupingContext) -> list[Group]:
        groups = []
        for start in range(0, len(shots), BEATS_PER_SCENE):
            units = tuple(solo_unit(s) for s in shots[start : start + BEATS_PER_SCENE])
            groups.append(
                Group(f"SCENE_{start // BEATS_PER_SCENE + 1:04d}", units[0].identity, units)
            )
        return groups

    return StaticStrategy("scenes", assemble, "bench: many beats per scene")


def make_registry(provider: InstantProvider) -> Any:
    spec = ProviderSpec(
        name="instant",
        modalities=frozenset({"video_i2v", "r2v_multi", "video_t2v"}),
        factory=lambda _ctx: provider,
        limits=ProviderLimits(concurrency=100, poll_interval_s=0.0),
        can_find_by_request=False,
        description="bench: instant provider",
    )
    plugin = make_plugin(
        providers=[spec],
        estimators=[fixed_estimator("instant", 0.01)],
        strategies=[scenes_strategy()],
    )
    return build_registry(
        PluginSelection(load_only=("filesystem", "grouping", "video", "i2v", "bench")),
        extra=[("bench", plugin)],
    )


def run_recoil(root: Path, n: int, layout: str, concurrency: int, profile: bool) -> dict[str, Any]:
    plan = generate_plan(n)
    registry = make_registry(InstantProvider())
    backend = registry.backend("filesystem").factory(BackendContext(projects_root=root))
    runner = EpisodeRunner(
        plan,
        registry=registry,
        backend=backend,
        options=RunOptions(
            strategy="solo" if layout == "solo" else "scenes",
            provider="instant",
            concurrency=concurrency,
            poll_interval_s=0.0,
        ),
    )
    profiler = cProfile.Profile() if profile else None
    gc.collect()
    t0, wall0 = os.times(), time.perf_counter()
    if profiler:
        profiler.enable()
    report = asyncio.run(runner.run())
    if profiler:
        profiler.disable()
    t1, wall = os.times(), time.perf_counter() - wall0
    counts = report.take_counts
    if counts.get("succeeded") != n:
        raise SystemExit(f"expected {n} succeeded takes, got {counts}")
    if profiler:
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(35)
        stats.sort_stats("tottime").print_stats(25)
    return {"user": t1.user - t0.user, "sys": t1.system - t0.system, "wall": wall}


def run_baseline(root: Path, n: int) -> dict[str, Any]:
    """Per take: scene JSON + media + sidecar JSON written atomically, one fsynced ledger line."""
    root.mkdir(parents=True)
    ledger = os.open(root / "ledger.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    scene = {"scene_id": "", "beats": [{"beat_id": "", "takes": [{"state": "succeeded"}]}]}
    gc.collect()
    t0, wall0 = os.times(), time.perf_counter()
    try:
        for i in range(n):
            folder = root / f"S{i:05d}"
            folder.mkdir()
            scene["scene_id"] = f"S{i:05d}"
            write_atomic(folder / "v0001.json", json.dumps(scene).encode())
            write_atomic(folder / "take1.mp4", MEDIA)
            write_atomic(folder / "take1.json", json.dumps({"take": i}, indent=2).encode())
            os.write(ledger, json.dumps({"entry_id": f"e{i}", "amount_usd": 0.01}).encode() + b"\n")
            os.fsync(ledger)
    finally:
        os.close(ledger)
    t1 = os.times()
    return {
        "user": t1.user - t0.user,
        "sys": t1.system - t0.system,
        "wall": time.perf_counter() - wall0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--takes", type=int, default=10_000)
    parser.add_argument("--layout", choices=("solo", "scenes"), default="solo")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--baseline-takes",
        type=int,
        default=2_000,
        help="takes in the baseline sample (its cost per take is constant)",
    )
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the run")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="recoil-bench-overhead-"))
    try:
        base = run_baseline(tmp / "baseline", args.baseline_takes)
        recoil = run_recoil(
            tmp / "projects", args.takes, args.layout, args.concurrency, args.profile
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    n, nb = args.takes, args.baseline_takes
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def ms(seconds: float, takes: int) -> float:
        return seconds * 1000 / takes

    user, system = ms(recoil["user"], n), ms(recoil["sys"], n)
    base_user, base_sys = ms(base["user"], nb), ms(base["sys"], nb)
    print(f"runner overhead: {n} takes, layout {args.layout}, concurrency {args.concurrency}")
    print("                 user CPU (Recoil code)   system CPU (OS: fsync, rename)   wall")
    print(
        f"  recoil         {user:7.3f} ms/take          {system:7.3f} ms/take"
        f"                {recoil['wall']:7.2f} s"
    )
    print(
        f"  baseline       {base_user:7.3f} ms/take          {base_sys:7.3f} ms/take"
        f"                {base['wall']:7.2f} s ({nb} takes of bare durable writes)"
    )
    print(
        f"  ratio recoil/baseline: user {user / base_user:5.2f}, system {system / base_sys:5.2f},"
        f" total {(user + system) / (base_user + base_sys):5.2f}"
    )
    print(f"  peak RSS {rss_mib:7.1f} MiB")
    ok_cpu = user <= 2.0
    ok_rss = rss_mib < 150
    print(
        f"  targets: kernel (user) CPU <= 2 ms/take {'OK' if ok_cpu else 'MISSED'}; "
        f"peak RSS < 150 MiB {'OK' if ok_rss else 'MISSED'}"
    )
    print(
        "  (system CPU is the file system's work for the durable writes every take needs;"
        " compare it with the baseline line, which does the minimum by hand)"
    )


if __name__ == "__main__":
    main()
