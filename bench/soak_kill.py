"""Soak: SIGKILL the real ``recoil run`` CLI 100+ times against the fake Ark server.

Runs the same kill campaign as ``tests/test_crash_kill.py`` (same kill moments and
checks), longer, and prints the counts: kills, takes, creates, duplicates, lost renders,
ledger vs billed. Usage::

    .venv/bin/python bench/soak_kill.py [--kills 120] [--seed N] [--per-episode 7] [-v]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=120)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--per-episode", type=int, default=7)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(TESTS))
    from test_crash_kill import run_campaign

    seed = args.seed if args.seed is not None else time.time_ns() % 1_000_000
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="recoil-soak-") as tmp:
        counts = run_campaign(
            Path(tmp),
            seed=seed,
            kills=args.kills,
            kills_per_episode=args.per_episode,
            log=print if args.verbose else (lambda _line: None),
        )
    elapsed = time.perf_counter() - started
    print(f"seed            {seed}")
    print(f"episodes        {counts.episodes}")
    print(f"runs            {counts.runs}")
    print(f"kills           {counts.kills}  {dict(sorted(counts.kills_by_mode.items()))}")
    print(f"takes           {counts.takes}")
    print(f"creates         {counts.creates}")
    print(f"duplicates      {counts.duplicates}")
    print(f"lost renders    {counts.lost_renders}")
    print(f"unknown takes   {counts.unknown_resolved} (checked at the server, resubmitted)")
    print(f"ledger USD      {counts.ledger_usd:.4f}")
    print(f"billed USD      {counts.billed_usd:.4f}")
    print(
        f"ledger/billed   {counts.ledger_usd / counts.billed_usd if counts.billed_usd else 1:.6f}"
    )
    print(f"wall            {elapsed:.1f}s ({elapsed / max(1, counts.kills):.2f}s per kill)")
    ok = counts.duplicates == 0 and counts.lost_renders == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
