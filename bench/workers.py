"""Benchmark: render nodes (``recoil worker``) working one episode together, 1, 2 and 4
worker processes at the same per-worker concurrency.

A fake Ark server (``recoil_seeddance.testing.fake_ark``) runs in its own process with
50 ms added to every request and tasks finishing 300 ms after their create. For each
worker count, in a fresh PostgreSQL database (on ``RECOIL_POSTGRES_DSN``'s server, default
127.0.0.1:5432): ``recoil run PLAN --executor procrastinate`` queues a ``solo`` plan of
``--takes`` one-take shots (not timed), then that many ``recoil worker --once
--concurrency C`` processes start together; the time from their start to the last one's
exit gives takes/s (process start-up included). Every worker counts its database round
trips (``RECOIL_BENCH_STATEMENTS_DIR``: each statement psycopg sends, and two per
transaction block for its BEGIN and COMMIT), summed over the workers per take; the
server's count of committed transactions in the database is printed beside it, and the
workers' CPU per take (PostgreSQL's and the fake server's are not counted). With
``--defer-polls 0`` a poll waits in its worker slot instead of being queued again.

Targets: 4 workers >= 3.6 x one worker's takes/s, <= 6 round trips per take.

    .venv/bin/python bench/workers.py [--takes 300] [--concurrency 8] [--workers 1,2,4]
        [--defer-polls 0|1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from _fake_ark_process import API_KEY, fake_ark_process, request_counts
from recoil_postgres.connection import connect
from recoil_postgres.testing import reachable_dsn, scratch_database

from recoil_core.testing.plans import plan_dict, write_plan

RECOIL = str(Path(sys.executable).with_name("recoil"))
PROJECT, EPISODE = "bench", "EP001"


def fresh_database() -> AbstractContextManager[str]:
    """A database of its own on ``RECOIL_POSTGRES_DSN``'s server, dropped after the run."""
    return scratch_database(reachable_dsn(), prefix="recoil_bench_workers")


def plan_file(folder: Path, takes: int) -> Path:
    shots = [
        {
            "shot_id": f"EP001_SH{i + 1:04d}",
            "duration_s": 5,
            "prompt": f"shot {i + 1}: the crew crosses the market at dusk",
        }
        for i in range(takes)
    ]
    return write_plan(folder, plan_dict({"SEQ01": shots}, project=PROJECT, episode=EPISODE))


def committed(dsn: str) -> int:
    with connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    return 0 if row is None else int(row[0])


def succeeded(dsn: str) -> int:
    with connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM recoil.take_leases WHERE state = 'succeeded'"
        ).fetchone()
    return 0 if row is None else int(row[0])


