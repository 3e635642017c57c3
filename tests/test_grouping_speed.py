"""What keeps ``recoil group`` fast keeps its output: a row's hand-written ``to_dict`` is
``attrs.asdict``'s (fields in order, shot ids as a list), and the command leaves the
cyclic garbage collector as it found it, also when it refuses."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import attrs
import pytest
from typer.testing import CliRunner

from recoil_core.cli import app
from recoil_core.cli.group import UnitRow
from recoil_core.testing.plans import plan_dict, write_plan


def test_a_rows_dict_is_attrs_asdict() -> None:
    row = UnitRow("S1", "U1", "continuity", 2, "video_i2v", ("A", "B"), 3.5, 0.125)
    expected = attrs.asdict(row)
    expected["shot_ids"] = ["A", "B"]
    assert row.to_dict() == expected
    assert list(row.to_dict()) == [field.name for field in attrs.fields(UnitRow)]
    assert json.dumps(attrs.evolve(row, estimate_usd=None).to_dict())


@pytest.mark.parametrize("collector_on", [True, False])
def test_group_leaves_the_collector_as_it_found_it(tmp_path: Path, collector_on: bool) -> None:
    plan = write_plan(tmp_path, plan_dict())
    missing = tmp_path / "missing.json"
    was = gc.isenabled()
    try:
        if collector_on:
            gc.enable()
        else:
            gc.disable()
        for path in (plan, missing):
            result = CliRunner().invoke(app, ["group", str(path), "--json"])
            assert (result.exit_code == 0) is (path == plan), result.output
            assert gc.isenabled() is collector_on
    finally:
        if was:
            gc.enable()
        else:
            gc.disable()


def test_group_and_load_plan_work_with_the_collector_paused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bulk of the work (checking the plan, estimating) runs with the collector off:
    each full collection would walk the whole growing heap of plan and units."""
    from recoil_core.plan import _build
    from recoil_core.runner import workflows

    seen: dict[str, bool] = {}
    estimate, check = workflows.estimate_groups, _build.PlanChecker.plan

    def estimating(*args: object, **kwargs: object) -> object:
        seen["estimating"] = gc.isenabled()
        return estimate(*args, **kwargs)  # type: ignore[arg-type]

    def checking(self: _build.PlanChecker, data: object) -> object:
        seen["checking"] = gc.isenabled()
        return check(self, data)

    monkeypatch.setattr(workflows, "estimate_groups", estimating)
    monkeypatch.setattr(_build.PlanChecker, "plan", checking)
    plan = write_plan(tmp_path, plan_dict())
    was = gc.isenabled()
    gc.enable()
    try:
        result = CliRunner().invoke(app, ["group", str(plan), "--json"])
        assert result.exit_code == 0, result.output
        assert seen == {"estimating": False, "checking": False}
        assert gc.isenabled()
        seen.clear()
        _build.load_plan(plan)
        assert seen == {"checking": False} and gc.isenabled()
    finally:
        if not was:
            gc.disable()
