"""Money: ledger charges, what they are for, and what counts as a price."""

from __future__ import annotations

import enum
import math

import attrs

from recoil_core.model.base import utc_now


class ChargeKind(enum.StrEnum):
    """What a ledger charge is for: a succeeded step, or a failed one the provider billed."""

    SUCCEEDED = "succeeded"
    FAILED_BUT_BILLED = "failed_but_billed"


def as_price(value: object) -> float | None:
    """``value`` in USD if it is a finite number >= 0, else None (NaN, infinity, a
    negative, text, a bool, None). NaN compares false with any cap, so an amount that is
    not a price must never reach the guard or the ledger."""
    if value is None or isinstance(value, (bool, str, bytes)):
        return None
    try:
        price = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return price if math.isfinite(price) and price >= 0 else None


def _check_price(_entry: object, _field: object, value: float) -> None:
    """attrs validator: ``value`` must be a price (see :func:`as_price`)."""
    if as_price(value) is None:
        raise ValueError(f"amount_usd must be a finite number >= 0, not {value!r}")


@attrs.frozen
class LedgerEntry:
    """One charge. ``entry_id`` is unique per (take, step, kind): charging twice is a no-op."""

    entry_id: str
    project: str
    episode: str
    scene_id: str
    beat_id: str
    take_id: str
    step_id: str
    provider: str
    model: str
    kind: ChargeKind
    amount_usd: float = attrs.field(validator=_check_price)
    """What the provider billed: a finite number >= 0 (NaN would compare false with the
    cap, so a ledger holding one could never stop a run)."""
    job_id: str | None
    at: str = attrs.field(factory=utc_now)
    take_uid: str | None = None
    """The take's :attr:`Take.uid` (absent on entries written before it existed)."""
    price_table: str | None = None
    """Which price table (and its date) the provider priced the bill with, when it says
    (``JobStatus.metadata["price_table"]``)."""


def charge_entry_id(take_id: str, step_id: str, kind: ChargeKind | str) -> str:
    return f"{take_id}:{step_id}:{ChargeKind(kind).value}"
