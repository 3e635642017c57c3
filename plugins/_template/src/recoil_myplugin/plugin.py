"""Entry point module of recoil-myplugin: the hook implementations Recoil loads.

Keep this module cheap to import (``recoil plugins list`` imports it): register lazily
(``LazyStrategy``/``LazyRunner`` name a ``module:Class``) and import heavy libraries
inside provider and backend factories. Every hook Recoil offers is shown below; the
grouping strategy is live, the others are commented out. Uncomment what you need and
delete the rest. Import the kernel only from ``recoil_core.api``. In the Recoil
repository: docs/hooks.md (every hook), docs/api.md (every type you get and return).
"""

from __future__ import annotations

from recoil_core.api import GroupingStrategy, LazyStrategy, hookimpl

# ----------------------------------------------------------------- grouping strategies
# How shots become render units. Users pick one with `recoil run plan.json --strategy NAME`.


@hookimpl
def recoil_grouping_strategies() -> list[GroupingStrategy]:
    return [
        LazyStrategy(
            "myplugin",
            "one clip per shot, in plan order",
            "recoil_myplugin.strategy:MypluginStrategy",
        )
    ]


# ----------------------------------------------------------------- modality runners
# Builders of the workflow (provider steps) that renders one unit of a modality. One runner
# per modality across all plugins. Guide: docs/writing-a-modality-runner.md.
#
# from recoil_core.api import LazyRunner, ModalityRunner
#
# @hookimpl
# def recoil_modality_runners() -> list[ModalityRunner]:
#     return [
#         LazyRunner("myplugin_clip", "what it builds", "recoil_myplugin.runner:MypluginRunner")
#     ]

# ----------------------------------------------------------------- providers
# A generation service. Import its HTTP client inside the factory; read keys from ctx.env
# and never put them in an error, a log or JobStatus.metadata. Guide: docs/writing-a-provider.md.
#
# from recoil_core.api import Provider, ProviderContext, ProviderLimits, ProviderSpec
#
# def _factory(ctx: ProviderContext) -> Provider:
#     from recoil_myplugin.provider import MypluginProvider  # heavy imports happen here
#
#     return MypluginProvider(api_key=ctx.env["MYPLUGIN_API_KEY"])
#
# def _check(ctx: ProviderContext) -> list[str]:
#     return [] if ctx.env.get("MYPLUGIN_API_KEY") else ["set MYPLUGIN_API_KEY"]
#
# @hookimpl
# def recoil_providers() -> list[ProviderSpec]:
#     return [
#         ProviderSpec(
#             name="myplugin",
#             modalities={"video_i2v", "video_t2v"},
#             factory=_factory,
#             limits=ProviderLimits(concurrency=2, poll_interval_s=5.0),
#             can_find_by_request=True,  # only if find() can really look a job up
#             check=_check,
#         )
#     ]

# ----------------------------------------------------------------- cost estimators
# The USD cost of one step on one provider; reserved before the paid call, so err high.
#
# from recoil_core.api import CostEstimator
#
# @hookimpl
# def recoil_cost_estimators() -> list[CostEstimator]:
#     return [
#         CostEstimator(
#             provider="myplugin",
#             estimate=lambda step: 0.05 * float(step.payload.get("duration_s", 5)),
#         )
#     ]

# ----------------------------------------------------------------- persistence backends
# Where scenes, takes and the ledger live (RECOIL_BACKEND=NAME). A backend should pass
# recoil_core.testing.conformance, the suite the built-in filesystem backend passes.
#
# from recoil_core.api import BackendContext, BackendSpec
#
# def _backend(ctx: BackendContext):
#     from recoil_myplugin.backend import MypluginBackend
#
#     return MypluginBackend(ctx.projects_root)
#
# @hookimpl
# def recoil_persistence_backends() -> list[BackendSpec]:
#     return [BackendSpec(name="myplugin", factory=_backend)]

# ----------------------------------------------------------------- preflight gates
# Checks before anything is reserved or paid for; any problem stops the run.
#
# from recoil_core.api import PreflightContext, PreflightGate
#
# def _no_long_shots(ctx: PreflightContext) -> list[str]:
#     return [f"{s.shot_id} is over 15 s" for s in ctx.plan.shots if s.duration_s > 15]
#
# @hookimpl
# def recoil_preflight_gates() -> list[PreflightGate]:
#     return [PreflightGate(name="myplugin-length", check=_no_long_shots)]

# ----------------------------------------------------------------- asset references
# A studio's asset library: reference images for a character or location the plan gives
# none (absolute files or http(s) URLs); None leaves it to the asset bible's sheets.
#
# from recoil_core.api import Asset, CanonicalPlan
#
# @hookimpl
# def recoil_asset_references(asset: Asset, plan: CanonicalPlan) -> list[str] | None:
#     return LIBRARY.get(asset.asset_id)

# ----------------------------------------------------------------- observers
# Called after a take's new state or a scene event was persisted. Return values are ignored;
# an exception is logged and never stops the run.
#
# from recoil_core.api import SceneEvent, TakeEvent
#
# @hookimpl
# def recoil_on_take_event(event: TakeEvent) -> None:
#     print(f"{event.beat_id}: {event.previous_state} -> {event.take.state}")
#
# @hookimpl
# def recoil_on_scene_event(event: SceneEvent) -> None:
#     print(f"{event.scene_id}: {event.kind} v{event.version}")
