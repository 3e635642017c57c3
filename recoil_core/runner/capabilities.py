"""Can the chosen provider render each unit? The one check ``recoil group``, ``recoil run
--dry-run`` and preflight share, from the capabilities providers declare
(:class:`~recoil_core.contracts.provider.ModelCapabilities`).

A unit is refused, before anything is reserved, when its shots ask for different models,
when it is longer than its model's longest clip, or when its resolution or aspect ratio
is one the model does not take. A unit shorter than a length the model renders is
rounded up to the next one (a clip can be trimmed in the edit, never stretched). The
unit's model is its coverage pass's ``generation_config.model`` when it sets one (that
is what the runner sends for every shot of the pass), else the ``video_model`` its shots
agree on. Pure: writes nothing.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from recoil_core.errors import PreflightError

if TYPE_CHECKING:
    from recoil_core.contracts.provider import ModelCapabilities, ProviderSpec
    from recoil_core.model import Beat, CanonicalPlan, Group, Scene
    from recoil_core.registry import Registry

EPSILON_S = 1e-6


class UnitsRefused(PreflightError):
    """Units the chosen provider cannot render as planned (longer than the model's
    longest clip, or shots asking for different models); nothing was reserved."""


@attrs.frozen
class UnitCheck:
    """What the chosen provider would deliver for one unit, or why it cannot."""

    unit_id: str
    shot_ids: tuple[str, ...]
    duration_s: float
    """The planned length of the unit (its segments)."""
    provider: str
    model: str | None
    """The model the unit renders with (``None``: its shots ask for different models)."""
    declared_by: str | None = None
    """The provider whose declaration applies: ``provider``, or the paid provider a
    previs provider stands in for; ``None`` when no capabilities are declared."""
    delivered_s: float | None = None
    """The clip length the model delivers (``None``: not declared, or refused)."""
    problems: tuple[str, ...] = ()
    """Why the unit is refused (empty: it is not)."""

    @property
    def refused(self) -> bool:
        return bool(self.problems)

    @property
    def rounded_up(self) -> bool:
        """Whether the clip delivered is longer than the shots it covers."""
        return self.delivered_s is not None and self.delivered_s > self.duration_s + EPSILON_S

    def where(self) -> str:
        return _where(self.unit_id, self.shot_ids)

    def notice(self) -> str | None:
        """The dry-run line saying a unit is rounded up, or ``None``."""
        if not self.rounded_up:
            return None
        assert self.delivered_s is not None
        as_on = (
            f" (as {self.declared_by} would deliver it)"
            if self.declared_by and self.declared_by != self.provider
            else ""
        )
        return (
            f"{self.where()}: {self.duration_s:g} s of shots rounded up to "
            f"{self.delivered_s:g} s, the shortest clip {self.model} renders that covers "
            f"them{as_on}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "unit_id": self.unit_id,
            "shot_ids": list(self.shot_ids),
            "duration_s": self.duration_s,
            "provider": self.provider,
            "model": self.model,
            "declared_by": self.declared_by,
            "delivered_s": self.delivered_s,
            "problems": list(self.problems),
        }


def capabilities_for(
    registry: Registry, provider: str, model: str
) -> tuple[str, ModelCapabilities] | None:
    """The provider declaring ``model`` for ``provider`` and what it declares.

    A provider that ``mirrors_models`` (previs) and declares nothing for the model stands
    in for the installed provider that does; when several declare it, the first by name.
    Looked up once per registry, provider and model (a preview checks thousands of units).
    """
    cache = _LOOKUPS.setdefault(registry, {})
    key = (provider, model)
    if key not in cache:
        cache[key] = _lookup(registry, provider, model)
    return cache[key]


_LOOKUPS: weakref.WeakKeyDictionary[
    Registry, dict[tuple[str, str], tuple[str, ModelCapabilities] | None]
] = weakref.WeakKeyDictionary()


def _lookup(registry: Registry, provider: str, model: str) -> tuple[str, ModelCapabilities] | None:
    spec = registry.provider(provider)
    own = spec.capabilities_for(model)
    if own is not None:
        return provider, own
    if not spec.mirrors_models:
        return None
    for name in sorted(registry.providers):
        other = _spec(registry, name)
        if other is None or other.mirrors_models:
            continue
        found = other.capabilities_for(model)
        if found is not None:
            return name, found
    return None


def _spec(registry: Registry, name: str) -> ProviderSpec | None:
    try:
        return registry.providers[name]
    except Exception:  # a contested or broken registration is not ours to report here
        return None


def unit_model(
    plan: CanonicalPlan, shot_ids: Sequence[str], generation_config: Mapping[str, Any]
) -> tuple[str | None, dict[str, list[str]]]:
    """The unit's model, and the models its shots ask for (model -> shot ids).

    ``generation_config.model`` (a coverage pass's) decides for all its shots; else the
    shots' ``video_model`` when they agree; ``None`` when they do not.
    """
    asked: dict[str, list[str]] = {}
    for shot_id in shot_ids:
        if plan.has_shot(shot_id):
            asked.setdefault(plan.shot(shot_id).video_model, []).append(shot_id)
    configured = generation_config.get("model")
    if configured:
        return str(configured), asked
    if len(asked) == 1:
        return next(iter(asked)), asked
    return None, asked


def _where(unit_id: str, shot_ids: Sequence[str]) -> str:
    return f"unit {unit_id} (shots {', '.join(shot_ids) or '-'})"


def check_unit(
    registry: Registry,
    plan: CanonicalPlan,
    *,
    unit_id: str,
    shot_ids: Sequence[str],
    duration_s: float,
    generation_config: Mapping[str, Any],
    provider: str,
) -> UnitCheck:
    """What ``provider`` would deliver for one unit, or why it cannot render it."""
    model, asked = unit_model(plan, shot_ids, generation_config)
    duration_s = round(float(duration_s), 6)
    where = _where(unit_id, shot_ids)
    problems: list[str] = []
    found = capabilities_for(registry, provider, model) if model is not None else None
    delivered: float | None = None
    if model is None and asked:
        mixed = "; ".join(f"{m} for {', '.join(ids)}" for m, ids in sorted(asked.items()))
        problems.append(
            f"{where} mixes models ({mixed}); one clip renders with one model: give its "
            "shots the same video_model, set generation_config.model on its coverage pass, "
            "or group them into separate units"
        )
    elif found is not None:
        declared_by, caps = found
        on = provider if declared_by == provider else f"{provider} (previs of {declared_by})"
        if caps.durations is not None:
            delivered = caps.durations.deliverable(duration_s)
            if delivered is None:
                problems.append(
                    f"{where} is {duration_s:g} s long but {model} on {on} renders at most "
                    f"{caps.durations.max_s:g} s; split it into shorter units (a strategy "
                    "option such as max_duration_s or max_shots, or another strategy) or "
                    "choose a model that renders longer clips"
                )
        problems += _format_problems(plan, where, shot_ids, caps, str(model), on)
    elif model is not None and (unserved := _unserved(registry, provider, model)) is not None:
        problems.append(f"{where} asks for {model}, which {provider} {unserved}")
    return UnitCheck(
        unit_id=unit_id,
        shot_ids=tuple(shot_ids),
        duration_s=duration_s,
        provider=provider,
        model=model,
        declared_by=found[0] if found is not None else None,
        delivered_s=delivered,
        problems=tuple(problems),
    )


def _unserved(registry: Registry, provider: str, model: str) -> str | None:
    """Why ``provider`` cannot render ``model`` (it lists its models and this is not one
    of them), or ``None``: a provider listing no models takes any name."""
    spec = _spec(registry, provider)
    if spec is None or spec.mirrors_models or spec.serves_model(model):
        return None
    return (
        f"does not serve (it serves {', '.join(sorted(spec.models))}); set the shots' "
        "video_model (or the plan's defaults.model) to one of them, or choose another "
        "--provider"
    )


def _format_problems(
    plan: CanonicalPlan,
    where: str,
    shot_ids: Sequence[str],
    caps: ModelCapabilities,
    model: str,
    on: str,
) -> list[str]:
    """Resolutions and aspect ratios the model does not take, by shot."""
    problems: list[str] = []
    for field, allowed in (("resolution", caps.resolutions), ("aspect_ratio", caps.aspect_ratios)):
        if not allowed:
            continue
        wrong: dict[str, list[str]] = {}
        for shot_id in shot_ids:
            if plan.has_shot(shot_id):
                value = str(getattr(plan.shot(shot_id), field))
                if value not in allowed:
                    wrong.setdefault(value, []).append(shot_id)
        for value, ids in sorted(wrong.items()):
            problems.append(
                f"{where}: {field} {value} (shots {', '.join(ids)}) is not one {model} on "
                f"{on} renders; use one of {', '.join(allowed)}"
            )
    return problems


def check_groups(
    registry: Registry, plan: CanonicalPlan, groups: Iterable[Group], *, provider: str
) -> list[UnitCheck]:
    """Every unit of ``groups`` checked against ``provider`` (``recoil group``)."""
    return [
        check_unit(
            registry,
            plan,
            unit_id=unit.unit_id,
            shot_ids=unit.shot_ids,
            duration_s=unit.duration_s,
            generation_config=unit.generation_config,
            provider=provider,
        )
        for group in groups
        for unit in group.units
    ]


def beat_duration(beat: Beat, plan: CanonicalPlan) -> float:
    """A beat's planned length: its segments, else its shots."""
    if beat.segments:
        return sum(segment.duration_s for segment in beat.segments)
    return sum(plan.shot(sid).duration_s for sid in beat.shot_ids if plan.has_shot(sid))


def check_beat(registry: Registry, plan: CanonicalPlan, beat: Beat, *, provider: str) -> UnitCheck:
    """One beat checked against ``provider`` (a take's video step)."""
    return check_unit(
        registry,
        plan,
        unit_id=beat.beat_id,
        shot_ids=beat.shot_ids,
        duration_s=beat_duration(beat, plan),
        generation_config=beat.generation_config,
        provider=provider,
    )


def previs_length(
    registry: Registry, plan: CanonicalPlan, beat: Beat, *, provider: str
) -> float | None:
    """The clip a previs ``provider`` (``mirrors_models``) renders for ``beat``: what the
    provider declaring the beat's model would deliver (rounded up); ``None`` when the
    provider declares the model itself, no provider declares it, or the beat is refused."""
    model, _asked = unit_model(plan, beat.shot_ids, beat.generation_config)
    found = capabilities_for(registry, provider, model) if model is not None else None
    if found is None or found[0] == provider or found[1].durations is None:
        return None
    return found[1].durations.deliverable(round(beat_duration(beat, plan), 6))


def check_scenes(
    registry: Registry, plan: CanonicalPlan, scenes: Iterable[Scene], *, provider: str
) -> list[UnitCheck]:
    """Every beat still to render in ``scenes`` checked against ``provider`` (preflight,
    dry run); a beat that already succeeded is not rendered again and not checked."""
    return [
        check_beat(registry, plan, beat, provider=provider)
        for scene in scenes
        for beat in scene.beats
        if not beat.succeeded
    ]


def problems_of(checks: Iterable[UnitCheck]) -> list[str]:
    """Every problem of the refused units, in unit order."""
    return [problem for check in checks for problem in check.problems]


def refuse(checks: Sequence[UnitCheck], *, provider: str) -> None:
    """Raise :class:`UnitsRefused` listing every refused unit (``recoil group``)."""
    problems = problems_of(checks)
    if problems:
        raise UnitsRefused(
            f"{len([c for c in checks if c.refused])} unit(s) cannot be rendered on "
            f"{provider} as planned; nothing was reserved or submitted:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )


def describe_provider(registry: Registry, name: str) -> dict[str, Any]:
    """What ``recoil providers show NAME`` prints: a provider's declared capabilities and
    where its prices come from. Raises UnknownNameError for a provider not installed."""
    spec = registry.provider(name)
    estimator = registry.estimator(name)
    prices: dict[str, Any] = {"estimator": None, "source": None}
    if estimator is not None:
        prices["estimator"] = estimator.description or None
        if estimator.source is not None:
            try:
                prices["source"] = estimator.source()
            except Exception as exc:  # a broken price file is shown, not a crash
                prices["source_error"] = f"{type(exc).__name__}: {exc}"
    return {
        "name": spec.name,
        "description": spec.description,
        "modalities": sorted(spec.modalities),
        "models": {
            model: (caps.to_dict() if (caps := spec.capabilities_for(model)) else None)
            for model in spec.listed_models
        },
        "any_model": not spec.models,
        "mirrors_models": spec.mirrors_models,
        "cancellable_states": sorted(spec.cancellable_states),
        "cancel_running_billed": spec.cancel_running_billed,
        "bills_failures": spec.bills_failures,
        "find": {
            "supported": spec.can_find_by_request,
            "window_s": spec.find_window_s,
            "consistency_s": spec.find_consistency_s,
        },
        "output_retention_s": spec.output_retention_s,
        "limits": {
            "concurrency": spec.limits.concurrency,
            "requests_per_minute": spec.limits.requests_per_minute,
            "poll_interval_s": spec.limits.poll_interval_s,
            "job_timeout_s": spec.limits.job_timeout_s,
        },
        "prices": prices,
    }
