"""Cold-process wall time of ``recoil plugins list`` against listing the entry points bare.

The baseline is a fresh ``python -c`` that only reads the ``recoil.plugins`` entry points;
both run 10 times, interleaved, in the same environment. Prints the medians of wall time
and of the child's CPU time (steadier on a shared machine) and both ratios (target: at
most 2 with every distribution installed). For locating the cost it also
times ``recoil --version`` (the CLI's own start-up) and ``recoil --load-plugins ''
plugins list`` (the kernel's listing with no plugin imported).

Every run reads compiled bytecode, as an installed wheel does (pip compiles at install):
the children share a bytecode cache in a temporary directory (``PYTHONPYCACHEPREFIX``),
filled by the warm-up runs, whatever ``PYTHONDONTWRITEBYTECODE`` says. Without it the
editable sources are compiled on every run (about 50 ms more for ``recoil``, nothing
for the baseline, whose modules all come from the standard library's caches).
Run: ``python bench/plugins_list.py``.
"""

from __future__ import annotations

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
    with tempfile.TemporaryDirectory(prefix="recoil-bench-pycache-") as cache:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("RECOIL_") and k != "PYTHONDONTWRITEBYTECODE"
        }
        env["PYTHONPYCACHEPREFIX"] = cache
        measure(env)


def measure(env: dict[str, str]) -> None:
    recoil = [recoil_executable(), "plugins", "list"]
    bare = [sys.executable, "-c", BASELINE]
    commands = {
        "bare entry-point listing": bare,
        "recoil plugins list": recoil,
        "  for reference: recoil --version": [recoil[0], "--version"],
        "  for reference: no plugin loaded": [recoil[0], "--load-plugins", "", "plugins", "list"],
    }
    for cmd in commands.values():  # warm the OS file cache
        timed(cmd, env)
    times: dict[str, list[tuple[float, float]]] = {label: [] for label in commands}
    for _ in range(RUNS):
        for label, cmd in commands.items():
            times[label].append(timed(cmd, env))
    wall = {label: statistics.median(w for w, _ in values) for label, values in times.items()}
    cpu = {label: statistics.median(c for _, c in values) for label, values in times.items()}
    for label in commands:
        print(
            f"{label:<36} median {wall[label] * 1000:7.1f} ms wall, "
            f"{cpu[label] * 1000:7.1f} ms CPU  ({RUNS} runs)"
        )
    for name, medians in (("wall", wall), ("CPU", cpu)):
        ratio = medians["recoil plugins list"] / medians["bare entry-point listing"]
        verdict = "ok" if ratio <= TARGET_RATIO else "ABOVE TARGET"
        print(f"ratio ({name}) {ratio:.2f} (target <= {TARGET_RATIO:.1f}): {verdict}")


if __name__ == "__main__":
    main()
