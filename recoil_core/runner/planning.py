"""Planning: plan + grouping strategy -> groups -> scenes with beats. Pure: writes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from recoil_core.errors import PlanError, PlanIssue
from recoil_core.hashing import stable_digest
from recoil_core.interfaces import GroupingContext, GroupingStrategy
from recoil_core.model import Beat, CanonicalPlan, CanonicalShot, Group, RenderUnit, Scene


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
    options: dict[str, Any] | None = None,
) -> list[Group]:
    """Ask the strategy for the plan's groups (selected coverage passes by id)."""
    check_pass_ids(plan, selected_pass_ids)
    passes = tuple(plan.pass_by_id(pid) for pid in dict.fromkeys(selected_pass_ids))
    ctx = GroupingContext(
        project=plan.project,
        episode=plan.episode_id,
        plan=plan,
        selected_passes=passes,
        options=dict(options or {}),
    )
    return list(strategy.assemble(plan.shots, ctx))


def _shot_fingerprint(shot: CanonicalShot) -> dict[str, Any]:
    data = attrs.asdict(shot, filter=lambda a, _v: a.name not in ("raw", "order"))
    return data


def unit_digest(unit: RenderUnit, plan: CanonicalPlan) -> str:
    """Digest of everything that makes a unit render differently (identity, configs, shots)."""
    shots = [_shot_fingerprint(plan.shot(sid)) for sid in unit.shot_ids if plan.has_shot(sid)]
    return stable_digest(
        {
            "unit": unit.unit_id,
            "modality": unit.modality,
            "identity": unit.identity.to_dict(),
            "segments": [attrs.asdict(s) for s in unit.segments],
            "generation_config": unit.generation_config,
            "element_config": unit.element_config,
            "shots": shots,
        }
    )


def beat_from_unit(unit: RenderUnit, plan: CanonicalPlan | None, *, max_takes: int) -> Beat:
    return Beat(
        beat_id=unit.unit_id,
        modality=unit.modality,
        grouping=unit.identity,
        segments=list(unit.segments),
        max_takes=max_takes,
        generation_config=dict(unit.generation_config),
        element_config=dict(unit.element_config),
        metadata={"digest": unit_digest(unit, plan)} if plan is not None else {},
    )


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
    options: dict[str, Any] | None = None,
    max_takes: int = 1,
) -> list[Scene]:
    """Every scene the strategy makes of the plan, fresh (no takes)."""
    groups = derive_groups(plan, strategy, selected_pass_ids=selected_pass_ids, options=options)
    return [scene_from_group(g, plan=plan, max_takes=max_takes) for g in groups]
