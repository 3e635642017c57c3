"""Benchmark: every registered grouping strategy on generated plans of 1k, 10k and 20k shots.

Prints seconds per strategy and size, and the 20k/10k ratio (the baseline is the 10k run
of the same strategy in this run; linear scaling gives 2.0). Targets: 10k shots under 1 s
per strategy, 20k/10k at most 2.2.

    .venv/bin/python bench/grouping.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import gc
import time

from recoil_core.interfaces import GroupingContext, GroupingStrategy
from recoil_core.model import CanonicalPlan, CanonicalShot, CoveragePass, CoverageSegment
from recoil_core.registry import build_registry

SIZES = (1_000, 10_000, 20_000)
CHARACTERS = ("JADE", "KAI", "MARA", "OREN")


def generate_plan(n_shots: int) -> CanonicalPlan:
    """``n_shots`` shots in sequences of 40, locations changing every 1-6 shots, a coverage
    pass (with a wildcard segment) over every 4 shots."""
    shots = []
    for i in range(n_shots):
        shots.append(
            CanonicalShot(
                shot_id=f"EP001_SH{i + 1:05d}",
                sequence_id=f"SEQ{i // 40 + 1:04d}",
                scene_index=i,
                location_id=f"LOC_{(i * 7 // (i % 6 + 1)) % 5}",
                duration_s=float(1 + i % 5),
                prompt=f"shot {i}",
                characters=CHARACTERS[i % 3 : i % 3 + i % 2],
                order=i,
            )
        )
    passes = []
    for start in range(0, n_shots - 3, 4):
        members = shots[start : start + 4]
        segments = [
            CoverageSegment(k, s.shot_id, "MS", s.duration_s, s.prompt)
            for k, s in enumerate(members)
        ]
        segments.append(CoverageSegment(4, "wildcard", "CU", 1.0, "insert", is_wildcard=True))
        passes.append(
            CoveragePass(
                pass_id=f"EP001_PASS_{start // 4 + 1:03d}_A",
                episode_id="EP001",
                shot_range=(members[0].shot_id, members[-1].shot_id),
                segments=segments,
                generation_config={"tier": "pro"},
            )
        )
    return CanonicalPlan("bench", "EP001", shots, coverage_passes=passes)


def run_once(strategy: GroupingStrategy, plan: CanonicalPlan) -> float:
    ctx = GroupingContext(project=plan.project, episode=plan.episode_id, plan=plan)
    gc.collect()
    gc.disable()  # as timeit does: collector pauses depend on the heap, not the strategy
    try:
        start = time.perf_counter()
        groups = strategy.assemble(plan.shots, ctx)
        elapsed = time.perf_counter() - start
    finally:
        gc.enable()
    assert groups
    return elapsed


def best_times(
    strategy: GroupingStrategy, plans: dict[int, CanonicalPlan], repeat: int
) -> dict[int, float]:
    """Best of ``repeat`` runs per size; sizes interleaved so drift hits them alike."""
    best = dict.fromkeys(plans, float("inf"))
    for _ in range(repeat):
        for size, plan in plans.items():
            best[size] = min(best[size], run_once(strategy, plan))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (best kept)")
    args = parser.parse_args()
    strategies = build_registry().strategies
    plans = {size: generate_plan(size) for size in SIZES}
    header = f"{'strategy':<12}" + "".join(f"{size:>10,}" for size in SIZES) + "  20k/10k"
    print(header)
    failed = []
    for name, strategy in strategies.items():
        times = best_times(strategy, plans, args.repeat)
        ratio = times[20_000] / times[10_000]
        print(f"{name:<12}" + "".join(f"{times[s]:>9.3f}s" for s in SIZES) + f"  {ratio:7.2f}")
        if times[10_000] >= 1.0 or ratio > 2.2:
            failed.append(name)
    print(
        "targets (10k < 1 s, 20k/10k <= 2.2):",
        "missed by " + ", ".join(failed) if failed else "met",
    )


if __name__ == "__main__":
    main()
