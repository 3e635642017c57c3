"""Entry point module of recoil-replicate: the hook implementations Recoil loads.

Kept cheap to import: the HTTP client is imported by the provider factory only.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from recoil_core.api import (
    CostEstimator,
    Durations,
    ModelCapabilities,
    Provider,
    ProviderContext,
    ProviderLimits,
    ProviderSpec,
    hookimpl,
)

if TYPE_CHECKING:
    from recoil_core.api import WorkflowStep

NAME = "replicate"
MODALITIES = frozenset({"video_i2v", "video_t2v"})
TOKEN_ENV = "REPLICATE_API_TOKEN"
BASE_URL_ENV = "REPLICATE_API_BASE"
POLL_ENV = "RECOIL_REPLICATE_POLL_S"
CONCURRENCY_ENV = "RECOIL_REPLICATE_CONCURRENCY"
FIND_CONSISTENCY_ENV = "RECOIL_REPLICATE_FIND_CONSISTENCY_S"
DEFAULT_POLL_S = 10.0
DEFAULT_CONCURRENCY = 10
DEFAULT_FIND_CONSISTENCY_S = 5.0

OUTPUT_RETENTION_S = 3600.0
"""Replicate removes an API prediction's input, output and files an hour after it finishes."""
FIND_WINDOW_S = OUTPUT_RETENTION_S - 300.0
"""``find`` matches the request key kept in a prediction's input, which is removed after an
hour: a lost create is searched for only within 55 minutes (5 minutes kept for clock skew)."""
CANCEL_RUNNING_BILLED = True
"""A prediction cancelled while ``processing`` is billed for the time it ran (versioned
models); one cancelled while ``starting`` bills nothing: only ``queued`` is cancellable."""


def _number(env: Mapping[str, str], name: str, default: float, low: float) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        return default
    return max(low, value) if math.isfinite(value) else default


def _problem(env: Mapping[str, str], name: str, low: float, wanted: str) -> str | None:
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if math.isfinite(value) and value >= low:
        return None
    return f"{name}={raw!r}: use {wanted}"


def concurrency(env: Mapping[str, str]) -> int:
    """Predictions in flight at once: ``RECOIL_REPLICATE_CONCURRENCY``, else 10."""
    return int(_number(env, CONCURRENCY_ENV, DEFAULT_CONCURRENCY, 1))


def limits(env: Mapping[str, str]) -> ProviderLimits:
    """Outputs come from replicate.delivery, not from a prediction slot: the download does
    not hold one. 600 creates a minute is Replicate's documented limit."""
    return ProviderLimits(
        concurrency=concurrency(env),
        requests_per_minute=600,
        poll_interval_s=_number(env, POLL_ENV, DEFAULT_POLL_S, 0.0),
        download_in_slot=False,
    )


def check(ctx: ProviderContext) -> list[str]:
    """Problems that stop a run before anything is reserved (never a secret's value)."""
    problems = []
    if not ctx.env.get(TOKEN_ENV):
        problems.append(
            f"{TOKEN_ENV} is not set: export your Replicate API token (replicate.com > "
            "account > API tokens) to render with the replicate provider"
        )
    base_url = ctx.env.get(BASE_URL_ENV)
    if base_url and not base_url.startswith(("https://", "http://")):
        problems.append(f"{BASE_URL_ENV}={base_url!r} is not an http(s) URL")
    transport = (ctx.env.get("RECOIL_HTTP_TRANSPORT") or "aiohttp").strip().lower()
    if transport not in ("aiohttp", "httpx"):
        problems.append(f"RECOIL_HTTP_TRANSPORT={transport!r}: use aiohttp or httpx")
    for name, low, wanted in (
        (POLL_ENV, 0.0, "a number of seconds >= 0"),
        (CONCURRENCY_ENV, 1.0, "a whole number >= 1"),
        (FIND_CONSISTENCY_ENV, 0.0, "a number of seconds >= 0"),
    ):
        if (problem := _problem(ctx.env, name, low, wanted)) is not None:
            problems.append(problem)
    from recoil_core.api import PriceFileError
    from recoil_replicate.pricing import price_table

    try:
        price_table(ctx.env)
    except PriceFileError as exc:
        problems.append(str(exc))
    return problems


def estimate_step_usd(step: WorkflowStep) -> float:
    """What the step may cost, never less than its bill: an official model's output seconds
    at the listed price; a versioned model's expected predict time (30 min unless the price
    table says less) at its hardware's price."""
    from recoil_replicate.models import OfficialModel, UnknownModel, resolve
    from recoil_replicate.pricing import RUN_LIMIT_S, price_table

    table = price_table()
    name = step.model or str(step.payload.get("model") or "")
    try:
        model = resolve(name)
    except UnknownModel:
        return max(table.hardware.values()) * RUN_LIMIT_S
    if isinstance(model, OfficialModel):
        wanted = step.payload.get("duration_s")
        try:
            seconds = float(model.duration_for(wanted))
        except ValueError:  # refused at submit; reserve for what was asked
            seconds = float(math.ceil(float(wanted or 0)))
        resolution = str(step.payload.get("resolution") or "720p")
        return round(seconds * table.per_output_second(model.ref, resolution), 6)
    _hw, per_s, entry = table.versioned_price(model.ref, model.version)
    return round(entry.estimate_predict_s * per_s, 6)


def estimate_source() -> str:
    from recoil_replicate.pricing import price_table

    return price_table().label


def _factory(ctx: ProviderContext) -> Provider:
    from recoil_replicate.provider import create_provider

    return create_provider(ctx)


def model_capabilities() -> dict[str, ModelCapabilities]:
    """The official models' durations, resolutions and ratios, by every name a plan may
    use for them (``kling-v2.1`` and ``kwaivgi/kling-v2.1``). Versioned models declare
    nothing: what they render is up to each model. This provider sends no reference
    images (first and last frames only)."""
    from recoil_replicate.models import FRIENDLY, OFFICIAL

    names = {ref: ref for ref in OFFICIAL} | dict(FRIENDLY)
    return {
        name: ModelCapabilities(
            durations=Durations.of(*OFFICIAL[ref].durations),
            resolutions=OFFICIAL[ref].resolutions,
            aspect_ratios=OFFICIAL[ref].aspect_ratios,
            max_reference_images=0,
        )
        for name, ref in sorted(names.items())
    }


@hookimpl
def recoil_providers() -> list[ProviderSpec]:
    return [
        ProviderSpec(
            name=NAME,
            modalities=MODALITIES,
            factory=_factory,
            limits=limits(os.environ),
            can_find_by_request=True,
            find_window_s=FIND_WINDOW_S,
            find_consistency_s=_number(
                os.environ, FIND_CONSISTENCY_ENV, DEFAULT_FIND_CONSISTENCY_S, 0.0
            ),
            cancellable_states=frozenset({"queued"}),  # starting: cancelled before it bills
            bills_failures=True,  # versioned models bill the time a failed run used
            description=(
                "video models on Replicate: official kling-v2.1 and seedance-1-pro (per output "
                "second) and versioned owner/name:version models (per hardware second)"
            ),
            output_retention_s=OUTPUT_RETENTION_S,
            check=check,
            model_capabilities=model_capabilities(),
            cancel_running_billed=CANCEL_RUNNING_BILLED,
        )
    ]


@hookimpl
def recoil_cost_estimators() -> list[CostEstimator]:
    return [
        CostEstimator(
            provider=NAME,
            estimate=estimate_step_usd,
            description="Replicate: output seconds x per-second price (official models), "
            "expected predict time x hardware price (versioned); dated data/prices.json",
            source=estimate_source,
        )
    ]
