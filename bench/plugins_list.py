"""Cold-process wall time of ``recoil plugins list`` against listing the entry points bare.

The baseline is a fresh ``python -c`` that only reads the ``recoil.plugins`` entry points;
both run 10 times, interleaved, in the same environment. Prints medians and the ratio
(target: at most 2 with every distribution installed). Run: ``python bench/plugins_list.py``.
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
    timed(recoil, env)  # warm the OS file cache (and stevedore's entry-point cache)
    timed(bare, env)
    times: dict[str, list[float]] = {"bare": [], "recoil": []}
    for _ in range(RUNS):
        times["bare"].append(timed(bare, env))
        times["recoil"].append(timed(recoil, env))
    bare_median = statistics.median(times["bare"])
    recoil_median = statistics.median(times["recoil"])
    ratio = recoil_median / bare_median
    print(f"bare entry-point listing   median {bare_median * 1000:7.1f} ms  ({RUNS} runs)")
    print(f"recoil plugins list        median {recoil_median * 1000:7.1f} ms  ({RUNS} runs)")
    verdict = "ok" if ratio <= TARGET_RATIO else "ABOVE TARGET"
    print(f"ratio {ratio:.2f} (target <= {TARGET_RATIO:.1f}): {verdict}")


if __name__ == "__main__":
    main()
