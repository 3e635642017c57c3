"""Benchmark: grouping strategies alone, then ``recoil group`` end to end, on generated plans.

First every registered strategy on in-memory plans of 1k, 10k and 20k shots: seconds per
strategy and size, and the 20k/10k ratio (the baseline is the 10k run of the same
strategy in this run; linear scaling gives 2.0). Targets: 10k shots under 1 s per
strategy, 20k/10k at most 2.2.

Then ``recoil group PLAN --json`` on plan files of 10k and 20k shots (``continuity``,
``seeddance`` estimates): the CPU of the command as a subprocess, of a bare ``python -c
pass`` start-up, and, in process with the collector paused as the command pauses it, the
share of start-up, imports and plugin loading, plan checking (``load_plan``), the
strategy (``derive_groups``), the capability check (``check_groups``), estimating
(``estimate_groups``) and the output (the rows and ``echo_json``'s bytes); "the rest" is
the command less the phases (the CLI: typer, click, the root options, the exit).
Targets: 10k under 1 s end to end, 20k/10k at most 2.2.

    .venv/bin/python bench/grouping.py [--repeat 5] [--end-to-end-only]
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recoil_core.contracts.grouping import GroupingContext, GroupingStrategy
from recoil_core.model import CanonicalPlan, CanonicalShot, CoveragePass, CoverageSegment
from recoil_core.registry import build_registry

SIZES = (1_000, 10_000, 20_000)
END_TO_END_SIZES = (10_000, 20_000)
CHARACTERS = ("JADE", "KAI", "MARA", "OREN")
LOCATIONS = ("LOC_DINER", "LOC_LOT", "LOC_ALLEY", "LOC_ROOF", "LOC_KITCHEN")
E2E_STRATEGY = "continuity"
E2E_PROVIDER = "seeddance"


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


def plan_document(n_shots: int) -> dict[str, Any]:
    """A plan file's JSON of ``n_shots`` shots in sequences of 40 (a location each, one
    shot in seven elsewhere), one or no character per shot, and a coverage pass of three
    shots (a wildcard in the middle) every 40 shots."""
    sequences: dict[str, dict[str, Any]] = {}
    for i in range(n_shots):
        seq_id = f"SEQ{i // 40 + 1:04d}"
        seq = sequences.setdefault(
            seq_id,
            {"location": LOCATIONS[(i // 40) % len(LOCATIONS)], "description": seq_id, "shots": []},
        )
        shot: dict[str, Any] = {
            "shot_id": f"EP001_SH{i + 1:05d}",
            "shot_type": ("WS", "MS", "CU", "LS")[i % 4],
            "duration_s": 1 + i % 5,
            "prompt": f"Shot {i}: the night goes on at the diner.",
        }
        if i % 3:
            shot["characters"] = [CHARACTERS[i % 3]]
        if i % 7 == 0:
            shot["location"] = LOCATIONS[(i * 7) % len(LOCATIONS)]
        seq["shots"].append(shot)
    passes = [
        {
            "pass_id": f"EP001_PASS_{start // 40 + 1:04d}_A",
            "shot_range": [f"EP001_SH{start + 1:05d}", f"EP001_SH{start + 3:05d}"],
            "camera_side": "A",
            "label": "counter, A side",
            "focus_character": CHARACTERS[1],
            "pass_type": "character",
            "wildcard_enabled": True,
            "segments": [
                {"shot_id": f"EP001_SH{start + 2:05d}"},
                {"shot_id": "wildcard", "shot_type": "MCU", "duration_s": 2, "prompt": "insert"},
                {"shot_id": f"EP001_SH{start + 3:05d}", "duration_s": 2},
            ],
            "generation_config": {"tier": 2},
            "element_config": {"characters": [CHARACTERS[1]]},
        }
        for start in range(0, n_shots - 3, 40)
    ]
    return {
        "schema_version": 1,
        "project": "bench",
        "episode": "EP001",
        "title": "generated",
        "defaults": {"video_model": "seeddance-2.0", "resolution": "720p", "duration_s": 4},
        "locations": {loc: {"name": loc, "description": loc} for loc in LOCATIONS},
        "characters": {name: {"name": name, "description": name} for name in CHARACTERS},
        "sequences": sequences,
        "coverage_passes": passes,
    }


def child_cpu(argv: list[str]) -> float:
    """User + system CPU seconds of ``argv`` run to its end as a subprocess."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def phase_times(plan_path: Path) -> dict[str, float]:
    """CPU seconds of each phase of ``recoil group --json``, in this process and as the
    command runs them (the collector paused meanwhile, as the command pauses it): the
    interpreter's start-up, importing the modules the command needs and loading the
    plugins, then the phases in the command's order, the output being the rows and the
    bytes ``echo_json`` prints."""
    out: dict[str, float] = {}
    gc.disable()
    from recoil_core.cli.group import assemble_plan, unit_rows
    from recoil_core.jsonio import dumps_as_json_does
    from recoil_core.plan import load_plan
    from recoil_core.runner.capabilities import check_groups, refuse
    from recoil_core.runner.options import DEFAULT_PROVIDER  # noqa: F401  (as the command)
    from recoil_core.runner.workflows import estimate_groups

    registry = build_registry()
    out["start-up, imports, plugins"] = time.process_time()  # since the process began

    def timed(name: str, call: Callable[[], Any]) -> Any:
        start = time.process_time()
        result = call()
        out[name] = time.process_time() - start
        return result

    def capability_check() -> list[Any]:
        checks = check_groups(registry, plan, groups, provider=E2E_PROVIDER)
        refuse(checks, provider=E2E_PROVIDER)
        return [notice for check in checks if (notice := check.notice()) is not None]

    def output() -> bytes:
        rows = unit_rows(groups, estimates)
        known = [row.estimate_usd for row in rows if row.estimate_usd is not None]
        return dumps_as_json_does(
            {
                "ok": True,
                "estimated_usd": round(sum(known), 6),
                "units": [row.to_dict() for row in rows],
                "notices": notices,
            }
        )

    plan = timed("plan checking", lambda: load_plan(plan_path))
    groups = timed("strategy", lambda: assemble_plan(registry, plan, E2E_STRATEGY))
    notices = timed("capability check", capability_check)
    estimates = timed(
        "estimating",
        lambda: estimate_groups(registry, plan, groups, video_provider=E2E_PROVIDER),
    )
    timed("output", output)
    return out


