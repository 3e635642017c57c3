"""Cold-process wall time of ``recoil plugins list`` against listing the entry points bare.

The baseline is a fresh ``python -c`` that only reads the ``recoil.plugins`` entry points;
every command runs 10 times, interleaved, in the same environment. Prints the medians of
wall time and of the child's CPU time (steadier on a shared machine) and the ratios to the
baseline (target: at most 2 with every distribution installed).

``recoil plugins list`` is measured twice: as it runs once something installed has
changed (the full listing: every plugin imported and registered; ``RECOIL_LISTING_CACHE=
off``) and as it runs every other time (the stored listing, checked against its
fingerprint: ``recoil_core/cli/_listing_cache.py``). The target is held by what a user
gets on every listing but the first after an install; the full listing's ratio is printed
beside it. For locating the cost it also times ``recoil --version`` (the CLI's own
start-up) and ``recoil --load-plugins '' plugins list`` (the kernel's listing with no
plugin imported).

Every run reads compiled bytecode, as an installed wheel does (pip compiles at install):
the children share a bytecode cache in a temporary directory (``PYTHONPYCACHEPREFIX``),
filled by the warm-up runs, whatever ``PYTHONDONTWRITEBYTECODE`` says. Without it the
editable sources are compiled on every run (about 50 ms more for ``recoil``, nothing
for the baseline, whose modules all come from the standard library's caches). The stored
listing lives in a temporary ``XDG_CACHE_HOME``. With ``--llm PATH`` (an ``llm``
executable, e.g. from ``pip install llm`` in a venv of its own) ``llm plugins`` is timed too.
Run: ``python bench/plugins_list.py [--llm PATH]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 10
TARGET_RATIO = 2.0
RACY_S = 2.1
"""A little over the stored listing's racy window (``_listing_cache.RACY_S``)."""
BASELINE = (
    "from importlib.metadata import entry_points\n"
    "for ep in sorted(entry_points(group='recoil.plugins'), key=lambda e: e.name):\n"
    "    print(ep.name, ep.value)\n"
)


def recoil_executable() -> str:
    found = Path(sys.executable).with_name("recoil")
    return str(found) if found.exists() else shutil.which("recoil") or "recoil"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time of one run of ``cmd``."""
    cpu = _children_cpu()
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start, _children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", metavar="PATH", help="an llm executable: time `llm plugins`")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="recoil-bench-pycache-") as cache:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("RECOIL_") and k != "PYTHONDONTWRITEBYTECODE"
        }
        env["PYTHONPYCACHEPREFIX"] = cache
        env["XDG_CACHE_HOME"] = os.path.join(cache, "xdg-cache")
        measure(env, args.llm)


STORED = "recoil plugins list"
FULL = "recoil plugins list, full"
BARE = "bare entry-point listing"


def measure(env: dict[str, str], llm: str | None) -> None:
    recoil = [recoil_executable(), "plugins", "list"]
    full_env = {**env, "RECOIL_LISTING_CACHE": "off"}
    commands: dict[str, tuple[list[str], dict[str, str]]] = {
        BARE: ([sys.executable, "-c", BASELINE], env),
        STORED: (recoil, env),
        FULL: (recoil, full_env),
        "  for reference: recoil --version": ([recoil[0], "--version"], env),
        "  for reference: no plugin loaded": (
            [recoil[0], "--load-plugins", "", "plugins", "list"],
            env,
        ),
    }
    if llm:
        commands["  for reference: llm plugins"] = ([llm, "plugins"], env)
    for cmd, cmd_env in commands.values():  # warm the OS file cache and the stored listing
        timed(cmd, cmd_env)
    time.sleep(RACY_S)  # files the warm-up wrote are older than the listing's racy window
    for cmd, cmd_env in commands.values():
        timed(cmd, cmd_env)
    times: dict[str, list[tuple[float, float]]] = {label: [] for label in commands}
    for _ in range(RUNS):
        for label, (cmd, cmd_env) in commands.items():
            times[label].append(timed(cmd, cmd_env))
    wall = {label: statistics.median(w for w, _ in values) for label, values in times.items()}
    cpu = {label: statistics.median(c for _, c in values) for label, values in times.items()}
    for label in commands:
        print(
            f"{label:<36} median {wall[label] * 1000:7.1f} ms wall, "
            f"{cpu[label] * 1000:7.1f} ms CPU  ({RUNS} runs)"
        )
    for name, medians in (("wall", wall), ("CPU", cpu)):
        ratio = medians[STORED] / medians[BARE]
        verdict = "ok" if ratio <= TARGET_RATIO else "ABOVE TARGET"
        print(
            f"ratio ({name}) {ratio:.2f} (target <= {TARGET_RATIO:.1f}): {verdict}; "
            f"full listing {medians[FULL] / medians[BARE]:.2f}"
        )
    if llm:
        label = "  for reference: llm plugins"
        print(
            f"recoil plugins list / llm plugins (wall): stored {wall[STORED] / wall[label]:.2f}, "
            f"full {wall[FULL] / wall[label]:.2f}"
        )


if __name__ == "__main__":
    main()
