"""Benchmark: ``recoil status`` on an episode of 10,000 takes on the filesystem backend.

The episode is made the way a studio makes one, shot by shot: ``recoil run`` renders a
small generated plan (``solo`` strategy, ``animatic`` provider) into a temp projects root,
then each of its scenes is copied through the filesystem backend's own API
(``create_scene``) under new shot ids until the episode holds ``--takes`` takes (10,000 by
default: 10,000 one-take scenes; ``--layout scenes`` puts 100 one-take beats in each
scene instead). The copies are the real run's documents with the shot, scene, beat and
take ids renamed: same states, steps, receipts, estimates and costs (job ids and render
paths are the template's).

Timed as subprocesses, best of ``--repeat`` runs, wall and CPU (user + system):
``recoil status`` without the episode's status index (removed before the run, which
reads every scene and writes the index), ``recoil status`` and ``recoil status --json``
(the index written: every scene unchanged since), beside a baseline in this run: a bare
``python`` that lists the scene folders, reads each scene's manifest and active version
document and parses them with ``json``; and ``python -c pass`` (interpreter start-up).
Target: ``recoil status`` under 1 s at 10,000 takes.

Then where the time of ``recoil status --json`` goes, CPU seconds in a fresh process
(with the collector paused as the command pauses it): imports, loading the index,
listing the scenes and the ``stat`` of each one's two files, the rest of
``runner.queries.status`` (summaries, attention, billable takes), ``to_dict`` and the
indented JSON ``echo_json`` prints; beside them, the reads status makes without the
index (list the scenes; per scene ``load_status_documents``: the decoded manifest and
active version document); and per scene document (a sample of 1,000): reading its
bytes, ``jsonio``'s long-integer scan, ``orjson.loads`` and, for comparison, structuring
the whole ``Scene`` (cattrs: what status did before it read documents). ``--profile``
adds a cProfile of the command.

    .venv/bin/python bench/status.py [--takes 10000] [--layout solo|scenes] [--repeat 3]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import redirect_stdout, suppress
from pathlib import Path
from typing import Any

TEMPLATE_SHOTS = 6
"""Shots of the plan ``recoil run`` renders; their scenes are copied."""
BEATS_PER_SCENE = 100
PROJECT = "bench"
EPISODE = "EP001"
STATUS_INDEX_FILE = ".status-index.json"

BASELINE = """
import json, os, sys
scenes = os.path.join(sys.argv[1], "scenes")
for name in sorted(os.listdir(scenes)):
    with open(os.path.join(scenes, name, "manifest.json"), "rb") as f:
        manifest = json.loads(f.read())
    version = manifest["active_version"]
    with open(os.path.join(scenes, name, f"v{version:04d}.json"), "rb") as f:
        json.loads(f.read())
"""
"""What any status must do: list the scenes, read and parse a manifest and a document each."""


def template_plan(n_shots: int) -> dict[str, Any]:
    """A plan file's JSON: ``n_shots`` shots of 2-4 s in one sequence."""
    shots = [
        {
            "shot_id": f"{EPISODE}_SH{i + 1:05d}",
            "shot_type": ("WS", "MS", "CU")[i % 3],
            "duration_s": 2 + i % 3,
            "prompt": f"Shot {i + 1}: the crew crosses the market at dusk, camera tracking left.",
        }
        for i in range(n_shots)
    ]
    return {
        "schema_version": 1,
        "project": PROJECT,
        "episode": EPISODE,
        "title": "status bench",
        "defaults": {"video_model": "seeddance-2.0", "resolution": "720p", "duration_s": 3},
        "locations": {"LOC_MARKET": {"name": "Market", "description": "A night market."}},
        "characters": {},
        "sequences": {
            "SEQ01": {"location": "LOC_MARKET", "description": "the market", "shots": shots}
        },
    }


def environment(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOIL_")}
    env["RECOIL_PROJECTS_ROOT"] = str(root)
    return env


def recoil_argv(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("recoil")), *args]


def render_template(root: Path) -> None:
    """``recoil run`` of the template plan into ``root`` (every take rendered)."""
    plan = root.parent / "plan.json"
    plan.write_text(json.dumps(template_plan(TEMPLATE_SHOTS)), encoding="utf-8")
    argv = recoil_argv("run", str(plan), "--strategy", "solo", "--provider", "animatic")
    subprocess.run(argv, check=True, env=environment(root), stdout=subprocess.DEVNULL)


