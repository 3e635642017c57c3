"""Soak: SIGKILL the real ``recoil run`` CLI 100+ times against the fake Ark server.

Runs the campaign of ``tests/support/kill_campaign.py``, of which ``tests/test_crash_kill.py``
runs a seeded subset (same kill moments, job timeouts, 5xx creates, two episodes of the
same shape per fake Ark server, a conform in each folder, capped ``--wait`` runs and
wrong-key runs, and the same checks), longer and with a heavier mix of capped and wrong-key
runs, and prints the counts: kills, takes, creates, duplicates, lost renders, adopted jobs,
ledger vs billed job by job, takes left for a person, timeouts followed, 5xx creates,
conforms, capped runs and cap violations, wrong-key runs. A folder whose checks fail is
reported and the soak goes on. Exits 1 if any duplicate, lost render, adopted job, cap
violation or leaked key was seen, or any folder failed a check.

``--provider fal`` or ``--provider replicate`` runs the campaign's provider-neutral kills
(just after a create, at any moment, after a create whose answer is lost; two episodes per
fake, each fake in its own process) against that fake, and prints kills, creates vs takes,
duplicates, lost renders and ledger vs billed job by job; ``--provider seeddance`` (the
default) runs the full Ark campaign above.

``--assets`` kills ``recoil assets render`` instead (``run_asset_campaign``: asset sheets
made as paid Ark tasks by the ``ark-sheets`` stand-in, two episodes per fake Ark, killed in a
held create, before Ark made a create's task (made after the CLI died, or never), after a
lost answer or at any moment, each episode's first runs capped), and prints kills, sheet
takes vs creates, duplicates, adopted and unowned jobs, ledger vs billed job by job and
the capped runs' peak spend against their cap. Usage::

    .venv/bin/python bench/soak_kill.py [--provider seeddance|fal|replicate | --assets]
        [--kills 120] [--seed N] [--per-episode 7] [-v]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

SUPPORT = Path(__file__).resolve().parents[1] / "tests" / "support"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--provider", choices=("seeddance", "fal", "replicate"), default="seeddance"
    )
    parser.add_argument("--kills", type=int, default=120)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--per-episode", type=int, default=7, help="kills per episode at most")
    parser.add_argument(
        "--assets", action="store_true", help="kill `recoil assets render` (sheets on the fake Ark)"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(SUPPORT))
    from kill_campaign import run_campaign

    seed = args.seed if args.seed is not None else time.time_ns() % 1_000_000
    if args.assets:
        return soak_assets(seed, args.kills, args.per_episode, args.verbose)
    if args.provider != "seeddance":
        return soak_provider(args.provider, seed, args.kills, args.per_episode, args.verbose)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="recoil-soak-") as tmp:
        counts = run_campaign(
            Path(tmp),
            seed=seed,
            kills=args.kills,
            kills_per_episode=args.per_episode,
            log=print if args.verbose else (lambda _line: None),
            strict=False,
            heavy=True,
        )
    elapsed = time.perf_counter() - started
    faults = counts.faults_5xx
    ratio = counts.ledger_usd / counts.billed_usd if counts.billed_usd else 1.0
    print(f"seed              {seed}")
    print(f"folders           {counts.folders} ({counts.episodes} episodes, 2 per fake Ark)")
    print(f"runs              {counts.runs}")
    print(f"kills             {counts.kills}  {dict(sorted(counts.kills_by_mode.items()))}")
    print(f"takes             {counts.takes} ({counts.succeeded} succeeded)")
    print(f"creates           {counts.creates}")
    print(f"duplicates        {counts.duplicates}")
    print(f"lost renders      {counts.lost_renders}")
    print(f"adopted jobs      {counts.adopted_jobs}")
    print(f"unowned jobs      {counts.unowned_jobs}")
    print(f"unsettled jobs    {counts.unsettled_jobs}")
    print(
        f"ledger vs billed  {counts.ledger_mismatched_jobs} job(s) differ; "
        f"ledger ${counts.ledger_usd:.4f}, billed ${counts.billed_usd:.4f} ({ratio:.6f})"
    )
    print(
        f"left for a person {counts.left_for_person} take(s) unknown after a plain run "
        f"(target 0; {counts.left_for_person_findable} findable at the provider)"
    )
    print(
        f"timeouts followed {counts.timeouts_followed}/{counts.timeouts} job(s) "
        f"({counts.timeout_runs} --job-timeout runs, {counts.reconciles} reconciles)"
    )
    print(
        f"5xx creates       {sum(faults.values())} injected "
        f"({faults.get('after_create', 0)} after create, "
        f"{faults.get('before_create', 0)} before create); {counts.creates_5xx} answered"
    )
    print(
        f"conforms          {counts.conforms} ({counts.conforms_refused} refused first, "
        "conformed after a reconcile)"
    )
    print(
        f"capped runs       {counts.capped_runs} in {counts.capped_waves} wave(s) of --wait runs "
        f"({counts.capped_kills} killed, {counts.capped_halts} stopped at the cap, "
        f"{counts.capped_waited} waited for another)"
    )
    print(
        f"cap violations    {counts.cap_violations} of {counts.cap_checks} samples "
        f"(highest spend/cap {counts.cap_peak:.3f})"
    )
    exits = dict(sorted(counts.refused_exits.items()))
    print(
        f"refused-key runs  {counts.refused_runs} {exits} ({counts.refused_seen} refused by Ark); "
        f"{counts.refused_creates} create(s) "
        f"refused ({counts.creates_after_refusal} after an earlier refusal of the run), "
        f"{counts.refused_takes} take(s) cancelled unsent"
    )
    print(f"key leaks         {counts.key_leaks}")
    print(f"failed folders    {len(counts.failures)}")
    for failure in counts.failures:
        print(f"  {failure[:2000]}")
    print(f"wall              {elapsed:.1f}s ({elapsed / max(1, counts.kills):.2f}s per kill)")
    bad = (
        counts.duplicates
        or counts.lost_renders
        or counts.adopted_jobs
        or counts.cap_violations
        or counts.key_leaks
        or counts.failures
    )
    return 1 if bad else 0


def soak_provider(provider: str, seed: int, kills: int, per_episode: int, verbose: bool) -> int:
    """The provider-neutral kills against the fake ``provider``; prints the counts."""
    from kill_campaign import run_provider_campaign

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="recoil-soak-") as tmp:
        counts = run_provider_campaign(
            Path(tmp),
            provider,
            seed=seed,
            kills=kills,
            kills_per_folder=2 * per_episode,
            log=print if verbose else (lambda _line: None),
            strict=False,
        )
    elapsed = time.perf_counter() - started
    ratio = counts.ledger_usd / counts.billed_usd if counts.billed_usd else 1.0
    print(f"provider          {provider} (fake in its own process)")
    print(f"seed              {seed}")
    print(f"folders           {counts.folders} ({counts.episodes} episodes, 2 per fake)")
    print(f"runs              {counts.runs}")
    print(f"kills             {counts.kills}  {dict(sorted(counts.kills_by_mode.items()))}")
    print(f"takes             {counts.takes} ({counts.succeeded} succeeded)")
    print(f"creates           {counts.creates}")
    print(f"duplicates        {counts.duplicates}")
    print(f"lost renders      {counts.lost_renders}")
    print(f"adopted jobs      {counts.adopted_jobs}")
    print(f"unowned jobs      {counts.unowned_jobs}")
    print(
        f"ledger vs billed  {counts.ledger_mismatched_jobs} job(s) differ; "
        f"ledger ${counts.ledger_usd:.4f}, billed ${counts.billed_usd:.4f} ({ratio:.6f})"
    )
    print(f"left for a person {counts.left_for_person} take(s) unknown after a plain run")
    print(f"key leaks         {counts.key_leaks}")
    print(f"failed folders    {len(counts.failures)}")
    for failure in counts.failures:
        print(f"  {failure[:2000]}")
    print(f"wall              {elapsed:.1f}s ({elapsed / max(1, counts.kills):.2f}s per kill)")
    bad = (
        counts.duplicates
        or counts.lost_renders
        or counts.adopted_jobs
        or counts.unowned_jobs
        or counts.ledger_mismatched_jobs
        or counts.key_leaks
        or counts.failures
    )
    return 1 if bad else 0


def soak_assets(seed: int, kills: int, per_episode: int, verbose: bool) -> int:
    """The asset sheet kills against the fake Ark; prints the counts."""
    from kill_campaign import run_asset_campaign

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="recoil-soak-") as tmp:
        counts = run_asset_campaign(
            Path(tmp),
            seed=seed,
            kills=kills,
            kills_per_folder=2 * per_episode,
            log=print if verbose else (lambda _line: None),
            strict=False,
        )
    elapsed = time.perf_counter() - started
    ratio = counts.ledger_usd / counts.billed_usd if counts.billed_usd else 1.0
    print("campaign          recoil assets render (sheets as Ark tasks, ark-sheets stand-in)")
    print(f"seed              {seed}")
    print(f"folders           {counts.folders} ({counts.episodes} episodes, 2 per fake Ark)")
    print(f"runs              {counts.runs}")
    print(f"kills             {counts.kills}  {dict(sorted(counts.kills_by_mode.items()))}")
    print(f"sheet takes       {counts.takes} ({counts.succeeded} succeeded)")
    print(f"creates           {counts.creates}")
    print(f"duplicates        {counts.duplicates}")
    print(f"lost renders      {counts.lost_renders}")
    print(f"adopted jobs      {counts.adopted_jobs}")
    print(f"unowned jobs      {counts.unowned_jobs}")
    print(f"unsettled jobs    {counts.unsettled_jobs}")
    print(
        f"ledger vs billed  {counts.ledger_mismatched_jobs} job(s) differ; "
        f"ledger ${counts.ledger_usd:.4f}, billed ${counts.billed_usd:.4f} ({ratio:.6f})"
    )
    print(
        f"capped runs       {counts.capped_runs} ({counts.capped_halts} stopped at the cap); "
        f"{counts.cap_violations} violation(s) in {counts.cap_checks} samples "
        f"(highest spend/cap {counts.cap_peak:.3f})"
    )
    print(f"left for a person {counts.left_for_person} sheet(s) unknown after a plain run")
    print(f"key leaks         {counts.key_leaks}")
    print(f"failed folders    {len(counts.failures)}")
    for failure in counts.failures:
        print(f"  {failure[:2000]}")
    print(f"wall              {elapsed:.1f}s ({elapsed / max(1, counts.kills):.2f}s per kill)")
    bad = (
        counts.duplicates
        or counts.lost_renders
        or counts.adopted_jobs
        or counts.unowned_jobs
        or counts.ledger_mismatched_jobs
        or counts.cap_violations
        or counts.key_leaks
        or counts.failures
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
