"""Building and pricing a beat's workflow: the modality runner, then the cost estimators.

Pure: used by dispatch for real takes, by dry runs, and by ``recoil group`` previews.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from recoil_core.contracts.provider import CostEstimator, ModelCapabilities
from recoil_core.contracts.runner import BuildContext
from recoil_core.errors import PayloadBuildError, PluginError
from recoil_core.model import Beat, CanonicalPlan, Group, Workflow, as_price
from recoil_core.plugin_code import guarded, origin_of
from recoil_core.registry import ESTIMATORS, Registry
from recoil_core.runner.capabilities import capabilities_for


def build_workflow(
    registry: Registry,
    beat: Beat,
    *,
    plan: CanonicalPlan,
    scene_id: str,
    take_index: int,
    video_provider: str,
    image_provider: str | None,
    settings: Mapping[str, Any] | None = None,
    scene_version: int = 1,
) -> Workflow:
    """The workflow the beat's modality runner builds; any runner failure is a build error."""
    runner = registry.runner(beat.modality)
    ctx = BuildContext(
        project=plan.project,
        episode=plan.episode_id,
        scene_id=scene_id,
        plan=plan,
        take_index=take_index,
        video_provider=video_provider,
        image_provider=image_provider,
        settings={
            "model_capabilities": DeclaredCapabilities(registry, video_provider),
            **(settings or {}),
        },
        scene_version=scene_version,
    )
    try:
        workflow = runner.build_workflow(beat, ctx)
    except PayloadBuildError:
        raise
    except Exception as exc:  # a runner bug is this take's build error, not a crash
        raise PayloadBuildError(beat.beat_id, f"{type(exc).__name__}: {exc}") from exc
    return as_delivered(registry, beat, workflow, plan=plan, video_provider=video_provider)


class DeclaredCapabilities(Mapping[str, ModelCapabilities]):
    """``ctx.settings["model_capabilities"]``: what the run's video provider declares for a
    model (or, for previs, the provider it stands in for), looked up when a runner asks."""

    def __init__(self, registry: Registry, provider: str) -> None:
        self._registry = registry
        self._provider = provider

    def __getitem__(self, model: str) -> ModelCapabilities:
        found = capabilities_for(self._registry, self._provider, model)
        if found is None:
            raise KeyError(model)
        return found[1]

    def __iter__(self) -> Iterator[str]:
        return iter(self._registry.provider(self._provider).listed_models)

    def __len__(self) -> int:
        return len(self._registry.provider(self._provider).listed_models)


def as_delivered(
    registry: Registry,
    beat: Beat,
    workflow: Workflow,
    *,
    plan: CanonicalPlan,
    video_provider: str,
) -> Workflow:
    """A previs provider (``mirrors_models``) renders the clip the paid provider would
    deliver: its video step asks for the length the model's declared durations give the
    beat (rounded up), not the length of the shots. Other providers' steps are unchanged."""
    spec = registry.provider(video_provider)
    if not spec.mirrors_models:
        return workflow
    from recoil_core.runner.capabilities import previs_length

    length = previs_length(registry, plan, beat, provider=video_provider)
    if length is None:
        return workflow
    for step in workflow.steps:
        if step.provider == video_provider and step.modality == beat.modality:
            step.payload["duration_s"] = length
    return workflow


def estimate_workflow(registry: Registry, workflow: Workflow) -> float:
    """Price every step with its provider's estimator (0 without one); returns the total."""
    return _Pricer(registry).price(workflow)


class _Pricer:
    """Prices workflows step by step; looks each provider's estimator, plugin origin and
    price-table label up once (a ``recoil group`` preview prices thousands of units)."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._estimators: dict[str, tuple[CostEstimator | None, str | None, str | None]] = {}

    def _estimator(self, provider: str) -> tuple[CostEstimator | None, str | None, str | None]:
        """The provider's estimator, its plugin origin and its price-table label."""
        found = self._estimators.get(provider)
        if found is None:
            estimator = self._registry.estimator(provider)
            origin = source = None
            if estimator is not None:
                origin = origin_of(self._registry, ESTIMATORS, provider)
                source = estimator.source() if estimator.source else None
            found = self._estimators[provider] = (estimator, origin, source)
        return found

    def price(self, workflow: Workflow) -> float:
        total = 0.0
        for step in workflow.steps:
            estimator, origin, source = self._estimator(step.provider or "")
            raw: object = 0.0
            if estimator is not None:
                try:
                    raw = estimator.estimate(step)
                except Exception:  # entered only on failure: thousands of steps are priced
                    with guarded(f"cost estimator for provider {step.provider!r}", origin):
                        raise
            estimate = as_price(raw)
            if estimate is None:  # NaN compares false with the cap: every take would pass it
                raise PluginError(
                    f"the cost estimator for provider {step.provider!r} priced step "
                    f"{step.step_id} of {workflow.workflow_id} at {raw!r} USD; an estimate "
                    "must be a finite number >= 0"
                )
            step.estimate_usd = estimate
            step.estimate_source = source
            total += estimate
        return total


def image_provider_for(
    registry: Registry, video_provider: str, explicit: str | None = None
) -> str | None:
    """The keyframe provider: the explicit one, else the video provider if it serves images."""
    if explicit:
        return explicit
    return video_provider if registry.provider(video_provider).serves("image_t2i") else None


def estimate_groups(
    registry: Registry,
    plan: CanonicalPlan,
    groups: Sequence[Group],
    *,
    video_provider: str,
    image_provider: str | None = None,
) -> dict[str, float | None]:
    """First-take cost estimate per render unit (``None`` where the unit cannot be built).

    Each unit's beat is built as a fresh scene's would be, without the derivation digests
    a run records (nothing is persisted here); every provider's estimator is looked up once.
    """
    from recoil_core.runner.planning import beat_from_unit

    image = image_provider_for(registry, video_provider, image_provider)
    pricer = _Pricer(registry)
    out: dict[str, float | None] = {}
    for group in groups:
        for unit in group.units:
            beat = beat_from_unit(unit, None, max_takes=1)
            try:
                workflow = build_workflow(
                    registry,
                    beat,
                    plan=plan,
                    scene_id=group.scene_id,
                    take_index=0,
                    video_provider=video_provider,
                    image_provider=image,
                )
            except PayloadBuildError:
                out[beat.beat_id] = None
                continue
            out[beat.beat_id] = pricer.price(workflow)
    return out
