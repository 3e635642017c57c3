"""recoil-myplugin through the real Recoil runner: recoil-core's ``recoil_harness`` fixture
(real registry and filesystem backend in a temp dir, a scripted provider)."""

from __future__ import annotations

from recoil_core.testing.harness import RunHarness
from recoil_core.testing.plans import canonical_plan, canonical_shot


def test_every_shot_is_rendered_once_in_its_own_clip(recoil_harness: RunHarness) -> None:
    plan = canonical_plan([canonical_shot("EP001_SH01"), canonical_shot("EP001_SH02")])

    report = recoil_harness.run(plan, strategy="myplugin")

    assert report.take_counts == {"succeeded": 2}
    submitted = sorted(tuple(r.payload["shot_ids"]) for r in recoil_harness.provider.submits)
    assert submitted == [("EP001_SH01",), ("EP001_SH02",)]
