"""The budget guard: reserve before a paid call, charge what was billed, release the rest.

``spent + reserved <= cap`` holds at every reservation. A reservation is one check-and-add
under a lock, never a read followed by a separate write.

Charges are what the provider billed, not the estimate. When a take is billed more than
its estimate, the guard learns the ratio and reserves every later take at ``estimate *
ratio``, so estimates that run low stop new takes early instead of letting each one
overshoot. What can still pass the cap is bounded: only takes already in flight when the
low estimate showed (each by its own ``actual - reserved``) spend past it.
"""

from __future__ import annotations

import threading
from typing import Any

import attrs

from recoil_core.errors import BudgetExhaustedError
from recoil_core.model import LedgerEntry, as_price

EPSILON = 1e-9


@attrs.define
class Reservation:
    """Money set aside for one take; charges consume it, ``release`` frees what is left."""

    amount: float
    remaining: float
    released: bool = False
    estimate: float = 0.0
    """What the estimator said (``amount`` is this times the learned overrun ratio)."""
    charged: float = 0.0
    steps: set[str] | None = None
    """The workflow steps it covers (``None``: all of the take's)."""

    def covers(self, step_id: str) -> bool:
        return self.steps is None or step_id in self.steps


class BudgetGuard:
    """A cap (``None`` means no cap), what is spent, and what is reserved for in-flight takes."""

    def __init__(self, cap: float | None, *, spent: float = 0.0) -> None:
        if cap is not None and as_price(cap) is None:
            raise ValueError(f"budget cap must be a finite number >= 0, not {cap!r}")
        self.cap = cap
        self._spent = spent
        self._reserved = 0.0
        self._overrun = 1.0
        self._lock = threading.Lock()
        self.events: list[dict[str, Any]] = []

    def recount_spent(self, spent: float) -> None:
        """Set what was spent before this run, read under the episode lock; only before
        anything is reserved or charged (a run that waited must not trust an old read)."""
        with self._lock:
            if self._reserved or self.events:
                raise RuntimeError("recount_spent after the guard started reserving")
            self._spent = spent

    @property
    def spent(self) -> float:
        return self._spent

    @property
    def reserved(self) -> float:
        return self._reserved

    @property
    def overrun(self) -> float:
        """The highest billed/estimated ratio seen so far (1.0 until a take overran)."""
        return self._overrun

    @property
    def remaining(self) -> float:
        """What can still be reserved (``inf`` without a cap; may be negative once overspent)."""
        if self.cap is None:
            return float("inf")
        return self.cap - self._spent - self._reserved

    def reserve(self, amount: float) -> Reservation:
        """Set ``amount`` aside or raise :class:`BudgetExhaustedError` if it would pass the cap."""
        estimate = max(0.0, amount)
        with self._lock:
            amount = estimate * self._overrun
            if self.cap is not None and self._spent + self._reserved + amount > self.cap + EPSILON:
                raise BudgetExhaustedError(remaining=max(0.0, self.remaining))
            self._reserved += amount
            return Reservation(amount=amount, remaining=amount, estimate=estimate)

    def hold(self, amount: float, *, steps: set[str] | None = None) -> Reservation:
        """Count money already committed at a provider (a job a take owns, which bills
        whatever the cap says) so that no new reservation can use it. No cap check: the
        spend cannot be undone. Held first, before any new take reserves, it keeps new
        takes inside the cap. Never use it for a call not yet made: see :meth:`extend`."""
        amount = max(0.0, amount)
        with self._lock:
            self._reserved += amount
            return Reservation(amount=amount, remaining=amount, estimate=amount, steps=steps)

    def extend(self, reservation: Reservation, amount: float, *, step: str) -> None:
        """Add ``amount`` for ``step`` (a paid call about to be made) to ``reservation``,
        or raise :class:`BudgetExhaustedError` if it would pass the cap."""
        estimate = max(0.0, amount)
        with self._lock:
            amount = estimate * self._overrun
            if self.cap is not None and self._spent + self._reserved + amount > self.cap + EPSILON:
                raise BudgetExhaustedError(remaining=max(0.0, self.remaining))
            self._reserved += amount
            reservation.amount += amount
            reservation.remaining += amount
            reservation.estimate += estimate
            reservation.released = False
            if reservation.steps is not None:
                reservation.steps.add(step)

    def check_within_cap(self) -> None:
        """Raise :class:`BudgetExhaustedError` unless spent and reserved fit the cap: asked
        before a call that replaces a lost one, whose money is already held."""
        with self._lock:
            if self.cap is not None and self._spent + self._reserved > self.cap + EPSILON:
                raise BudgetExhaustedError(remaining=max(0.0, self.remaining))

    def charge(
        self, reservation: Reservation | None, entry: LedgerEntry, *, new: bool = True
    ) -> None:
        """Record a charge. ``new=False`` (already in the ledger) only consumes the reservation."""
        with self._lock:
            if reservation is not None:
                reservation.charged += entry.amount_usd
                if reservation.estimate > 0 and reservation.charged > reservation.estimate:
                    self._overrun = max(self._overrun, reservation.charged / reservation.estimate)
            if reservation is not None and not reservation.released:
                consumed = min(reservation.remaining, entry.amount_usd)
                reservation.remaining -= consumed
                self._reserved -= consumed
            if new:
                self._spent += entry.amount_usd
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
            if abs(self._reserved) < EPSILON:
                self._reserved = 0.0
            reservation.remaining = 0.0
            reservation.released = True
