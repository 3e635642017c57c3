"""The budget cap under concurrency 100, with estimates that are right and estimates that
run low. The guard charges what was billed and learns by how much estimates ran low.

The guarantee (see recoil_core/budget.py):
- estimates >= billed (Seedance's estimate is its billed price): spent <= cap, always;
- estimates low: no take starts once ``spent + reserved + estimate * learned_ratio`` would
  pass the cap; what passes it is at most the takes already in flight when the first
  overrun was charged, each by its own ``billed - reserved``.
"""

from __future__ import annotations

import math

import pytest

from recoil_core.budget import BudgetGuard
from recoil_core.errors import BudgetExhaustedError, CorruptDocumentError, PluginError
from recoil_core.model import ChargeKind, LedgerEntry, TakeState
from recoil_core.testing.doubles import Outcome, ScriptedProvider
from recoil_core.testing.harness import RunHarness
from recoil_core.testing.plans import canonical_plan, canonical_shot


def many_shots(n: int):  # type: ignore[no-untyped-def]
    return canonical_plan([canonical_shot(f"EP001_SH{i:02d}", i) for i in range(1, n + 1)])


def entry(amount: float, take: str = "t") -> LedgerEntry:
    return LedgerEntry(
        entry_id=f"{take}:video:succeeded",
        project="p",
        episode="EP001",
        scene_id="s",
        beat_id="b",
        take_id=take,
        step_id="video",
        provider="scripted",
        model="m",
        kind=ChargeKind.SUCCEEDED,
        amount_usd=amount,
        job_id="j",
    )


def spent(harness: RunHarness) -> float:
    return sum(e.amount_usd for e in harness.backend.read_ledger("p", "EP001"))


def test_accurate_estimates_never_pass_the_cap_at_concurrency_100(tmp_path) -> None:
    provider = ScriptedProvider(Outcome(cost_usd=1.0, polls_until_final=2))
    harness = RunHarness(tmp_path, provider=provider, estimate=1.0)

    with pytest.raises(BudgetExhaustedError):
        harness.run(many_shots(40), strategy="solo", budget_usd=10.5, concurrency=100)

    assert provider.created == 10
    assert spent(harness) == pytest.approx(10.0)


def test_low_estimates_are_learned_and_the_cap_holds_one_take_at_a_time(tmp_path) -> None:
    """Billed 3x the estimate. Without learning, takes 4 and later would each still fit
    (spent 9 + estimate 1 <= 10) and spend past the cap; with it, take 4 reserves 3."""
    provider = ScriptedProvider(Outcome(cost_usd=3.0))
    harness = RunHarness(tmp_path, provider=provider, estimate=1.0)

    with pytest.raises(BudgetExhaustedError):
        harness.run(many_shots(20), strategy="solo", budget_usd=10.0, concurrency=1)

    assert provider.created == 3
    assert spent(harness) == pytest.approx(9.0)


def test_low_estimates_at_concurrency_100_stop_new_takes_and_bound_the_overshoot(
    tmp_path,
) -> None:
    provider = ScriptedProvider(Outcome(cost_usd=3.0, polls_until_final=2))
    harness = RunHarness(tmp_path, provider=provider, estimate=1.0)

    with pytest.raises(BudgetExhaustedError):
        harness.run(many_shots(100), strategy="solo", budget_usd=10.0, concurrency=100)

    # Ten takes fit the cap at the estimate and were all in flight before the first
    # charge showed the estimate was low; each overshoots by its own 3 - 1. No take
    # started after that.
    assert provider.created == 10
    assert spent(harness) == pytest.approx(30.0)
    assert spent(harness) <= 10.0 + provider.created * (3.0 - 1.0)


def test_guard_reserves_later_takes_at_the_learned_overrun() -> None:
    guard = BudgetGuard(10.0)
    first = guard.reserve(1.0)
    guard.charge(first, entry(2.5, "a"))
    guard.release(first)

    second = guard.reserve(1.0)

    assert guard.overrun == pytest.approx(2.5)
    assert second.amount == pytest.approx(2.5)
    assert guard.spent + guard.reserved == pytest.approx(5.0)


def test_guard_charges_what_was_billed_not_what_was_reserved() -> None:
    guard = BudgetGuard(100.0)
    reservation = guard.reserve(5.0)
    guard.charge(reservation, entry(2.0))
    guard.release(reservation)
    assert (guard.spent, guard.reserved, guard.overrun) == (2.0, 0.0, 1.0)


def test_a_zero_cap_starts_nothing(tmp_path) -> None:
    provider = ScriptedProvider(Outcome(cost_usd=1.0))
    harness = RunHarness(tmp_path, provider=provider, estimate=0.5)

    with pytest.raises(BudgetExhaustedError):
        harness.run(many_shots(3), strategy="solo", budget_usd=0.0, concurrency=100)

    assert provider.created == 0 and spent(harness) == 0.0