def one_run(
    base_url: str,
    workers: int,
    takes: int,
    concurrency: int,
    defer_polls: bool,
    detail: bool = False,
) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="recoil-bench-workers-"))
    counts_dir = root / "counts"
    counts_dir.mkdir()
    try:
        with fresh_database() as dsn:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("RECOIL_", "ARK_"))}
            env.update(
                ARK_API_KEY=API_KEY,
                ARK_BASE_URL=base_url,
                RECOIL_BACKEND="postgres",
                RECOIL_POSTGRES_DSN=dsn,
                RECOIL_PROJECTS_ROOT=str(root / "projects"),
                RECOIL_SEEDDANCE_POLL_S="0.05",
                RECOIL_SEEDDANCE_CONCURRENCY="1000",
                RECOIL_WORKER_POLL_S="0.05",
                RECOIL_WORKER_DEFER_POLLS="1" if defer_polls else "0",
            )
            plan = plan_file(root, takes)
            queued = subprocess.run(
                [RECOIL, "run", str(plan), "--provider", "seeddance", "--strategy", "solo",
                 "--executor", "procrastinate"],
                env=env, cwd=root, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if queued.returncode != 0:
                raise SystemExit(f"recoil run --executor failed:\n{queued.stderr}")
            node_env = {**env, "RECOIL_BENCH_STATEMENTS_DIR": str(counts_dir)}
            if os.environ.get("RECOIL_BENCH_PROFILE"):
                node_env["RECOIL_BENCH_PROFILE"] = "1"
            if detail:
                node_env["RECOIL_BENCH_STATEMENTS_DETAIL"] = os.environ.get(
                    "RECOIL_BENCH_STATEMENTS_DETAIL", "2"
                )
            before = committed(dsn)
            cpu_before = os.times()
            start = time.perf_counter()
            procs = [
                subprocess.Popen(
                    [RECOIL, "worker", "--once", "--concurrency", str(concurrency)],
                    env=node_env,
                    cwd=root,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for _ in range(workers)
            ]
            errors = [p.communicate()[1] for p in procs]
            wall = time.perf_counter() - start
            cpu_after = os.times()
            cpu = (cpu_after.children_user - cpu_before.children_user) + (
                cpu_after.children_system - cpu_before.children_system
            )
            for proc, err in zip(procs, errors, strict=True):
                if proc.returncode != 0:
                    raise SystemExit(f"a worker exited {proc.returncode}:\n{err}")
            transactions = committed(dsn) - before
            done = succeeded(dsn)
            if done != takes:
                raise SystemExit(f"{done} of {takes} takes succeeded")
        found = [json.loads(p.read_text()) for p in counts_dir.glob("*.json")]
        for prof in counts_dir.glob("*.prof"):  # RECOIL_BENCH_PROFILE=1
            shutil.copy(prof, Path(tempfile.gettempdir()) / f"recoil-bench-{prof.name}")
        if len(found) != workers:
            raise SystemExit(f"{len(found)} of {workers} workers wrote their counts")
        if detail:
            merged: dict[str, int] = {}
            for c in found:
                for key, n in c.get("detail", {}).items():
                    merged[key] = merged.get(key, 0) + n
            for key, n in sorted(merged.items(), key=lambda kv: -kv[1]):
                print(f"  {n / takes:6.2f}  {key}")
        statements = sum(c["statements"] for c in found)
        blocks = sum(c["transactions"] for c in found)
        pipelines = sum(c.get("pipelines", 0) for c in found)
        statements += sum(c.get("pipelined", 0) for c in found)
        return {
            "wall": wall,
            "rate": takes / wall,
            "cpu_ms": 1000 * cpu / takes,
            "statements": statements / takes,
            "round_trips": (
                statements - sum(c.get("pipelined", 0) for c in found) + 2 * blocks + pipelines
            )
            / takes,
            "server_transactions": transactions / takes,
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--takes", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8, help="per worker")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--queue-s", type=float, default=0.3)
    parser.add_argument(
        "--defer-polls",
        type=int,
        choices=(0, 1),
        default=1,
        help="1 (default): a poll is a job queued again; 0: polls wait in the worker slot",
    )
    parser.add_argument(
        "--detail",
        action="store_true",
        help="print the statements and transaction blocks per take by where they are sent",
    )
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    results: dict[int, dict[str, Any]] = {}
    with fake_ark_process(args.latency_ms, args.queue_s) as base_url:
        for workers in counts:
            results[workers] = one_run(
                base_url,
                workers,
                args.takes,
                args.concurrency,
                bool(args.defer_polls),
                args.detail,
            )
            r = results[workers]
            print(
                f"{workers} worker(s) x {args.concurrency}: {args.takes} takes in "
                f"{r['wall']:.2f} s = {r['rate']:.1f} takes/s; per take: "
                f"{r['round_trips']:.2f} round trips ({r['statements']:.1f} statements), "
                f"{r['server_transactions']:.1f} transactions committed, "
                f"{r['cpu_ms']:.1f} ms of worker CPU",
                flush=True,
            )
        print(f"fake Ark requests: {request_counts(base_url)}")
    if 1 in results and 4 in results:
        ratio = results[4]["rate"] / results[1]["rate"]
        print(f"4 workers / 1 worker: x{ratio:.2f} (target >= 3.6)")
    worst = max(r["round_trips"] for r in results.values())
    print(f"most round trips per take: {worst:.2f} (target <= 6)")


if __name__ == "__main__":
    main()
