"""Entry point module of recoil-animatic: the hook implementations Recoil loads.

Cheap to import: the renderer (PyAV, Pillow) loads only when a run builds the provider.
"""

from __future__ import annotations

import os

from recoil_core.api import (
    CostEstimator,
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
            check=check,
            description=(
                "offline previs: title-card MP4 clips and PNG keyframes for any model, "
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
