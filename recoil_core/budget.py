"""The budget guard: reserve before a paid call, charge what was billed, release the rest.

``spent + reserved <= cap`` holds at every reservation. A reservation is one check-and-add
under a lock, never a read followed by a separate write.

Money is exact: amounts cross the plugin API as numbers (estimates, bills, the cap) and
are turned into :class:`~decimal.Decimal` by :func:`usd` (the number as written, so 0.1 is
one tenth), and the guard adds and compares only decimals: 1,000 charges of $0.10 are
exactly $100.00, and no comparison needs a tolerance.

Charges are what the provider billed, not the estimate. When a take is billed more than
its estimate, the guard learns the ratio and reserves every later take at ``estimate *
ratio``, so estimates that run low stop new takes early instead of letting each one
overshoot. What can still pass the cap is bounded: only takes already in flight when the
low estimate showed (each by its own ``actual - reserved``) spend past it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import attrs

from recoil_core.errors import BudgetExhaustedError
from recoil_core.model import LedgerEntry, as_price

ZERO = Decimal(0)


def usd(value: float | int | Decimal) -> Decimal:
    """An amount in USD as an exact decimal: a float is taken as written (its shortest
    repr), so ``usd(0.1) == Decimal("0.1")``."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    return Decimal(repr(float(value)))


def total_usd(amounts: Iterable[float | int | Decimal]) -> Decimal:
    """The exact sum of amounts (see :func:`usd`)."""
    return sum((usd(amount) for amount in amounts), ZERO)


def as_float(amount: Decimal) -> float:
    """A decimal amount for JSON and the float API (the nearest float; 100.0 for 100)."""
    return float(amount)


@attrs.define
class Reservation:
    """Money set aside for one take; charges consume it, ``release`` frees what is left."""

    amount: Decimal
    remaining: Decimal
    released: bool = False
    estimate: Decimal = ZERO
    """What the estimator said (``amount`` is this times the learned overrun ratio)."""
    charged: Decimal = ZERO
    steps: set[str] | None = None
    """The workflow steps it covers (``None``: all of the take's)."""

    def covers(self, step_id: str) -> bool:
        return self.steps is None or step_id in self.steps


class BudgetGuard:
    """A cap (``None`` means no cap), what is spent, and what is reserved for in-flight takes.

    The properties give floats (the API's money type); the sums behind them are exact.
    """

    def __init__(self, cap: float | None, *, spent: float | Decimal = 0.0) -> None:
        if cap is not None and as_price(cap) is None:
            raise ValueError(f"budget cap must be a finite number >= 0, not {cap!r}")
        self.cap = cap
        self._cap = None if cap is None else usd(cap)
        self._spent = usd(spent)
        self._reserved = ZERO
        self._overrun = Decimal(1)
        self._lock = threading.Lock()
        self.events: list[dict[str, Any]] = []

    def recount_spent(self, spent: float | Decimal) -> None:
        """Set what was spent before this run, read under the episode lock; only before
        anything is reserved or charged (a run that waited must not trust an old read)."""
        with self._lock:
            if self._reserved or self.events:
                raise RuntimeError("recount_spent after the guard started reserving")
            self._spent = usd(spent)

    @property
    def spent(self) -> float:
        return as_float(self._spent)

    @property
    def spent_exact(self) -> Decimal:
        return self._spent

    @property
    def reserved(self) -> float:
        return as_float(self._reserved)

    @property
    def overrun(self) -> float:
        """The highest billed/estimated ratio seen so far (1.0 until a take overran)."""
        return float(self._overrun)

    @property
    def remaining(self) -> float:
        """What can still be reserved (``inf`` without a cap; may be negative once overspent)."""
        if self._cap is None:
            return float("inf")
        return as_float(self._cap - self._spent - self._reserved)

    def _fits(self, amount: Decimal) -> bool:
        return self._cap is None or self._spent + self._reserved + amount <= self._cap

    def _take_within_cap(self, estimate: Decimal) -> Decimal:
        """Add ``estimate`` (times the learned overrun) to the reservations, or raise
        :class:`BudgetExhaustedError` if it would pass the cap (caller holds the lock)."""
        needed = estimate * self._overrun
        if not self._fits(needed):
            raise self._exhausted()
        self._reserved += needed
        return needed

    def _exhausted(self) -> BudgetExhaustedError:
        return BudgetExhaustedError(remaining=max(0.0, self.remaining))

    def reserve(self, amount: float) -> Reservation:
        """Set ``amount`` aside or raise :class:`BudgetExhaustedError` if it would pass the cap."""
        estimate = max(ZERO, usd(amount))
        with self._lock:
            needed = self._take_within_cap(estimate)
            return Reservation(amount=needed, remaining=needed, estimate=estimate)

    def hold(self, amount: float, *, steps: set[str] | None = None) -> Reservation:
        """Count money already committed at a provider (a job a take owns, which bills
        whatever the cap says) so that no new reservation can use it. No cap check: the
        spend cannot be undone. Held first, before any new take reserves, it keeps new
        takes inside the cap. Never use it for a call not yet made: see :meth:`extend`."""
        held = max(ZERO, usd(amount))
        with self._lock:
            self._reserved += held
            return Reservation(amount=held, remaining=held, estimate=held, steps=steps)

    def extend(self, reservation: Reservation, amount: float, *, step: str) -> None:
        """Add ``amount`` for ``step`` (a paid call about to be made) to ``reservation``,
        or raise :class:`BudgetExhaustedError` if it would pass the cap."""
        estimate = max(ZERO, usd(amount))
        with self._lock:
            needed = self._take_within_cap(estimate)
            reservation.amount += needed
            reservation.remaining += needed
            reservation.estimate += estimate
            reservation.released = False
            if reservation.steps is not None:
                reservation.steps.add(step)

    def check_within_cap(self) -> None:
        """Raise :class:`BudgetExhaustedError` unless spent and reserved fit the cap: asked
        before a call that replaces a lost one, whose money is already held."""
        with self._lock:
            if self._cap is not None and not self._fits(ZERO):
                raise self._exhausted()

    def charge(
        self, reservation: Reservation | None, entry: LedgerEntry, *, new: bool = True
    ) -> None:
        """Record a charge. ``new=False`` (already in the ledger) only consumes the reservation."""
        billed = usd(entry.amount_usd)
        with self._lock:
            if reservation is not None:
                reservation.charged += billed
                if reservation.estimate > 0 and reservation.charged > reservation.estimate:
                    self._overrun = max(self._overrun, reservation.charged / reservation.estimate)
            if reservation is not None and not reservation.released:
                consumed = min(reservation.remaining, billed)
                reservation.remaining -= consumed
                self._reserved -= consumed
            if new:
                self._spent += billed
                self.events.append(
                    {
                        "kind": entry.kind.value,
                        "amount_usd": entry.amount_usd,
                        "take_id": entry.take_id,
                        "step_id": entry.step_id,
                    }
                )

    def release(self, reservation: Reservation) -> None:
        """Free what is left of a reservation (build error, cancel, take finished)."""
        with self._lock:
            if reservation.released:
                return
            self._reserved -= reservation.remaining
            reservation.remaining = ZERO
            reservation.released = True
