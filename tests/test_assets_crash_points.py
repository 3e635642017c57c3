"""Asset sheets killed at every persistence boundary against the fake Ark, resumed: never
paid twice, no sheet lost.

As ``tests/test_crash_points.py`` does for clips: the real sheet runner (``recoil assets
render``'s), the real Seedance client behind the ``ark-sheets`` stand-in
(``tests/support/ark_sheets.py``: sheets as paid Ark tasks) and a fake Ark on 127.0.0.1;
the only stand-in is a backend that "dies" just before or just after its N-th write, among
them the take's ``submitting`` save right before its create and the job id's right after.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ark_sheets
import pytest
from ark_money import PLUGINS, SENTINEL_KEY, check_money, filesystem, persisted_scenes
from recoil_seeddance.testing.fake_ark import FakeArkServer

from recoil_core.model import CanonicalPlan, TakeState
from recoil_core.persistence.protocol import PersistenceBackend
from recoil_core.plan import load_plan
from recoil_core.registry import Registry, build_registry
from recoil_core.runner import RunOptions, RunReport
from recoil_core.runner.assets import sheet_runner
from recoil_core.settings import PluginSelection
from recoil_core.testing.plans import plan_dict, write_plan

WRITES = frozenset(
    {"create_scene", "save_scene", "stage_candidate", "conform", "append_ledger", "save_derivation"}
)


class Killed(BaseException):
    """The simulated process death (nothing in the runner may swallow it)."""


class DyingBackend:
    """A backend that dies just before (``after=False``) its ``at``-th write, or just after
    that write became durable (``after=True``: as the write batch holding it commits)."""

    def __init__(self, inner: PersistenceBackend, *, at: int, after: bool) -> None:
        self._inner, self._at, self._after = inner, at, after
        self.writes = 0
        self.dead = self._dying = False
        self._batches = 0

    def __getattr__(self, name: str) -> Any:
        if self.dead:
            raise Killed(f"dead before {name}")
        attr = getattr(self._inner, name)
        if name not in WRITES:
            return attr

        def write(*args: Any, **kwargs: Any) -> Any:
            if self.dead:
                raise Killed(f"dead before {name}")
            self.writes += 1
            if self.writes == self._at and not self._after:
                self.dead = True
                raise Killed(f"killed before write {self._at} ({name})")
            result = attr(*args, **kwargs)
            if self.writes == self._at and self._after:
                if self._batches:
                    self._dying = True
                    return result
                self.dead = True
                raise Killed(f"killed after write {self._at} ({name})")
            return result

        return write

    @contextlib.contextmanager
    def write_batch(self) -> Iterator[None]:
        if self.dead:
            raise Killed("dead before a write batch")
        self._batches += 1
        try:
            with self._inner.write_batch():  # type: ignore[attr-defined]
                yield
        finally:
            self._batches -= 1
        if self._dying:
            self.dead = True
            raise Killed(f"killed after write {self._at} (its batch committed)")


@pytest.fixture(scope="module")
def registry() -> Registry:
    return build_registry(
        PluginSelection(load_only=(*PLUGINS, ark_sheets.NAME)),
        extra=[(ark_sheets.NAME, ark_sheets.plugin)],
    )


def two_assets(root: Path) -> CanonicalPlan:
    data = plan_dict(
        {"SEQ01": {"location": "LOC_DINER", "shots": [{"shot_id": "EP001_SH01",
                                                       "characters": ["MAYA"]}]}},
        defaults={"previs_model": ark_sheets.SHEET_MODEL},
        characters={"MAYA": {"name": "Maya", "look": "teal uniform"}},
        locations={"LOC_DINER": {"name": "Diner", "look": "neon"}},
    )  # fmt: skip
    return load_plan(write_plan(root, data))


def render(
    plan: CanonicalPlan, registry: Registry, backend: Any, ark: FakeArkServer, **options: Any
) -> RunReport:
    runner = sheet_runner(
        plan,
        registry=registry,
        backend=backend,
        options=RunOptions(
            provider="seeddance",
            image_provider=ark_sheets.NAME,
            poll_interval_s=0.0,
            concurrency=1,
            **options,
        ),
        env={"ARK_API_KEY": ark.api_key, "ARK_BASE_URL": ark.base_url},
    )
    return asyncio.run(runner.run())


def resume(plan: CanonicalPlan, registry: Registry, backend: Any, ark: FakeArkServer) -> RunReport:
    """Render again; a sheet left ``unknown`` (killed between its ``submitting`` save and
    its create reaching Ark) has no task at Ark, so it is then sent with resubmit_unknown."""
    report = render(plan, registry, backend, ark)
    if report.complete:
        return report
    unknown = [
        step
        for scene in persisted_scenes(backend, plan.project, plan.episode_id)
        for beat in scene.beats
        for take in beat.takes
        if take.state == TakeState.UNKNOWN
        for step in take.workflow.steps
        if step.job_id is None and step.seed is not None
    ]
    assert unknown, f"incomplete without unknown sheets: {report.attention}"
    seeds = {ark.task(t)["seed"] for t in ark.task_ids()}
    assert not {step.seed for step in unknown} & seeds, "an unknown sheet's task exists"
    return render(plan, registry, backend, ark, resubmit_unknown=True)


@pytest.mark.parametrize("after", [False, True], ids=["before-write", "after-write"])
def test_sheets_killed_at_every_write_resume_without_paying_twice(
    tmp_path: Path, registry: Registry, after: bool
) -> None:
    plan = two_assets(tmp_path / "plan")
    with FakeArkServer(api_key=SENTINEL_KEY) as ark:
        counting = DyingBackend(filesystem(registry, tmp_path / "count"), at=0, after=False)
        assert render(plan, registry, counting, ark).complete
    writes = counting.writes
    assert writes >= 6  # per sheet: submitting, job id, render with charge, success
    for at in range(1, writes + 1):
        root = tmp_path / f"at{at}"
        with FakeArkServer(api_key=SENTINEL_KEY) as ark:
            dying = DyingBackend(filesystem(registry, root), at=at, after=after)
            with pytest.raises(Killed):
                render(plan, registry, dying, ark)
            backend = filesystem(registry, root)
            report = resume(plan, registry, backend, ark)
            assert report.complete, f"write {at}: {report.attention or report.take_counts}"
            counts = check_money(ark, backend, plan.project, plan.episode_id)
            assert counts.succeeded == 2 and counts.duplicates == 0, f"write {at}"
            assert counts.creates == 2, f"write {at}: {counts.creates} creates for 2 sheets"
            assert counts.ledger_usd == pytest.approx(counts.billed_usd) and counts.billed_usd > 0
