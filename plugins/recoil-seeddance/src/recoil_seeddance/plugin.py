"""Entry point module of recoil-seeddance: the hook implementations Recoil loads.

Kept cheap to import: the HTTP client is imported by the provider factory only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from recoil_core import hookimpl
from recoil_core.interfaces import (
    CostEstimator,
    Provider,
    ProviderContext,
    ProviderLimits,
    ProviderSpec,
)
from recoil_seeddance.models import FRIENDLY_MODELS

NAME = "seeddance"
MODALITIES = frozenset({"video_i2v", "r2v_multi", "video_t2v"})
POLL_ENV = "RECOIL_SEEDDANCE_POLL_S"
CONCURRENCY_ENV = "RECOIL_SEEDDANCE_CONCURRENCY"
DEFAULT_POLL_S = 10.0
DEFAULT_CONCURRENCY = 10


def concurrency(env: Mapping[str, str]) -> int:
    """Tasks in flight at once: ``RECOIL_SEEDDANCE_CONCURRENCY`` (your account's quota), else 10."""
    raw = env.get(CONCURRENCY_ENV)
    try:
        return max(1, int(raw)) if raw else DEFAULT_CONCURRENCY
    except ValueError:
        return DEFAULT_CONCURRENCY


def limits(env: Mapping[str, str]) -> ProviderLimits:
    """Ark's per-model limits; ``RECOIL_SEEDDANCE_POLL_S`` overrides the poll interval and
    ``RECOIL_SEEDDANCE_CONCURRENCY`` the tasks in flight."""
    raw = env.get(POLL_ENV)
    poll_s = DEFAULT_POLL_S
    if raw:
        try:
            poll_s = max(0.0, float(raw))
        except ValueError:
            poll_s = DEFAULT_POLL_S
    return ProviderLimits(
        concurrency=concurrency(env), requests_per_minute=600, poll_interval_s=poll_s
    )


def check(ctx: ProviderContext) -> list[str]:
    """Problems that stop a run before anything is reserved."""
    problems = []
    if not ctx.env.get("ARK_API_KEY"):
        problems.append(
            "ARK_API_KEY is not set: export your BytePlus ModelArk API key "
            "(console > API keys) in the environment to render with the seeddance provider"
        )
    base_url = ctx.env.get("ARK_BASE_URL")
    if base_url and not base_url.startswith(("https://", "http://")):
        problems.append(f"ARK_BASE_URL={base_url!r} is not an http(s) URL")
    transport = (ctx.env.get("RECOIL_HTTP_TRANSPORT") or "aiohttp").strip().lower()
    if transport not in ("aiohttp", "httpx"):
        problems.append(f"RECOIL_HTTP_TRANSPORT={transport!r}: use aiohttp or httpx")
    raw_poll = ctx.env.get(POLL_ENV)
    if raw_poll:
        try:
            float(raw_poll)
        except ValueError:
            problems.append(f"{POLL_ENV}={raw_poll!r} is not a number of seconds")
    raw_concurrency = ctx.env.get(CONCURRENCY_ENV)
    if raw_concurrency:
        try:
            int(raw_concurrency)
        except ValueError:
            problems.append(f"{CONCURRENCY_ENV}={raw_concurrency!r} is not a whole number")
    return problems


def _factory(ctx: ProviderContext) -> Provider:
    from recoil_seeddance.provider import create_provider

    return create_provider(ctx)


@hookimpl
def recoil_providers() -> list[ProviderSpec]:
    return [
        ProviderSpec(
            name=NAME,
            modalities=MODALITIES,
            factory=_factory,
            models=frozenset(FRIENDLY_MODELS) | frozenset(FRIENDLY_MODELS.values()),
            limits=limits(os.environ),
            can_find_by_request=True,
            bills_failures=False,
            description="Seedance video models over the BytePlus/Volcengine Ark task API",
            check=check,
        )
    ]


@hookimpl
def recoil_cost_estimators() -> list[CostEstimator]:
    from recoil_seeddance.estimate import ESTIMATOR

    return [ESTIMATOR]
