"""Preflight: everything that must hold before a run reserves or submits anything
(providers ready, a runner for every modality, every unit renderable by its model as
:mod:`recoil_core.runner.capabilities` checks it, every preflight gate content)."""

from __future__ import annotations

from collections.abc import Sequence

from recoil_core.contracts.gates import PreflightContext
from recoil_core.errors import PreflightError, UnknownNameError
from recoil_core.model import CanonicalPlan, Scene
from recoil_core.plugin_code import guarded, origin_of
from recoil_core.registry import GATES, Registry
from recoil_core.runner.capabilities import check_scenes, problems_of
from recoil_core.runner.providers import ProviderPool
from recoil_core.runner.workflows import image_provider_for


def preflight(
    *,
    registry: Registry,
    pool: ProviderPool,
    plan: CanonicalPlan,
    scenes: Sequence[Scene],
    provider: str,
    image_provider: str | None,
    budget_usd: float | None,
) -> None:
    """Raise :class:`PreflightError` listing every problem that stops the run
    (``image_provider``: the one asked for, if any; else the one the provider implies)."""
    problems: list[str] = []
    try:
        spec = registry.provider(provider)
    except UnknownNameError as exc:
        raise PreflightError(str(exc)) from None
    problems += [f"provider {provider}: {p}" for p in pool.problems(provider)]
    image_provider = image_provider_for(registry, provider, image_provider)
    if image_provider and image_provider != provider:
        problems += [f"provider {image_provider}: {p}" for p in pool.problems(image_provider)]
    runners = sorted(registry.runners)
    for modality in sorted({b.modality for s in scenes for b in s.beats}):
        if modality not in registry.runners:
            problems.append(
                f"no modality runner for {modality!r} is installed "
                f"(installed: {', '.join(runners) or 'none'}); install the plugin that "
                f"provides runner:{modality}"
            )
        elif not spec.serves(modality) and not spec.serves("video_t2v"):
            problems.append(f"provider {provider} does not serve {modality!r}")
    problems += problems_of(check_scenes(registry, plan, scenes, provider=provider))
    ctx = PreflightContext(
        project=plan.project,
        episode=plan.episode_id,
        plan=plan,
        scenes=tuple(scenes),
        video_provider=provider,
        budget_cap_usd=budget_usd,
    )
    for gate in registry.gates:
        with guarded(f"preflight gate {gate.name!r}", origin_of(registry, GATES, gate.name)):
            problems += [f"{gate.name}: {p}" for p in gate.check(ctx)]
    if problems:
        raise PreflightError(
            "preflight refused the run; nothing was reserved or submitted:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )


def follow_problems(pool: ProviderPool, providers: set[str]) -> None:
    """Raise :class:`PreflightError` if a provider whose jobs ``recoil reconcile`` must
    follow is not ready (a missing key...)."""
    problems = [f"provider {p}: {x}" for p in sorted(providers) for x in pool.problems(p)]
    if problems:
        raise PreflightError(
            "cannot follow the episode's jobs; nothing was polled:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
