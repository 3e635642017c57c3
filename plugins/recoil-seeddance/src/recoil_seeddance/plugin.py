"""Entry point module of recoil-seeddance: the hook implementations Recoil loads.

Kept cheap to import: the HTTP client is imported by the provider factory only.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping

import attrs

from recoil_core.api import (
    CostEstimator,
    Durations,
    LazyFunction,
    ModelCapabilities,
    PreflightContext,
    PreflightGate,
    Provider,
    ProviderContext,
    ProviderLimits,
    ProviderSpec,
    hookimpl,
)
from recoil_seeddance.models import FRIENDLY_MODELS, model_info
from recoil_seeddance.request import MAX_REFERENCE_IMAGES

NAME = "seeddance"
MODALITIES = frozenset({"video_i2v", "r2v_multi", "video_t2v"})
POLL_ENV = "RECOIL_SEEDDANCE_POLL_S"
CONCURRENCY_ENV = "RECOIL_SEEDDANCE_CONCURRENCY"
POLL_BATCH_ENV = "RECOIL_SEEDDANCE_POLL_BATCH"
FIND_CONSISTENCY_ENV = "RECOIL_SEEDDANCE_FIND_CONSISTENCY_S"
DEFAULT_FIND_CONSISTENCY_S = 15.0
LIST_WINDOW_S = 7 * 24 * 3600.0
"""Ark lists the tasks of the last 7 days; an older lost create cannot be searched for."""
OUTPUT_RETENTION_S = 24 * 3600.0
"""Ark keeps a succeeded task's video about 24 h (its signed URL can be refreshed by a GET
of the task within that time, not after)."""
DEFAULT_POLL_S = 10.0
DEFAULT_CONCURRENCY = 10
DEFAULT_POLL_BATCH = 100
MAX_POLL_BATCH = 500


@attrs.frozen
class EnvSetting:
    """A ``RECOIL_SEEDDANCE_*`` setting read from the environment, read one way for both
    uses: :meth:`value` where the provider is built (unset or unreadable: the default; out
    of range: the nearest bound) and :meth:`problem` in preflight, which refuses the run
    for a value that :meth:`value` would have replaced."""

    name: str
    default: float
    parse: Callable[[str], float]
    low: float
    high: float | None
    wanted: str

    def _read(self, env: Mapping[str, str]) -> tuple[float | None, str | None]:
        """The number written (None if it is not one) and the text (None if unset)."""
        raw = (env.get(self.name) or "").strip()
        if not raw:
            return None, None
        try:
            number = self.parse(raw)
        except ValueError:
            return None, raw
        return (number if math.isfinite(number) else None), raw

    def value(self, env: Mapping[str, str]) -> float:
        number, _raw = self._read(env)
        if number is None:
            return self.default
        number = max(self.low, number)
        return number if self.high is None else min(self.high, number)

    def problem(self, env: Mapping[str, str]) -> str | None:
        number, raw = self._read(env)
        if raw is None:
            return None
        if number is not None and self.low <= number and (self.high is None or number <= self.high):
            return None
        return f"{self.name}={raw!r}: use {self.wanted}"


POLL = EnvSetting(POLL_ENV, DEFAULT_POLL_S, float, 0.0, None, "a number of seconds >= 0")
CONCURRENCY = EnvSetting(
    CONCURRENCY_ENV,
    DEFAULT_CONCURRENCY,
    int,
    1,
    None,
    "a whole number >= 1 (the tasks your Ark account may run at once)",
)
POLL_BATCH = EnvSetting(
    POLL_BATCH_ENV,
    DEFAULT_POLL_BATCH,
    int,
    0,
    MAX_POLL_BATCH,
    f"a whole number from 0 (one GET per task) to {MAX_POLL_BATCH} (tasks polled by one "
    "list request)",
)
FIND_CONSISTENCY = EnvSetting(
    FIND_CONSISTENCY_ENV,
    DEFAULT_FIND_CONSISTENCY_S,
    float,
    0.0,
    None,
    "a number of seconds >= 0 (how long a new task may be missing from Ark's task list)",
)
SETTINGS = (POLL, CONCURRENCY, POLL_BATCH, FIND_CONSISTENCY)


def concurrency(env: Mapping[str, str]) -> int:
    """Tasks in flight at once: ``RECOIL_SEEDDANCE_CONCURRENCY`` (your account's quota), else 10."""
    return int(CONCURRENCY.value(env))


def poll_batch(env: Mapping[str, str]) -> int:
    """Tasks one list request polls at once: ``RECOIL_SEEDDANCE_POLL_BATCH`` (0 or 1: one
    GET per task), else 100; Ark pages hold at most 500."""
    return int(POLL_BATCH.value(env))


def limits(env: Mapping[str, str]) -> ProviderLimits:
    """Ark's per-model limits; ``RECOIL_SEEDDANCE_POLL_S`` overrides the poll interval and
    ``RECOIL_SEEDDANCE_CONCURRENCY`` the tasks in flight.

    Ark's concurrency counts the tasks it is running; a finished task's video comes from
    object storage at its ``video_url``, so the download does not hold a task slot.
    """
    return ProviderLimits(
        concurrency=concurrency(env),
        requests_per_minute=600,
        poll_interval_s=POLL.value(env),
        download_in_slot=False,
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
    problems += [p for setting in SETTINGS if (p := setting.problem(ctx.env)) is not None]
    from recoil_core.api import PriceFileError
    from recoil_seeddance.pricing import price_table

    try:
        price_table(ctx.env)
    except PriceFileError as exc:
        problems.append(str(exc))
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


RESOLUTIONS = ("480p", "720p", "1080p")
ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "adaptive")
MODEL_NAMES = frozenset(FRIENDLY_MODELS) | frozenset(FRIENDLY_MODELS.values())


def capabilities(model: str) -> ModelCapabilities:
    """What Ark renders for a model (friendly name or id): whole seconds within its range
    (2.0: 4-15 s, 1.5: 4-12 s, 1.0: 2-12 s), up to 9 reference images, and on 2.x no
    first/last frames together with references."""
    info = model_info(model)
    return ModelCapabilities(
        durations=Durations.range(info.min_duration, info.max_duration),
        resolutions=RESOLUTIONS,
        aspect_ratios=ASPECT_RATIOS,
        max_reference_images=MAX_REFERENCE_IMAGES,
        frames_with_references=not info.is_v2,
    )


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
            models=MODEL_NAMES,
            model_capabilities={model: capabilities(model) for model in sorted(MODEL_NAMES)},
            limits=limits(os.environ),
            can_find_by_request=True,
            find_window_s=LIST_WINDOW_S,
            find_consistency_s=FIND_CONSISTENCY.value(os.environ),
            cancellable_states=frozenset({"queued"}),  # a running task cannot be cancelled
            cancel_running_billed=False,
            bills_failures=False,
            output_retention_s=OUTPUT_RETENTION_S,
            description="Seedance video models over the BytePlus/Volcengine Ark task API",
            check=check,
        )
    ]


def estimate_source() -> str:
    """The price table the estimates use (``shipped <date>``, or the studio file)."""
    from recoil_seeddance.estimate import estimate_source as source

    return source()


@hookimpl
def recoil_cost_estimators() -> list[CostEstimator]:
    # recoil_seeddance.estimate.ESTIMATOR, registered without importing the estimate module
    # (the price tables): it loads when the estimator is first looked up.
    return [
        CostEstimator(
            provider=NAME,
            estimate=LazyFunction("recoil_seeddance.estimate:estimate_step_usd"),
            description="Seedance output tokens x dated list price (data/prices.json)",
            source=estimate_source,
        )
    ]


@hookimpl
def recoil_preflight_gates() -> list[PreflightGate]:
    return [
        PreflightGate(
            name="seeddance-tiers",
            check=check_tiers,
            description="refuses Ark service tiers Seedance would reject, before any reservation",
        )
    ]
