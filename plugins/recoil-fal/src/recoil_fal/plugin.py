"""Entry point module of recoil-fal: the hook implementations Recoil loads.

Kept cheap to import: the HTTP client is imported by the provider factory only.
"""

from __future__ import annotations

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
from recoil_fal.models import MODELS, FalModel

if TYPE_CHECKING:
    from recoil_core.api import WorkflowStep

NAME = "fal"
MODALITIES = frozenset({"video_i2v", "video_t2v"})
KEY_ENV = "FAL_KEY"
CONCURRENCY_ENV = "RECOIL_FAL_CONCURRENCY"
FIND_CONSISTENCY_ENV = "RECOIL_FAL_FIND_CONSISTENCY_S"
DEFAULT_FIND_CONSISTENCY_S = 1800.0
"""fal's request listing shows finished requests: a lost create may stay invisible for as
long as it queues and runs. Two searches this far apart must both miss it before the
step is sent again."""
LIST_WINDOW_S = 24 * 3600.0
"""How far back ``find`` searches fal's request listing (its default window, 24 h)."""
RESULT_RETENTION_S = 3600.0
"""fal keeps a queue result for about an hour: an output not fetched by then is gone."""
DEFAULT_MODEL = "kling-2.1"


def _number(env: Mapping[str, str], name: str, default: float, low: float) -> float:
    try:
        value = float(env.get(name) or default)
    except ValueError:
        return default
    return max(low, value) if value == value else default


def limits(env: Mapping[str, str]) -> ProviderLimits:
    """fal runs 2 to 40 requests at once per account (more are queued, not refused);
    ``RECOIL_FAL_CONCURRENCY`` sets yours. Outputs come from fal's CDN, outside the slot."""
    return ProviderLimits(
        concurrency=int(_number(env, CONCURRENCY_ENV, 4, 1)),
        poll_interval_s=5.0,
        job_timeout_s=3600.0,
        download_in_slot=False,
    )


def check(ctx: ProviderContext) -> list[str]:
    """Problems that stop a run before anything is reserved."""
    problems = []
    if not ctx.env.get(KEY_ENV):
        problems.append(f"{KEY_ENV} is not set: export your fal API key to render with fal")
    from recoil_core.api import PriceFileError
    from recoil_fal.pricing import price_table

    try:
        price_table(ctx.env)
    except PriceFileError as exc:
        problems.append(str(exc))
    return problems


def capabilities(model: FalModel) -> ModelCapabilities:
    """The durations, resolutions and ratios a fal model declares (text-to-video ratios;
    image-to-video follows the image). This provider sends no reference images."""
    return ModelCapabilities(
        durations=Durations.of(*model.durations),
        resolutions=model.resolutions,
        aspect_ratios=model.aspect_ratios,
        max_reference_images=0,
        frames_with_references=False,
    )


def _factory(ctx: ProviderContext) -> Provider:
    from recoil_fal.provider import create_provider

    return create_provider(ctx)


def estimate_step_usd(step: WorkflowStep) -> float:
    """The list price of the clip the step asks for (the model's duration covering it)."""
    from recoil_fal.models import model_for
    from recoil_fal.pricing import price_table

    model = model_for(step.model or str(step.payload.get("model") or DEFAULT_MODEL))
    try:
        seconds = model.duration_for(step.payload.get("duration_s"))
    except ValueError:
        seconds = model.durations[-1]  # the submit refuses it; estimate what could be billed
    endpoint = model.endpoint(with_image=step.modality == "video_i2v")
    from recoil_fal.models import PRICE_KEY

    return price_table().cost_usd(PRICE_KEY[endpoint], seconds)


def estimate_source() -> str:
    from recoil_fal.pricing import price_table

    return price_table().label


@hookimpl
def recoil_providers() -> list[ProviderSpec]:
    return [
        ProviderSpec(
            name=NAME,
            modalities=MODALITIES,
            factory=_factory,
            models=frozenset(MODELS),
            model_capabilities={name: capabilities(model) for name, model in MODELS.items()},
            limits=limits(os.environ),
            can_find_by_request=True,
            find_window_s=LIST_WINDOW_S,
            find_consistency_s=_number(
                os.environ, FIND_CONSISTENCY_ENV, DEFAULT_FIND_CONSISTENCY_S, 0.0
            ),
            cancellable_states=frozenset({"queued"}),  # running: only a signal, still billed
            cancel_running_billed=True,
            bills_failures=False,
            output_retention_s=RESULT_RETENTION_S,
            description="video models (Kling, Seedance, MiniMax Hailuo) on fal's queue API",
            check=check,
        )
    ]


@hookimpl
def recoil_cost_estimators() -> list[CostEstimator]:
    return [
        CostEstimator(
            provider=NAME,
            estimate=estimate_step_usd,
            description="seconds of video x dated fal list price (data/prices.json)",
            source=estimate_source,
        )
    ]
