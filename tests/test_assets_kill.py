"""SIGKILL the real ``recoil assets render`` CLI at random moments of real Ark traffic,
resume, repeat: no asset sheet paid twice, every sheet take final, the ledger equal to the
fake Ark's bill job by job, the capped runs' spend within their cap.

The sheets are made by ``ark-sheets`` (``tests/support/ark_sheets.py``), a stand-in provider
installed as a plugin of the subprocess, that sends them through the real Seedance Ark
client (Ark makes no images; no shipped provider makes paid ones), so each sheet take is
a paid Ark task. The campaign (kill moments: a create whose answer Ark holds, a create
Ark has not made yet when the CLI dies, made or lost with it, a dropped answer, any
moment) is ``run_asset_campaign`` of ``tests/support/kill_campaign.py``; CI runs one
seeded folder (``RECOIL_KILL_SEEDS`` replaces the seed); ``bench/soak_kill.py --assets``
runs many.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from kill_campaign import run_asset_campaign

SEEDS = [int(s) for s in os.environ.get("RECOIL_KILL_SEEDS", "2424").split(",") if s]


@pytest.mark.parametrize("seed", SEEDS)
def test_sheets_killed_at_random_moments_are_never_paid_twice(tmp_path: Path, seed: int) -> None:
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        print(line, file=sys.stderr)

    counts = run_asset_campaign(tmp_path, seed=seed, kills=4, max_folders=1, log=log)

    print(f"seed={seed} {counts}")
    transcript = "\n".join(lines)
    assert counts.folders == 1 and counts.kills >= 3, transcript
    assert counts.kills_by_mode.keys() & {"create", "before_create", "unmade"}, transcript
    assert counts.takes == counts.succeeded == 14, transcript  # 7 assets, 2 episodes
    assert counts.creates >= counts.takes
    assert counts.duplicates == counts.adopted_jobs == counts.lost_renders == 0
    assert counts.unowned_jobs == counts.unsettled_jobs == counts.ledger_mismatched_jobs == 0
    assert counts.billed_usd > 0
    assert counts.ledger_usd == pytest.approx(counts.billed_usd)
    assert counts.capped_runs >= 1 and counts.cap_violations == 0, transcript
    assert counts.left_for_person == counts.key_leaks == 0, transcript
