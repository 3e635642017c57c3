"""Chaos: render nodes SIGKILLed, restarted and frozen past their leases while they work
one capped episode; the money rules must hold exactly as in one process.

A fake Ark server (in this process: 50 ms a request, tasks done 300 ms after their create)
and a fresh PostgreSQL database. ``recoil run PLAN --executor procrastinate --budget CAP``
queues a ``solo`` plan of ``--takes`` shots, CAP ``--cap-fraction`` of the dry run's
estimate; ``--workers`` ``recoil worker --once --concurrency N`` processes (leases of
``--lease`` seconds) work it while a driver seeded by ``--seed``, every 0.3-1.2 s, either
SIGKILLs a worker and starts another in its place, or SIGSTOPs the worker holding the most
takes for three lease lengths (its leases and heartbeats lapse, its jobs are retried by
the others) and then SIGCONTs it. The first action is always a freeze, while the episode
is busy (a fast machine drains it in a few actions). After ``--actions`` actions the
workers drain the queue; takes a node left pending (``recoil status`` reports them) are
queued again by one more ``recoil run --executor procrastinate`` and drained before the
checks.

Checked (exit 1 if any fails):

- no duplicate creates: no create fingerprint made twice at Ark;
- spend <= cap at every moment: after each action, what Ark billed plus what every task
  still queued or running will bill when it finishes is at most CAP;
- the ledger equals Ark's bill, job by job, and no budget hold is left reserved;
- every take is final or reported (``recoil status``'s attention lines name it);
- at least one stale write was fenced (``lease_refusals``: a woken or slow node's write
  of a take another node had taken over).

    .venv/bin/python bench/chaos_nodes.py [--seed 1] [--takes 200] [--workers 4]
        [--concurrency 4] [--lease 1.0] [--cap-fraction 0.6] [--actions 12]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from psycopg.conninfo import make_conninfo
from recoil_postgres.backend import PostgresBackend
from recoil_postgres.connection import connect
from recoil_postgres.leases import EpisodeBudget, TakeLeases
from recoil_seeddance.models import model_info
from recoil_seeddance.pricing import price_table
from recoil_seeddance.testing.fake_ark import FakeArkServer, billed_tokens
from workers import EPISODE, PROJECT, RECOIL, fresh_database, plan_file

from recoil_core.api import TakeState
from recoil_core.runner.queries import needs_attention

FINAL = {TakeState.SUCCEEDED, TakeState.FAILED, TakeState.CANCELLED}


def task_usd(ark: FakeArkServer, task_id: str, tokens: int | None) -> float:
    """What the task bills (``tokens``: billed so far; None: what it will bill)."""
    task = ark.task(task_id)
    info = model_info(task["model"])
    if tokens is None:
        tokens = billed_tokens(
            str(task.get("resolution", "720p")),
            str(task.get("ratio", "16:9")),
            int(task.get("duration", 5)),
        )
    audio = task.get("generate_audio") if info.supports_audio else None
    table = price_table()
    price = table.usd_per_mtok(
        info.family,
        resolution=task.get("resolution"),
        generate_audio=audio if isinstance(audio, bool) else None,
    )
    return table.cost_usd(tokens, price)


def committed_spend(ark: FakeArkServer) -> float:
    """Billed, plus what every task still queued or running will bill."""
    stats = ark.stats()
    billed = stats["tokens_by_task"]
    total = 0.0
    for task_id, status in stats["tasks"].items():
        if task_id in billed:
            total += task_usd(ark, task_id, billed[task_id])
        elif status in ("queued", "running"):
            total += task_usd(ark, task_id, None)
    return total


def unfinished(dsn: str, root: Path) -> int:
    """Takes not final."""
    with PostgresBackend(dsn, renders_root=root / "projects") as backend:
        return sum(
            take.state not in FINAL
            for scene_id in backend.list_scenes(PROJECT, EPISODE)
            if (found := backend.load_active(PROJECT, EPISODE, scene_id)) is not None
            for beat in found[0].beats
            for take in beat.takes
        )


def held(dsn: str, pid: int) -> int:
    with connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM recoil.take_leases WHERE worker LIKE %s AND expires_at >= now()",
            (f"%:{pid}",),
        ).fetchone()
    return 0 if row is None else int(row[0])


def busiest(dsn: str, live: list[subprocess.Popen[str]]) -> subprocess.Popen[str]:
    """The live worker holding the most takes, once one holds any (a freeze of a worker
    holding none would test nothing; workers still starting hold none)."""
    deadline = time.monotonic() + 30.0
    while True:
        counts = {w: held(dsn, w.pid) for w in live}
        victim = max(live, key=counts.__getitem__)
        if counts[victim] > 0 or time.monotonic() > deadline:
            return victim
        time.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--takes", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--lease", type=float, default=1.0)
    parser.add_argument("--cap-fraction", type=float, default=0.6)
    parser.add_argument("--actions", type=int, default=12)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="recoil-chaos-nodes-"))
    ark = FakeArkServer(api_key="chaos-key", latency_s=0.05, queue_s=0.3).start()
    failures: list[str] = []
    try:
        with fresh_database() as dsn:
            pause_s = 3 * args.lease
            env = {k: v for k, v in os.environ.items() if not k.startswith(("RECOIL_", "ARK_"))}
            env.update(
                ARK_API_KEY=ark.api_key,
                ARK_BASE_URL=ark.base_url,
                RECOIL_BACKEND="postgres",
                RECOIL_POSTGRES_DSN=make_conninfo(dsn),
                RECOIL_PROJECTS_ROOT=str(root / "projects"),
                RECOIL_SEEDDANCE_POLL_S="0.05",
                RECOIL_SEEDDANCE_FIND_CONSISTENCY_S="0.2",
                RECOIL_WORKER_LEASE_S=str(args.lease),
                RECOIL_WORKER_HEARTBEAT_S=str(args.lease / 4),
                RECOIL_WORKER_STALLED_S=str(args.lease),
                RECOIL_WORKER_POLL_S="0.1",
                # longer than a freeze: a create a frozen node sends when it wakes is
                # found by the node that took its take over, never sent again
                RECOIL_WORKER_RESEND_AFTER_S=str(pause_s + 3),
            )
            plan = str(plan_file(root, args.takes))
            common = ["--provider", "seeddance", "--strategy", "solo"]
            dry = subprocess.run(
                [RECOIL, "run", plan, *common, "--dry-run", "--json"],
                env=env, cwd=root, capture_output=True, text=True, check=True,
            )  # fmt: skip
            demand = sum(p["estimate_usd"] for p in json.loads(dry.stdout)["planned"])
            cap = round(demand * args.cap_fraction, 6)
            subprocess.run(
                [RECOIL, "run", plan, *common, "--executor", "procrastinate", "--budget",
                 repr(cap)],
                env=env, cwd=root, capture_output=True, text=True, check=True,
            )  # fmt: skip

            def start() -> subprocess.Popen[str]:
                return subprocess.Popen(
                    [RECOIL, "worker", "--once", "--concurrency", str(args.concurrency)],
                    env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                    text=True,
                )  # fmt: skip

            workers = [start() for _ in range(args.workers)]
            kills = stops = 0
            worst = 0.0
            started = time.monotonic()
            for action in range(args.actions):
                time.sleep(rng.uniform(0.3, 1.2))
                live = [w for w in workers if w.poll() is None]
                if not live:
                    break
                if action > 0 and rng.random() < 0.7:  # the first: a freeze mid-episode
                    victim = rng.choice(live)
                    victim.send_signal(signal.SIGKILL)
                    victim.wait()
                    workers[workers.index(victim)] = start()
                    kills += 1
                else:
                    victim = busiest(dsn, live)
                    victim.send_signal(signal.SIGSTOP)
                    time.sleep(pause_s)
                    victim.send_signal(signal.SIGCONT)
                    stops += 1
                worst = max(worst, committed_spend(ark))
            for worker in workers:
                worker.communicate()
                if worker.returncode not in (0, -signal.SIGKILL):
                    failures.append(f"a worker exited {worker.returncode}")
            drain = subprocess.run(
                [RECOIL, "worker", "--once"], env=env, cwd=root, capture_output=True,
                text=True, check=False,
            )  # fmt: skip
            if drain.returncode != 0:
                failures.append(f"the final drain exited {drain.returncode}: {drain.stderr}")
            left = unfinished(dsn, root)
            if left:  # takes left pending (as a node leaves a lost create): the next run
                # queues them again, and a node finishes them
                subprocess.run(
                    [RECOIL, "run", plan, *common, "--executor", "procrastinate", "--budget",
                     repr(cap)],
                    env=env, cwd=root, capture_output=True, text=True, check=True,
                )  # fmt: skip
                subprocess.run(
                    [RECOIL, "worker", "--once"], env=env, cwd=root, capture_output=True,
                    text=True, check=False,
                )  # fmt: skip
            elapsed = time.monotonic() - started
            worst = max(worst, committed_spend(ark))

            with PostgresBackend(dsn, renders_root=root / "projects") as backend:
                scenes = [
                    found[0]
                    for scene_id in backend.list_scenes(PROJECT, EPISODE)
                    if (found := backend.load_active(PROJECT, EPISODE, scene_id)) is not None
                ]
                ledger = backend.read_ledger(PROJECT, EPISODE)
                leases = TakeLeases(backend)
                refused = leases.refusals(PROJECT, EPISODE)
                budget = EpisodeBudget(leases, PROJECT, EPISODE).state()

        stats = ark.stats()
        duplicates = sum(n - 1 for n in stats["creates_by_fingerprint"].values() if n > 1)
        billed = {
            task_id: task_usd(ark, task_id, tokens)
            for task_id, tokens in stats["tokens_by_task"].items()
        }
        charged: dict[str, float] = {}
        for entry in ledger:
            charged[str(entry.job_id)] = charged.get(str(entry.job_id), 0.0) + entry.amount_usd
        takes = [t for s in scenes for b in s.beats for t in b.takes]
        reported = {line.split(":", 1)[0] for s in scenes for line in needs_attention(s)}
        unreported = [
            t.take_id for t in takes if t.state not in FINAL and t.take_id not in reported
        ]
        succeeded = sum(t.state == TakeState.SUCCEEDED for t in takes)

        print(
            f"seed {args.seed}: {args.takes} takes, {args.workers} workers x "
            f"{args.concurrency}, lease {args.lease:g} s, cap ${cap:.2f} "
            f"({args.cap_fraction:.0%} of ${demand:.2f}), {elapsed:.1f} s"
        )
        print(f"actions: {kills} SIGKILL + restart, {stops} SIGSTOP/SIGCONT")
        print(f"creates: {stats['creates_total']}, succeeded takes: {succeeded}")
        print(f"duplicate creates: {duplicates}")
        print(f"highest spend (billed + still to bill): ${worst:.2f} of cap ${cap:.2f}")
        print(f"ledger vs billed: {len(set(charged.items()) ^ set(billed.items()))} jobs differ")
        print(f"takes neither final nor reported: {len(unreported)}")
        print(f"stale writes fenced: {refused}")
        print(f"takes left unfinished by the first drain (then run again): {left}")
        if duplicates:
            failures.append(f"{duplicates} duplicate create(s)")
        if worst > cap:
            failures.append(f"spend ${worst:.4f} above cap ${cap:.4f}")
        if charged != billed:
            failures.append("the ledger differs from what Ark billed")
        if budget is None or budget[2] != Decimal(0):
            failures.append(f"money left reserved: {budget}")
        if unreported:
            failures.append(f"takes neither final nor reported: {unreported[:5]}")
        if refused < 1:
            failures.append("no stale write was fenced")
    finally:
        ark.close()
        shutil.rmtree(root, ignore_errors=True)
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
