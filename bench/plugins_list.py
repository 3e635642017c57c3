"""Cold-process wall time of ``recoil plugins list`` against listing the entry points bare.

The baseline is a fresh ``python -c`` that only reads the ``recoil.plugins`` entry points;
both run 10 times, interleaved, in the same environment. Prints medians and the ratio
(target: at most 2 with every distribution installed). For locating the cost it also
times ``recoil --version`` (the CLI's own start-up) and ``recoil --load-plugins ''
plugins list`` (the kernel's listing with no plugin imported).
Run: ``python bench/plugins_list.py``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
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


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOIL_")}
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
    times: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(RUNS):
        for label, cmd in commands.items():
            times[label].append(timed(cmd, env))
    medians = {label: statistics.median(values) for label, values in times.items()}
    for label, median in medians.items():
        print(f"{label:<36} median {median * 1000:7.1f} ms  ({RUNS} runs)")
    ratio = medians["recoil plugins list"] / medians["bare entry-point listing"]
    verdict = "ok" if ratio <= TARGET_RATIO else "ABOVE TARGET"
    print(f"ratio {ratio:.2f} (target <= {TARGET_RATIO:.1f}): {verdict}")


if __name__ == "__main__":
    main()