def fill_episode(root: Path, n_takes: int, layout: str) -> int:
    """Copy the rendered template's scenes until the episode holds ``n_takes`` takes;
    returns the number of scenes."""
    from recoil_core.convert import converter
    from recoil_core.model import Scene
    from recoil_core.persistence.filesystem import FilesystemBackend

    backend = FilesystemBackend(root)
    templates = []
    for scene_id in backend.list_scenes(PROJECT, EPISODE):
        scene = backend.load_scene(PROJECT, EPISODE, scene_id)
        assert scene is not None and len(scene.beats) == 1 and len(scene.beats[0].takes) == 1
        templates.append((scene_id, json.dumps(converter.unstructure(scene))))
    shot_ids = [f"{EPISODE}_SH{i + 1:05d}" for i in range(n_takes)]
    scenes = []
    for number, shot_id in enumerate(shot_ids[len(templates) :], start=len(templates)):
        old, text = templates[number % len(templates)]  # the template's ids, renamed
        scenes.append(converter.structure(json.loads(text.replace(old, shot_id)), Scene))
    if layout == "scenes":
        for scene_id, _ in templates:  # regrouped below with the copies
            for path in sorted((backend.scene_dir(PROJECT, EPISODE, scene_id)).iterdir()):
                path.unlink()
            backend.scene_dir(PROJECT, EPISODE, scene_id).rmdir()
        originals = [converter.structure(json.loads(text), Scene) for _, text in templates]
        scenes = group_beats([*originals, *scenes])
    with backend.write_batch():
        for scene in scenes:
            backend.create_scene(PROJECT, EPISODE, scene)
    return len(backend.list_scenes(PROJECT, EPISODE))


def group_beats(scenes: Sequence[Any]) -> list[Any]:
    """The one-beat ``scenes`` as scenes of BEATS_PER_SCENE beats each."""
    import attrs

    grouped = []
    for start in range(0, len(scenes), BEATS_PER_SCENE):
        part = scenes[start : start + BEATS_PER_SCENE]
        beats = [beat for scene in part for beat in scene.beats]
        scene_id = f"SCENE_{start // BEATS_PER_SCENE + 1:04d}"
        grouped.append(attrs.evolve(part[0], scene_id=scene_id, beats=beats))
    return grouped


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and output bytes of ``argv`` run to its end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, check=True, env=env, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, len(done.stdout)


def phases(root: Path) -> dict[str, float]:
    """CPU seconds of each part of ``recoil status --json`` (see the module docstring);
    ``NO_INDEX`` is the reads status makes without the index (not a part of the command
    once the index is written)."""
    out: dict[str, float] = {}
    clock = time.process_time
    start = clock()
    from recoil_core.cli._app import echo_json  # noqa: F401  (imported as the command does)
    from recoil_core.jsonio import dumps_as_json_does
    from recoil_core.persistence.filesystem import FilesystemBackend
    from recoil_core.runner import queries

    out["imports"] = clock() - start
    gc.disable()  # as the command does while it reads and prints
    start = clock()
    backend = FilesystemBackend(root)
    for scene_id in backend.list_scenes(PROJECT, EPISODE):
        backend.load_status_documents(PROJECT, EPISODE, scene_id)
    out[NO_INDEX] = clock() - start
    start = clock()
    index = FilesystemBackend(root).status_index(PROJECT, EPISODE, queries.STATUS_FIELDS)
    assert index is not None
    for scene_id in index.scene_ids():
        index.cached(scene_id)
    out["index: load, list, stat"] = clock() - start
    start = clock()
    report = queries.status(FilesystemBackend(root), PROJECT, [EPISODE])
    out["queries.status - index"] = clock() - start - out["index: load, list, stat"]
    start = clock()
    data = report.to_dict()
    out["to_dict"] = clock() - start
    start = clock()
    dumps_as_json_does(data)
    out["json (indent 2)"] = clock() - start
    return out


NO_INDEX = "reads without the index"


