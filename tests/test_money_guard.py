"""The budget guard under a studio's habits: runs that wait for each other, resubmits,
and no reservation that skips the cap."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from ark_money import billed_usd, cli_env, run_recoil
from kill_campaign import WatchedArk, start_run, wait_for
from recoil_seeddance.testing.fake_ark import FakeArkServer

import recoil_core.budget

KERNEL = Path(recoil_core.budget.__file__).resolve().parent
EXAMPLE = KERNEL.parent / "examples" / "ep001" / "plan.json"


@pytest.fixture(params=["filesystem", "postgres"])
def backend_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    if request.param == "filesystem":
        yield {}
        return
    from recoil_postgres.testing import reachable_dsn, scratch_schema

    dsn = reachable_dsn()
    with scratch_schema(dsn) as schema:
        yield {
            "RECOIL_BACKEND": "postgres",
            "RECOIL_POSTGRES_DSN": dsn,
            "RECOIL_POSTGRES_SCHEMA": schema,
        }


def demand_usd(env: dict[str, str], cwd: Path) -> float:
    dry = run_recoil(
        env, cwd, "run", str(EXAMPLE), "--provider", "seeddance", "--dry-run", "--json"
    )
    assert dry.returncode == 0, dry.stderr
    return float(json.loads(dry.stdout)["estimated_usd"])


def test_a_run_that_waited_counts_what_the_run_before_it_spent(
    tmp_path: Path, backend_env: dict[str, str]
) -> None:
    """Two capped runs of one episode with --wait: the second reads the spend after it
    gets the lock, so together they never make Ark bill past the cap."""
    with WatchedArk(api_key="guard-key", queue_s=0.05) as ark:
        env = {**cli_env(ark, tmp_path), **backend_env}
        cap = round(0.6 * demand_usd(env, tmp_path), 4)
        ark.hold_creates = True  # the first run holds the lock, waiting in its first create
        first = start_run(env, tmp_path, "--budget", str(cap), "--wait", "--json")
        assert wait_for(ark, first, lambda: ark.creates_total > 0)
        second = start_run(env, tmp_path, "--budget", str(cap), "--wait", "--json")
        assert second.stderr is not None
        waiting = second.stderr.readline()  # it says so once it waits for the lock
        ark.hold_creates = False
        ark.release.set()
        results = [proc.communicate(timeout=300) for proc in (first, second)]

        assert "waiting for another recoil run" in waiting
        for _out, err in results:
            assert "Traceback" not in err, err
        assert sum(billed_usd(ark).values()) <= cap + 1e-9


def test_a_resubmit_asked_by_a_person_stays_inside_the_cap(tmp_path: Path) -> None:
    with FakeArkServer(api_key="guard-key") as ark:
        env = cli_env(ark, tmp_path)
        cap = round(demand_usd(env, tmp_path) / 7 * 3.5, 4)  # room for three takes
        ark.inject("create", "status", status_code=500, before_create=True, times=7)
        first = run_recoil(
            env, tmp_path, "run", str(EXAMPLE), "--provider", "seeddance",
            "--budget", str(cap), "--no-auto-resubmit",
        )  # fmt: skip
        assert first.returncode in (1, 6), first.stderr
        again = run_recoil(
            env, tmp_path, "run", str(EXAMPLE), "--provider", "seeddance",
            "--budget", str(cap), "--resubmit-unknown",
        )  # fmt: skip
        assert "Traceback" not in again.stderr
        assert sum(billed_usd(ark).values()) <= cap + 1e-9


def _unchecked_reservations(tree: ast.Module) -> list[str]:
    """Methods of BudgetGuard that add to ``_reserved`` without comparing with the cap."""
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ClassDef) and node.name == "BudgetGuard"):
            continue
        for method in node.body:
            if not isinstance(method, ast.FunctionDef):
                continue
            source = ast.unparse(method)
            adds = "self._reserved +=" in source
            checks = "self._fits(" in source
            if adds and not checks:
                found.append(method.name)
    return found


def test_no_reservation_skips_the_cap_but_the_hold_of_money_already_committed() -> None:
    """The one unchecked add is ``hold``: a job a take already owns bills whatever the cap
    says. It is called only for steps in a state where the provider may have the job."""
    tree = ast.parse((KERNEL / "budget.py").read_text(encoding="utf-8"))
    assert _unchecked_reservations(tree) == ["hold"]
    callers = []
    for path in KERNEL.rglob("*.py"):
        module = ast.parse(path.read_text(encoding="utf-8"))
        # A guard that overrides ``hold`` (the render nodes' shared cap) delegates to the
        # base class and its shared budget: that is the hold itself, not another caller.
        delegating = {
            id(call)
            for method in ast.walk(module)
            if isinstance(method, ast.FunctionDef) and method.name == "hold"
            for call in ast.walk(method)
        }
        for node in ast.walk(module):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("hold", "force_reserve")
                and id(node) not in delegating
            ):
                callers.append(path.relative_to(KERNEL).as_posix())
    assert callers == ["runner/dispatch.py"], callers
    dispatch = (KERNEL / "runner" / "dispatch.py").read_text(encoding="utf-8")
    assert dispatch.count("self.guard.hold(owed_estimate(take), steps=owed)") == 1


def test_recount_is_refused_once_the_guard_has_reserved() -> None:
    guard = recoil_core.budget.BudgetGuard(10.0)
    guard.recount_spent(2.0)
    assert guard.remaining == 8.0
    guard.reserve(1.0)
    with pytest.raises(RuntimeError):
        guard.recount_spent(0.0)
