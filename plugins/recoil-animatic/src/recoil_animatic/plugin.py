"""Entry point module of recoil-animatic: the hook implementations Recoil loads.

Cheap to import: the renderer (PyAV, Pillow) loads only when a run builds the provider.
"""

from __future__ import annotations

import os

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

NAME = "animatic"
MODALITIES = frozenset({"image_t2i", "video_i2v", "r2v_multi", "video_t2v"})


def check(ctx: ProviderContext) -> list[str]:
    """Settings problems, found before anything is reserved (the renderer is not loaded)."""
    from recoil_animatic.settings import cache_limit_bytes

    try:
        cache_limit_bytes(ctx.env)
    except ValueError as exc:
        return [str(exc)]
    return []


PREVIS_MODEL = "previs"
"""The animatic's own model name (keyframes default to it)."""
MAX_DURATION_S = 600.0
"""The longest clip it renders (``recoil_animatic.job.MAX_DURATION_S``, kept in step by a
test: the job module loads the renderer's settings, this one stays cheap to import)."""


def _factory(ctx: ProviderContext) -> Provider:
    from recoil_animatic.provider import create

    return create(ctx)


@hookimpl
def recoil_providers() -> list[ProviderSpec]:
    return [
        ProviderSpec(
            name=NAME,
            modalities=MODALITIES,
            factory=_factory,
            limits=ProviderLimits(concurrency=os.cpu_count() or 2, poll_interval_s=0.0),
            can_find_by_request=True,
            bills_failures=False,
            model_capabilities={
                PREVIS_MODEL: ModelCapabilities(durations=Durations.range(0, MAX_DURATION_S, 0))
            },
            mirrors_models=True,
            check=check,
            description=(
                "offline previs: title-card MP4 clips and PNG keyframes for any model, "
                "as long as the provider declaring that model would deliver them, "
                "rendered locally at no cost"
            ),
        )
    ]


@hookimpl
def recoil_cost_estimators() -> list[CostEstimator]:
    return [
        CostEstimator(
            provider=NAME, estimate=lambda _step: 0.0, description="rendered locally: free"
        )
    ]
