"""Accounting: charges go to the append-only ledger first, then into the budget guard."""

from __future__ import annotations

import threading

from recoil_core.budget import ZERO, BudgetGuard, Reservation, as_float, usd
from recoil_core.model import ChargeKind, LedgerEntry, Take, WorkflowStep, charge_entry_id
from recoil_core.persistence.protocol import PersistenceBackend


class Accountant:
    """Charges what providers billed, once per (take, step, kind), and keeps the guard in step."""

    def __init__(
        self, backend: PersistenceBackend, guard: BudgetGuard, project: str, episode: str
    ) -> None:
        self.backend = backend
        self.guard = guard
        self.project = project
        self.episode = episode
        self._charged = ZERO
        self._lock = threading.Lock()

    @property
    def charged_this_run(self) -> float:
        """What this run charged (summed exactly; see :func:`recoil_core.budget.usd`)."""
        return as_float(self._charged)

    def restore(
        self, *, scene_id: str, beat_id: str, take: Take, step: WorkflowStep, kind: ChargeKind
    ) -> LedgerEntry | None:
        """Append again the charge of a take the ledger lost (a torn or hand-broken line):
        the take was marked settled only after its charge was durable, so a settled take
        whose charge is missing is a damaged ledger. Returns the entry if it was missing."""
        receipt = step.receipt
        amount = receipt.run_result.cost_usd if receipt is not None else 0.0
        if amount <= 0:
            return None
        entry = self._entry(scene_id, beat_id, take, step, kind, amount, None)
        if not self.backend.append_ledger(entry):
            return None
        self.guard.charge(None, entry, new=True)
        return entry

    def charge(
        self,
        *,
        scene_id: str,
        beat_id: str,
        take: Take,
        step: WorkflowStep,
        kind: ChargeKind,
        amount: float,
        reservation: Reservation | None,
        price_table: str | None = None,
    ) -> LedgerEntry:
        entry = self._entry(scene_id, beat_id, take, step, kind, amount, price_table)
        new = self.backend.append_ledger(entry)
        self.guard.charge(reservation, entry, new=new)
        if new:
            with self._lock:  # charges may come from worker threads
                self._charged += usd(amount)
        take.cost_usd = as_float(usd(take.cost_usd) + usd(amount))
        return entry

    def _entry(
        self,
        scene_id: str,
        beat_id: str,
        take: Take,
        step: WorkflowStep,
        kind: ChargeKind,
        amount: float,
        price_table: str | None,
    ) -> LedgerEntry:
        """The ledger entry of one charge: keyed by (take, step, kind), so it is once."""
        return LedgerEntry(
            entry_id=charge_entry_id(take.take_id, step.step_id, kind),
            project=self.project,
            episode=self.episode,
            scene_id=scene_id,
            beat_id=beat_id,
            take_id=take.take_id,
            step_id=step.step_id,
            provider=step.provider or "",
            model=step.model or "",
            kind=kind,
            amount_usd=amount,
            job_id=step.job_id,
            take_uid=take.uid or None,
            price_table=price_table,
        )