def per_document(root: Path, sample: int = 1_000) -> dict[str, float]:
    """Microseconds per scene document of each step of reading it, the collector paused
    (as :mod:`timeit` does: its pauses depend on the heap, not on the step)."""
    import orjson

    from recoil_core import jsonio
    from recoil_core.convert import converter
    from recoil_core.model import Scene

    scenes = root / PROJECT / EPISODE / "scenes"
    paths = sorted(scenes.glob("*/v0001.json"))[:sample]
    clock = time.perf_counter
    gc.disable()
    start = clock()
    raws = [path.read_bytes() for path in paths]
    read = clock() - start
    start = clock()
    for raw in raws:
        jsonio.may_hold_long_integer(raw)
    scan = clock() - start
    start = clock()
    docs = [orjson.loads(raw) for raw in raws]
    parse = clock() - start
    start = clock()
    for doc in docs:
        converter.structure(doc, Scene)
    structure = clock() - start
    gc.enable()
    per = 1e6 / len(paths)
    return {
        "read bytes": read * per,
        "long-integer scan": scan * per,
        "orjson.loads": parse * per,
        "structure Scene (unused)": structure * per,
    }


def print_phases(root: Path, repeat: int) -> None:
    argv = [sys.executable, __file__, "--phases", str(root)]
    runs = [
        json.loads(subprocess.run(argv, check=True, capture_output=True, text=True).stdout)
        for _ in range(repeat)
    ]
    best = {name: min(run[name] for run in runs) for name in runs[0]}
    no_index = best.pop(NO_INDEX)
    total = sum(best.values())
    print("\nrecoil status --json in process, index written, CPU seconds (best of runs):")
    for name, value in best.items():
        print(f"  {name:<24}{value:>8.3f}s {100 * value / total:>4.0f}%")
    print(f"  {'(list, read, parse all)':<24}{no_index:>8.3f}s  without the index")
    print("per scene document, microseconds:")
    for name, value in per_document(root).items():
        print(f"  {name:<24}{value:>8.1f}")


def profile_status(root: Path) -> None:
    """cProfile of ``recoil status --json`` in this process."""
    os.environ["RECOIL_PROJECTS_ROOT"] = str(root)
    from recoil_core.cli import main

    profiler = cProfile.Profile()
    sys.argv = ["recoil", "status", "--json"]
    with redirect_stdout(io.StringIO()):
        profiler.enable()
        with suppress(SystemExit):
            main()
        profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--takes", type=int, default=10_000, help="takes in the episode")
    parser.add_argument("--layout", choices=("solo", "scenes"), default="solo")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best kept)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of status")
    parser.add_argument("--phases", metavar="ROOT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phases:
        print(json.dumps(phases(Path(args.phases))))
        return
    with tempfile.TemporaryDirectory(prefix="recoil-bench-status-") as tmp:
        root = Path(tmp, "projects")
        start = time.perf_counter()
        render_template(root)
        n_scenes = fill_episode(root, args.takes, args.layout)
        setup = time.perf_counter() - start
        print(
            f"episode: {args.takes:,} takes in {n_scenes:,} scene(s) ({args.layout}), "
            f"made in {setup:.1f}s"
        )
        env = environment(root)
        episode_dir = str(root / PROJECT / EPISODE)
        index = root / PROJECT / EPISODE / STATUS_INDEX_FILE
        commands = {
            "status, no index": recoil_argv("status"),
            "recoil status": recoil_argv("status"),
            "recoil status --json": recoil_argv("status", "--json"),
            "baseline: read + parse": [sys.executable, "-c", BASELINE, episode_dir],
            "python -c pass": [sys.executable, "-c", "pass"],
        }
        best: dict[str, tuple[float, float, int]] = {}
        for _ in range(args.repeat):
            for name, argv in commands.items():
                if name == "status, no index":
                    index.unlink(missing_ok=True)  # this run reads every scene, writes it
                wall, cpu, size = timed(argv, env)
                old = best.get(name)
                best[name] = (
                    (min(wall, old[0]), min(cpu, old[1]), size) if old else (wall, cpu, size)
                )
        base_wall, _, _ = best["baseline: read + parse"]
        print(f"{'':<24}{'wall':>9}{'cpu':>9}{'x baseline':>12}{'output':>12}")
        for name, (wall, cpu, size) in best.items():
            print(f"{name:<24}{wall:>8.3f}s{cpu:>8.3f}s{wall / base_wall:>11.2f}x{size:>11,}B")
        worst = max(best["recoil status"][0], best["recoil status --json"][0])
        print("target (recoil status < 1 s):", "met" if worst < 1.0 else "missed")
        print_phases(root, args.repeat)
        if args.profile:
            profile_status(root)


if __name__ == "__main__":
    main()
