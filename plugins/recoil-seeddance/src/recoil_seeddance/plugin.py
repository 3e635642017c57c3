"""Entry point module of recoil-seeddance: the hook implementations Recoil loads.

Kept cheap to import: the HTTP client is imported by the provider factory only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from recoil_core import hookimpl
from recoil_core.interfaces import (
    CostEstimator,
    PreflightContext,
    PreflightGate,
    Provider,
    ProviderContext,
    ProviderLimits,
    ProviderSpec,
)
from recoil_seeddance.models import FRIENDLY_MODELS, model_info

NAME = "seeddance"
MODALITIES = frozenset({"video_i2v", "r2v_multi", "video_t2v"})
POLL_ENV = "RECOIL_SEEDDANCE_POLL_S"
CONCURRENCY_ENV = "RECOIL_SEEDDANCE_CONCURRENCY"
POLL_BATCH_ENV = "RECOIL_SEEDDANCE_POLL_BATCH"
DEFAULT_POLL_S = 10.0
DEFAULT_CONCURRENCY = 10
DEFAULT_POLL_BATCH = 100
MAX_POLL_BATCH = 500


def concurrency(env: Mapping[str, str]) -> int:
    """Tasks in flight at once: ``RECOIL_SEEDDANCE_CONCURRENCY`` (your account's quota), else 10."""
    raw = env.get(CONCURRENCY_ENV)
    try:
        return max(1, int(raw)) if raw else DEFAULT_CONCURRENCY
    except ValueError:
        return DEFAULT_CONCURRENCY


def poll_batch(env: Mapping[str, str]) -> int:
    """Tasks one list request polls at once: ``RECOIL_SEEDDANCE_POLL_BATCH`` (0 or 1: one
    GET per task), else 100; Ark pages hold at most 500."""
    raw = env.get(POLL_BATCH_ENV)
    try:
        return min(MAX_POLL_BATCH, max(0, int(raw))) if raw else DEFAULT_POLL_BATCH
    except ValueError:
        return DEFAULT_POLL_BATCH


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
    raw_batch = ctx.env.get(POLL_BATCH_ENV)
    if raw_batch:
        try:
            if not 0 <= int(raw_batch) <= MAX_POLL_BATCH:
                raise ValueError
        except ValueError:
            problems.append(
                f"{POLL_BATCH_ENV}={raw_batch!r}: use a whole number from 0 (one GET per "
                f"task) to {MAX_POLL_BATCH} (tasks polled by one list request)"
            )
    return problems


TIERS = ("default", "flex")


def check_tiers(ctx: PreflightContext) -> list[str]:
    """Service tiers Ark would refuse, found before anything is reserved.

    A beat's tier comes from its pass ``generation_config`` (or the plan's default
    ``provider_hints``); Ark knows ``default`` and ``flex``, and 2.x models have no flex
    tier. Without this gate such a take would be reserved and then refused at submit.
    """
    if ctx.video_provider != NAME:
        return []

    hints = ctx.plan.defaults.get("provider_hints")
    default_tier = hints.get("tier") if isinstance(hints, Mapping) else None
    shots = {shot.shot_id: shot for shot in ctx.plan.shots}
    problems: dict[str, str] = {}
    for scene in ctx.scenes:
        for beat in scene.beats:
            if beat.succeeded:
                continue
            in_pass = "tier" in beat.generation_config
            tier = beat.generation_config["tier"] if in_pass else default_tier
            if tier is None:
                continue
            pass_id = beat.grouping.source_pass_id if beat.grouping else None
            where = (
                f"coverage pass {pass_id} generation_config.tier"
                if in_pass and pass_id
                else f"beat {beat.beat_id} generation_config.tier"
                if in_pass
                else "plan defaults provider_hints.tier"
            )
            if tier not in TIERS:
                problems[where] = (
                    f"{where} is {tier!r}; Seedance service tiers are default and flex"
                )
                continue
            first = next((shots[i] for i in beat.shot_ids if i in shots), None)
            model = beat.generation_config.get("model") or (first.video_model if first else None)
            if tier == "flex" and model and model_info(str(model)).is_v2:
                problems[f"{where}:{model}"] = (
                    f"{where} is 'flex' but {model} has no flex tier; use default or a 1.x model"
                )
    return list(problems.values())


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


@hookimpl
def recoil_preflight_gates() -> list[PreflightGate]:
    return [
        PreflightGate(
            name="seeddance-tiers",
            check=check_tiers,
            description="refuses Ark service tiers Seedance would reject, before any reservation",
        )
    ]