def child_phases(plan_path: Path) -> dict[str, float]:
    """:func:`phase_times` in a fresh process, as the command would run them."""
    argv = [sys.executable, __file__, "--phases", str(plan_path)]
    done = subprocess.run(argv, check=True, capture_output=True, text=True)
    times: dict[str, float] = json.loads(done.stdout)
    return times


def end_to_end(repeat: int) -> bool:
    """Print ``recoil group`` timings at 10k and 20k shots; whether the targets are met."""
    recoil = str(Path(sys.executable).with_name("recoil"))
    with tempfile.TemporaryDirectory(prefix="recoil-bench-group-") as tmp:
        paths = {}
        for size in END_TO_END_SIZES:
            paths[size] = Path(tmp, f"plan_{size}.json")
            paths[size].write_text(json.dumps(plan_document(size)), encoding="utf-8")
        bare = min(child_cpu([sys.executable, "-c", "pass"]) for _ in range(repeat))
        cpu = dict.fromkeys(END_TO_END_SIZES, float("inf"))
        phases: dict[int, dict[str, float]] = {}
        for _ in range(repeat):
            for size, path in paths.items():
                argv = [recoil, "group", str(path), "--json", "-s", E2E_STRATEGY]
                cpu[size] = min(cpu[size], child_cpu([*argv, "--provider", E2E_PROVIDER]))
        for size, path in paths.items():
            runs = [child_phases(path) for _ in range(repeat)]
            phases[size] = {name: min(run[name] for run in runs) for name in runs[0]}
    print(f"\nrecoil group --json -s {E2E_STRATEGY} --provider {E2E_PROVIDER}, CPU seconds")
    print(f"{'':<28}" + "".join(f"{size:>10,}" for size in END_TO_END_SIZES) + "  20k/10k")

    def line(label: str, values: dict[int, float]) -> None:
        ratio = values[20_000] / values[10_000] if values[10_000] else float("nan")
        cells = "".join(f"{values[s]:>9.3f}s" for s in END_TO_END_SIZES)
        print(f"{label:<28}{cells}  {ratio:7.2f}")

    line("command (subprocess)", cpu)
    print(f"{'python -c pass':<28}{bare:>9.3f}s")
    for name in phases[10_000]:
        line(f"  {name}", {size: phases[size][name] for size in END_TO_END_SIZES})
    rest = {size: cpu[size] - sum(phases[size].values()) for size in END_TO_END_SIZES}
    line("  the rest (CLI)", rest)
    for size in END_TO_END_SIZES:
        total = sum(phases[size].values())
        shares = ", ".join(
            f"{name} {100 * value / total:.0f}%" for name, value in phases[size].items()
        )
        print(f"share at {size:,}: {shares}")
    ratio = cpu[20_000] / cpu[10_000]
    met = cpu[10_000] < 1.0 and ratio <= 2.2
    print("targets (10k < 1 s end to end, 20k/10k <= 2.2):", "met" if met else "missed")
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (best kept)")
    parser.add_argument(
        "--end-to-end-only", action="store_true", help="skip the strategies-alone table"
    )
    parser.add_argument("--phases", metavar="PLAN", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phases:
        print(json.dumps(phase_times(Path(args.phases))))
        return
    if not args.end_to_end_only:
        strategies_alone(args.repeat)
    end_to_end(args.repeat)


def strategies_alone(repeat: int) -> None:
    """Print every strategy's time on the in-memory plans and whether the targets are met."""
    strategies = build_registry().strategies
    plans = {size: generate_plan(size) for size in SIZES}
    header = f"{'strategy':<12}" + "".join(f"{size:>10,}" for size in SIZES) + "  20k/10k"
    print(header)
    failed = []
    for name, strategy in strategies.items():
        times = best_times(strategy, plans, repeat)
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