@pytest.mark.parametrize(
    "estimate",
    [math.nan, math.inf, -0.5, None, "0.5"],
    ids=["nan", "inf", "negative", "none", "text"],
)
def test_an_estimate_that_is_no_price_stops_the_run_before_anything_is_reserved(
    tmp_path, estimate: float
) -> None:
    """A NaN estimate compares false with the cap, so it would let every take past it."""
    provider = ScriptedProvider(Outcome(cost_usd=0.4))
    harness = RunHarness(tmp_path, provider=provider, estimate=estimate)
    with pytest.raises(PluginError, match=r"cost estimator for provider 'scripted'.*finite"):
        harness.run(many_shots(3), budget_usd=10.0)
    assert provider.created == 0
    assert harness.backend.read_ledger("p", "EP001") == []


@pytest.mark.parametrize(
    "bill", [math.nan, math.inf, -0.4, None], ids=["nan", "inf", "negative", "none"]
)
def test_a_bill_that_is_no_price_stops_the_run_charging_nothing_and_a_rerun_resumes(
    tmp_path, bill: float
) -> None:
    provider = ScriptedProvider(Outcome(cost_usd=bill))
    harness = RunHarness(tmp_path, provider=provider, estimate=0.5)
    with pytest.raises(PluginError, match=r"job job-1 succeeded with a bill of .* finite"):
        harness.run(many_shots(1), budget_usd=10.0)
    assert harness.backend.read_ledger("p", "EP001") == []
    (scene_id,) = harness.backend.list_scenes("p", "EP001")
    (take,) = harness.backend.load_scene("p", "EP001", scene_id).beats[0].takes
    assert (take.state, take.workflow.steps[0].job_id) == (TakeState.SUBMITTED, "job-1")

    request, _ = provider.jobs["job-1"]  # the provider's bill is readable now
    provider.jobs["job-1"] = (request, Outcome(cost_usd=0.4))
    assert harness.run(many_shots(1), budget_usd=10.0).complete
    assert provider.created == 1  # polled again, never created again
    assert [e.amount_usd for e in harness.backend.read_ledger("p", "EP001")] == [0.4]


@pytest.mark.parametrize("cap", [math.nan, math.inf, -1.0], ids=["nan", "inf", "negative"])
def test_a_cap_that_is_no_amount_is_refused(cap: float) -> None:
    with pytest.raises(ValueError, match="finite number >= 0"):
        BudgetGuard(cap)


def test_a_ledger_line_billing_no_amount_is_corrupt_and_named(tmp_path) -> None:
    """A NaN in the ledger would make ``spent`` NaN, and a NaN spend never reaches the cap."""
    harness = RunHarness(tmp_path, provider=ScriptedProvider(Outcome(cost_usd=0.4)))
    assert harness.run(many_shots(1)).complete
    ledger = tmp_path / "projects" / "p" / "EP001" / "ledger.jsonl"
    ledger.write_bytes(ledger.read_bytes().replace(b'"amount_usd":0.4', b'"amount_usd":NaN'))
    with pytest.raises(CorruptDocumentError, match=r"ledger\.jsonl line 1.*amount_usd") as bad:
        harness.backend.read_ledger("p", "EP001")
    assert "do not delete it" in str(bad.value)
    with pytest.raises(CorruptDocumentError, match=r"ledger\.jsonl line 1"):
        harness.run(many_shots(2), budget_usd=10.0)
    with pytest.raises(ValueError, match="finite number >= 0"):
        entry(math.nan)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("budget_usd", math.nan),
        ("budget_usd", -1.0),
        ("job_timeout_s", math.nan),
        ("job_timeout_s", 0.0),
        ("poll_interval_s", math.inf),
        ("concurrency", 0),
        ("max_takes", 0),
        ("lock_timeout_s", -1.0),
    ],
)
def test_run_options_refuse_numbers_that_would_silently_mean_no_limit(field, value) -> None:
    from recoil_core.runner import RunOptions

    with pytest.raises(ValueError, match=f"RunOptions.{field}: a finite number"):
        RunOptions(**{field: value})
    RunOptions(budget_usd=0.0, job_timeout_s=0.5, poll_interval_s=0.0, lock_timeout_s=None)


def test_a_thousand_charges_of_ten_cents_are_exactly_a_hundred_dollars() -> None:
    from decimal import Decimal

    guard = BudgetGuard(100.0)
    for n in range(1000):
        reservation = guard.reserve(0.10)
        guard.charge(reservation, entry(0.10, take=f"t{n}"))
        guard.release(reservation)
    assert guard.spent_exact == Decimal("100.00") and guard.spent == 100.0
    assert guard.remaining == 0.0 and guard.reserved == 0.0
    with pytest.raises(BudgetExhaustedError):
        guard.reserve(0.01)


def test_recoil_budget_sums_the_ledger_exactly(recoil_cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from recoil_core.persistence.filesystem import FilesystemBackend
    from recoil_core.testing.conformance import charge

    backend = FilesystemBackend(tmp_path / "projects")
    for n in range(1000):
        backend.append_ledger(charge(f"t{n}", 0.10))
    result = recoil_cli("budget", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["total_usd"] == 100.0 and data["entries"] == 1000
    assert sum([0.10] * 1000) != 100.0  # what float addition would have reported
