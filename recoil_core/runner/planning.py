"""Planning: plan + grouping strategy -> groups -> scenes with beats. Pure: writes nothing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from recoil_core.contracts.grouping import GroupingContext, GroupingStrategy
from recoil_core.errors import PlanError, PlanIssue, PluginCodeError
from recoil_core.hashing import stable_digest
from recoil_core.model import Beat, CanonicalPlan, CanonicalShot, Group, RenderUnit, Scene
from recoil_core.options import resolve_options, strategy_option_specs
from recoil_core.plugin_code import guarded, origin_of

if TYPE_CHECKING:
    from recoil_core.registry import Registry


def check_pass_ids(plan: CanonicalPlan, pass_ids: Sequence[str]) -> None:
    """Raise :class:`~recoil_core.errors.PlanError` naming every id the plan has no pass for."""
    known = [p.pass_id for p in plan.coverage_passes]
    missing = [pass_id for pass_id in dict.fromkeys(pass_ids) if pass_id not in known]
    if missing:
        listing = ", ".join(known) or "none"
        raise PlanError(
            plan.source_path or "plan",
            [
                PlanIssue("--pass", f"no coverage pass {pass_id!r}; the plan's passes: {listing}")
                for pass_id in missing
            ],
        )


def derive_groups(
    plan: CanonicalPlan,
    strategy: GroupingStrategy,
    *,
    selected_pass_ids: Sequence[str] = (),
    options: Mapping[str, Any] | None = None,
    registry: Registry | None = None,
) -> list[Group]:
    """Ask the strategy for the plan's groups (selected coverage passes by id).

    ``options`` (``--option`` strings or typed values) are checked against the options the
    strategy declares before it is called (:func:`recoil_core.options.resolve_options`):
    it gets every declared option, typed, and an unknown or ill-typed one raises
    :class:`~recoil_core.errors.OptionError`. Anything but a RecoilError escaping the
    strategy, or a result that is not a list of groups, raises
    :class:`~recoil_core.errors.PluginCodeError`; with the ``registry`` the strategy came
    from, the message also names its plugin and distribution.
    """
    check_pass_ids(plan, selected_pass_ids)
    what = f"grouping strategy {strategy.name!r}"
    origin = _origin(registry, strategy.name)
    advice = "meanwhile choose another strategy (`recoil plugins list` shows them)"
    with guarded(what, origin, advice=advice):
        specs = strategy_option_specs(strategy)
    values = resolve_options(what, specs, options or {})
    passes = tuple(plan.pass_by_id(pid) for pid in dict.fromkeys(selected_pass_ids))
    ctx = GroupingContext(
        project=plan.project,
        episode=plan.episode_id,
        plan=plan,
        selected_passes=passes,
        options=values,
    )
    with guarded(what, origin, advice=advice):
        groups = strategy.assemble(plan.shots, ctx)
    if not isinstance(groups, list | tuple) or not all(isinstance(g, Group) for g in groups):
        raise PluginCodeError(
            what, origin, f"returned {_kinds(groups)}, not a list of Group", advice
        )
    return list(groups)


def _origin(registry: Registry | None, name: str) -> str | None:
    """``plugin 'grouping' of recoil-plugins-grouping 0.1.0``, when the registry knows."""
    from recoil_core.registry import STRATEGIES

    return origin_of(registry, STRATEGIES, name)


def _kinds(result: object) -> str:
    if isinstance(result, list | tuple):
        kinds = sorted({type(item).__name__ for item in result if not isinstance(item, Group)})
        return f"a {type(result).__name__} holding {', '.join(kinds)}"
    return f"a {type(result).__name__}"


def _shot_fingerprint(shot: CanonicalShot) -> dict[str, Any]:
    data = attrs.asdict(shot, filter=lambda a, _v: a.name not in ("raw", "order"))
    return data


def unit_assets(unit: RenderUnit, plan: CanonicalPlan) -> list[dict[str, Any]]:
    """The derivation part of the assets the unit's shots show (their look, references and
    approved sheet), by asset id; assets that change nothing in a render are left out."""
    ids: set[str] = set()
    for sid in unit.shot_ids:
        if plan.has_shot(sid):
            shot = plan.shot(sid)
            ids.update(shot.characters)
            ids.add(shot.location_id)
    found = [plan.asset(asset_id) for asset_id in sorted(ids)]
    return [asset.fingerprint() for asset in found if asset is not None and asset.shapes_render()]


def unit_digest(unit: RenderUnit, plan: CanonicalPlan) -> str:
    """Digest of everything that makes a unit render differently (identity, configs, shots,
    and the assets it shows, so approving another reference re-derives exactly the units
    that use it)."""
    shots = [_shot_fingerprint(plan.shot(sid)) for sid in unit.shot_ids if plan.has_shot(sid)]
    inputs: dict[str, Any] = {
        "unit": unit.unit_id,
        "modality": unit.modality,
        "identity": unit.identity.to_dict(),
        "segments": [attrs.asdict(s) for s in unit.segments],
        "generation_config": unit.generation_config,
        "element_config": unit.element_config,
        "shots": shots,
    }
    assets = unit_assets(unit, plan)
    if assets:  # a plan without looks or references keeps the digests it always had
        inputs["assets"] = assets
    return stable_digest(inputs)


def beat_from_unit(unit: RenderUnit, plan: CanonicalPlan | None, *, max_takes: int) -> Beat:
    return Beat(
        beat_id=unit.unit_id,
        modality=unit.modality,
        grouping=unit.identity,
        segments=list(unit.segments),
        max_takes=max_takes,
        generation_config=dict(unit.generation_config),
        element_config=dict(unit.element_config),
        metadata=_derivation_metadata(unit, plan),
    )


def _derivation_metadata(unit: RenderUnit, plan: CanonicalPlan | None) -> dict[str, Any]:
    """The unit's digest and, when it shows assets that shape a render, their fingerprints
    (what ``recoil status`` names when a candidate re-derives for an asset)."""
    if plan is None:
        return {}
    metadata: dict[str, Any] = {"digest": unit_digest(unit, plan)}
    if assets := unit_assets(unit, plan):
        metadata["assets"] = assets
    return metadata


def scene_from_group(
    group: Group,
    *,
    plan: CanonicalPlan | None = None,
    max_takes: int = 1,
) -> Scene:
    """A fresh scene for a group: one beat per render unit, no takes. Writes nothing."""
    beats = [beat_from_unit(unit, plan, max_takes=max_takes) for unit in group.units]
    digest = stable_digest(
        {
            "scene": group.scene_id,
            "identity": group.identity.to_dict(),
            "beats": [b.metadata.get("digest") or b.beat_id for b in beats],
        }
    )
    return Scene(
        scene_id=group.scene_id,
        beats=beats,
        grouping=group.identity,
        project=plan.project if plan is not None else None,
        episode=plan.episode_id if plan is not None else None,
        derivation_digest=digest,
    )


def derive_scenes(
    plan: CanonicalPlan,
    strategy: GroupingStrategy,
    *,
    selected_pass_ids: Sequence[str] = (),
    options: Mapping[str, Any] | None = None,
    max_takes: int = 1,
    registry: Registry | None = None,
) -> list[Scene]:
    """Every scene the strategy makes of the plan, fresh (no takes); see
    :func:`derive_groups` for how ``options`` are checked and what ``registry`` adds."""
    groups = derive_groups(
        plan,
        strategy,
        selected_pass_ids=selected_pass_ids,
        options=options,
        registry=registry,
    )
    return [scene_from_group(g, plan=plan, max_takes=max_takes) for g in groups]
