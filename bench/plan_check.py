"""Benchmark: reading and checking plan files of 10k and 20k shots with ``load_plan``.

Writes each plan to a temp dir (sequences of 40 shots, declared locations and characters,
a coverage pass with a wildcard segment over every 4 shots), then times ``load_plan`` and,
as the baseline, bare ``json.loads`` of the same file plus a trivial loop over its shots.
Prints CPU ms per 1k shots (best of --repeat), the 20k/10k ratio (linear gives 2.0) and
the ratio to the baseline.
Targets: 10k shots checked in at most 0.3 s; 20k/10k at most 2.2.

    .venv/bin/python bench/plan_check.py [--repeat 5] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import pstats
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recoil_core.plan import load_plan

SIZES = (10_000, 20_000)
CHARACTERS = ("JADE", "KAI", "MARA", "OREN")
LOCATIONS = tuple(f"LOC_{n}" for n in range(5))


def plan_document(n_shots: int) -> dict[str, Any]:
    """A plan of ``n_shots`` shots using most shot fields, with one coverage pass per 4 shots."""
    sequences: dict[str, Any] = {}
    shot_ids: list[str] = []
    for i in range(n_shots):
        sequence = sequences.setdefault(
            f"SEQ{i // 40 + 1:04d}", {"location": LOCATIONS[i // 40 % 5], "shots": []}
        )
        shot_id = f"EP001_SH{i + 1:05d}"
        shot_ids.append(shot_id)
        shot: dict[str, Any] = {
            "shot_id": shot_id,
            "duration_s": float(1 + i % 5),
            "prompt": f"shot {i}: the courier crosses the square",
            "characters": list(CHARACTERS[i % 3 : i % 3 + i % 2 + 1]),
            "shot_type": ("WS", "MS", "CU")[i % 3],
            "has_dialogue": i % 2 == 0,
            "seed": i,
        }
        if i % 6 == 0:
            shot["location"] = LOCATIONS[i % 5]
        sequence["shots"].append(shot)
    passes = [
        {
            "pass_id": f"EP001_PASS_{start // 4 + 1:03d}_A",
            "shot_range": [shot_ids[start], shot_ids[start + 3]],
            "segments": [
                *({"shot_id": sid} for sid in shot_ids[start : start + 4]),
                {"shot_id": "wildcard", "shot_type": "CU", "duration_s": 1.0},
            ],
            "generation_config": {"tier": "pro"},
        }
        for start in range(0, n_shots - 3, 4)
    ]
    return {
        "schema_version": 1,
        "project": "bench",
        "episode": "EP001",
        "defaults": {"video_model": "seeddance-2.0", "duration_s": 4},
        "locations": {loc: {"name": loc} for loc in LOCATIONS},
        "characters": {name: {"name": name.title()} for name in CHARACTERS},
        "sequences": sequences,
        "coverage_passes": passes,
    }


def baseline(path: Path) -> int:
    """Bare ``json.loads`` of the file and one trivial loop over every shot."""
    data = json.loads(path.read_bytes())
    count = 0
    for sequence in data["sequences"].values():
        for shot in sequence["shots"]:
            if shot["shot_id"]:
                count += 1
    return count


def best_seconds(work: Callable[[], object], repeat: int) -> float:
    """The least CPU time (this process) of ``repeat`` runs of ``work``."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per size; the best counts")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of 10k shots")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="recoil-plan-bench-") as tmp:
        paths = {}
        for size in SIZES:
            paths[size] = Path(tmp) / f"plan_{size}.json"
            paths[size].write_text(json.dumps(plan_document(size), indent=1), encoding="utf-8")
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(load_plan, paths[SIZES[0]])
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        checked: dict[int, float] = {}
        bare: dict[int, float] = {}
        for size in SIZES:
            checked[size] = best_seconds(lambda p=paths[size]: load_plan(p), args.repeat)
            bare[size] = best_seconds(lambda p=paths[size]: baseline(p), args.repeat)
            print(
                f"{size:>6} shots  load_plan {checked[size] * 1000:7.1f} ms "
                f"({checked[size] * 1e6 / size:5.1f} ms/1k shots)   "
                f"baseline {bare[size] * 1000:6.1f} ms ({bare[size] * 1e6 / size:4.1f} ms/1k)   "
                f"load_plan/baseline {checked[size] / bare[size]:4.1f}x"
            )
        small, large = SIZES
        print(
            f"20k/10k: load_plan {checked[large] / checked[small]:.2f} "
            f"(baseline {bare[large] / bare[small]:.2f}; linear 2.0, target <= 2.2)   "
            f"10k: {checked[small]:.3f} s (target <= 0.3 s)"
        )


if __name__ == "__main__":
    main()
