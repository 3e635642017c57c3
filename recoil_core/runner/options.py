"""How to run an episode: :class:`RunOptions`, checked when made, and the defaults."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import attrs

DEFAULT_PROVIDER = "animatic"
DEFAULT_STRATEGY = "continuity"


def _number(*, low: float, above: bool = False) -> Callable[[Any, Any, Any], None]:
    """An attrs validator: None, or a finite number >= ``low`` (> ``low`` with ``above``).
    NaN compares false with everything, so it is refused rather than taken as no limit."""

    def check(_options: Any, attribute: Any, value: Any) -> None:
        if value is None:
            return
        ok = (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and (value > low if above else value >= low)
        )
        if not ok:
            bound = f"> {low:g}" if above else f">= {low:g}"
            raise ValueError(f"RunOptions.{attribute.name}: a finite number {bound}, not {value!r}")

    return check


@attrs.frozen
class RunOptions:
    """How to run an episode (the CLI's ``recoil run`` options). Numbers are checked when
    the options are made: a NaN budget or timeout would silently mean none at all."""

    strategy: str = DEFAULT_STRATEGY
    provider: str | None = None
    image_provider: str | None = None
    budget_usd: float | None = attrs.field(default=None, validator=_number(low=0))
    budget_scope: str = attrs.field(
        default="episode", validator=attrs.validators.in_(("episode", "run"))
    )
    """``episode``: the cap includes what the ledger already holds; ``run``: only this run."""
    concurrency: int = attrs.field(default=4, validator=_number(low=1))
    max_takes: int = attrs.field(default=1, validator=_number(low=1))
    dry_run: bool = False
    selected_pass_ids: tuple[str, ...] = ()
    strategy_options: Mapping[str, Any] = attrs.field(factory=dict)
    resubmit_unknown: bool = False
    auto_resubmit: bool = True
    """Resend a lost create by itself once the provider's search missed it twice (where
    the provider can search); False leaves every lost create for a person."""
    lock_timeout_s: float | None = attrs.field(default=0.0, validator=_number(low=0))
    job_timeout_s: float | None = attrs.field(default=None, validator=_number(low=0, above=True))
    poll_interval_s: float | None = attrs.field(default=None, validator=_number(low=0))
