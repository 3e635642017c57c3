"""Benchmark: ``dispatch.py``'s Recoil run, this checkout against an earlier revision.

The same code varies by 10% or more from one run to the next on a shared machine, more
than most changes to the runner move it; so this runs the two alternately, each run in a
fresh process against one fake Ark server (in its own process), ``--rounds`` times, and
prints each pair and the medians. The baseline is ``git worktree add`` of ``--baseline``
in a temp dir, imported ahead of the installed (editable) distributions through
``PYTHONPATH``: every distribution's sources come from that revision, the installed
metadata (entry points) from this checkout, so a revision that renamed an entry point
cannot be compared this way. Each run's projects tree is kept until the end (a large
delete makes the next run's file creates slower on ext4 without a journal; see
``README.md``), then all are removed.

    .venv/bin/python bench/dispatch_ab.py --baseline REV [--rounds 6] [--takes 500]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _fake_ark_process import fake_ark_process, ideal_s

REPO = Path(__file__).resolve().parent.parent
LATENCY_MS, QUEUE_S = 50.0, 0.3
"""The fake Ark's request latency and queue time: ``dispatch.py``'s defaults."""

ONE_RUN = """
import json, os, sys
sys.path.insert(0, os.environ["RECOIL_AB_BENCH"])
from pathlib import Path
from dispatch import run_recoil
takes, concurrency = int(sys.argv[3]), int(sys.argv[4])
result = run_recoil(Path(sys.argv[2]), sys.argv[1], takes, concurrency, 0.05, False)
import recoil_core, recoil_seeddance
result["sources"] = [recoil_core.__file__, recoil_seeddance.__file__]
print(json.dumps(result))
"""


def source_path(tree: Path) -> str:
    """``PYTHONPATH`` that imports every distribution of ``tree`` from its sources."""
    folders = [tree, *sorted(tree.glob("*/src")), *sorted(tree.glob("plugins/*/src"))]
    return os.pathsep.join(str(folder) for folder in folders if folder.is_dir())


def one_run(tree: Path | None, url: str, root: Path, takes: int, concurrency: int) -> dict:
    env = dict(os.environ)
    bench = (tree or REPO) / "bench"
    env["RECOIL_AB_BENCH"] = str(bench)
    if tree is not None:
        env["PYTHONPATH"] = source_path(tree)
    done = subprocess.run(
        [sys.executable, "-c", ONE_RUN, url, str(root), str(takes), str(concurrency)],
        env=env,
        cwd=tempfile.gettempdir(),  # not this checkout: its folders would shadow the baseline's
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"a run failed:\n{done.stderr[-3000:]}")
    result: dict = json.loads(done.stdout.strip().splitlines()[-1])
    for source in result["sources"]:  # the sources meant, not the other tree's
        if not Path(source).resolve().is_relative_to((tree or REPO).resolve()):
            raise SystemExit(f"the run imported {source}, not code from {tree or REPO}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", required=True, help="a git revision of this repository")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--takes", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args()
    ideal = ideal_s(args.takes, args.concurrency, LATENCY_MS, QUEUE_S)
    work = Path(tempfile.mkdtemp(prefix="recoil-ab-"))
    baseline = work / "baseline"
    try:
        subprocess.run(
            [
                "git",
                "-C",
                str(REPO),
                "worktree",
                "add",
                "--detach",
                "-q",
                str(baseline),
                args.baseline,
            ],
            check=True,
        )
        found: dict[str, list[dict]] = {"baseline": [], "this checkout": []}
        with fake_ark_process(LATENCY_MS, QUEUE_S) as url:
            for n in range(args.rounds):
                for name, tree in (("baseline", baseline), ("this checkout", None)):
                    root = work / f"run-{n}-{len(found[name])}-{name.split()[0]}"
                    result = one_run(tree, url, root, args.takes, args.concurrency)
                    found[name].append(result)
                    print(
                        f"  {name:<14} x{result['wall'] / ideal:.3f} ideal  "
                        f"CPU {1000 * result['cpu'] / args.takes:.2f} ms/take "
                        f"(system {1000 * result['sys'] / args.takes:.2f})",
                        flush=True,
                    )
        print(f"medians of {args.rounds} ({args.baseline} vs this checkout), x ideal:")
        for name, runs in found.items():
            wall = statistics.median(r["wall"] for r in runs) / ideal
            cpu = statistics.median(r["cpu"] for r in runs) * 1000 / args.takes
            system = statistics.median(r["sys"] for r in runs) * 1000 / args.takes
            print(f"  {name:<14} x{wall:.3f}  CPU {cpu:.2f} ms/take (system {system:.2f})")
        pairs = zip(found["baseline"], found["this checkout"], strict=True)
        faster = sum(1 for old, new in pairs if new["wall"] < old["wall"])
        print(f"  this checkout faster in {faster} of {args.rounds} pairs")
    finally:
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(baseline)], check=False
        )
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
