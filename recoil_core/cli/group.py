"""``recoil group``: preview the render units a grouping strategy makes of a plan.

``unit_rows`` and ``assemble_plan`` are also what ``bench/grouping.py`` times."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import attrs
import typer

from recoil_core._gc import collector_paused
from recoil_core.cli._app import echo_json, parse_options, state, user_errors

if TYPE_CHECKING:
    from recoil_core.model import CanonicalPlan, Group
    from recoil_core.registry import Registry


@attrs.frozen
class UnitRow:
    """One line of the preview: a render unit and the scene it belongs to."""

    scene_id: str
    unit_id: str
    strategy: str
    ordinal: int
    modality: str
    shot_ids: tuple[str, ...]
    duration_s: float
    estimate_usd: float | None = None
    """First-take cost on the chosen provider (``None`` if the unit cannot be built)."""

    def to_dict(self) -> dict[str, Any]:
        # by hand, in field order: attrs.asdict costs more than the rest of a row
        return {
            "scene_id": self.scene_id,
            "unit_id": self.unit_id,
            "strategy": self.strategy,
            "ordinal": self.ordinal,
            "modality": self.modality,
            "shot_ids": list(self.shot_ids),
            "duration_s": self.duration_s,
            "estimate_usd": self.estimate_usd,
        }


def unit_rows(
    groups: Sequence[Group], estimates: Mapping[str, float | None] | None = None
) -> list[UnitRow]:
    """The preview rows of ``groups``, one per render unit, in group order."""
    estimates = estimates or {}
    return [
        UnitRow(
            scene_id=group.scene_id,
            unit_id=unit.unit_id,
            strategy=unit.identity.strategy,
            ordinal=unit.identity.ordinal,
            modality=unit.modality,
            shot_ids=unit.identity.shot_ids,
            duration_s=unit.duration_s,
            estimate_usd=estimates.get(unit.unit_id),
        )
        for group in groups
        for unit in group.units
    ]


def assemble_plan(
    registry: Registry,
    plan: CanonicalPlan,
    strategy_name: str,
    *,
    pass_ids: Sequence[str] = (),
    options: Mapping[str, Any] | None = None,
) -> list[Group]:
    """Group ``plan`` with the named strategy; ``pass_ids`` select coverage passes.

    Raises :class:`~recoil_core.errors.UnknownNameError` for an unknown strategy,
    :class:`~recoil_core.errors.PlanError` for a pass id the plan does not have and
    :class:`~recoil_core.errors.OptionError` for an option the strategy does not declare
    or a value not of its type; see :func:`recoil_core.runner.planning.derive_groups`.
    """
    from recoil_core.runner.planning import derive_groups

    strategy = registry.strategy(strategy_name)
    return derive_groups(
        plan,
        strategy,
        selected_pass_ids=tuple(dict.fromkeys(pass_ids)),
        options=dict(options or {}),
        registry=registry,
    )


def _render_table(rows: Sequence[UnitRow]) -> str:
    header = ("scene", "unit", "strategy", "ordinal", "modality", "shots", "duration", "est_usd")
    lines = [header] + [
        (
            row.scene_id,
            row.unit_id,
            row.strategy,
            str(row.ordinal),
            row.modality,
            ",".join(row.shot_ids),
            f"{row.duration_s:g}s",
            "n/a" if row.estimate_usd is None else f"{row.estimate_usd:.4f}",
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def group(
    plan_path: Annotated[Path, typer.Argument(metavar="PLAN", help="The episode plan (JSON).")],
    strategy: Annotated[
        str, typer.Option("--strategy", "-s", help="Grouping strategy name (see plugins list).")
    ] = "continuity",
    passes: Annotated[
        list[str] | None,
        typer.Option("--pass", metavar="PASS_ID", help="Coverage pass to group (repeatable)."),
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-o",
            metavar="KEY=VALUE",
            help="Strategy option, e.g. max_shots=3 (repeatable).",
        ),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(
            help="Provider to estimate costs for (default: $RECOIL_PROVIDER, else animatic)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Preview the render units a grouping strategy makes of a plan (nothing is rendered).

    Refuses (exit 8) a unit the provider's model cannot render as planned: longer than
    its longest clip, or shots asking for different models; says which units are rounded
    up to a clip length the model renders."""
    options = parse_options(option or [])
    # the plan, its units and their estimates stay alive until the rows are printed
    with collector_paused():
        _group(plan_path, strategy, passes or [], options, provider, as_json=as_json)


def _group(
    plan_path: Path,
    strategy: str,
    passes: list[str],
    options: dict[str, str],
    provider: str | None,
    *,
    as_json: bool,
) -> None:
    with user_errors(as_json=as_json):
        from recoil_core.plan import load_plan
        from recoil_core.runner.capabilities import check_groups, refuse
        from recoil_core.runner.options import DEFAULT_PROVIDER
        from recoil_core.runner.workflows import estimate_groups

        plan = load_plan(plan_path)
        registry = state().registry()
        groups = assemble_plan(registry, plan, strategy, pass_ids=passes, options=options)
        chosen = provider or state().settings.provider or DEFAULT_PROVIDER
        checks = check_groups(registry, plan, groups, provider=chosen)
        refuse(checks, provider=chosen)
        estimates = estimate_groups(registry, plan, groups, video_provider=chosen)
    notices = [notice for check in checks if (notice := check.notice()) is not None]
    rows = unit_rows(groups, estimates)
    known = [row.estimate_usd for row in rows if row.estimate_usd is not None]
    total_usd = round(sum(known), 6)
    if as_json:
        echo_json(
            {
                "ok": True,
                "plan": str(plan_path),
                "strategy": strategy,
                "provider": chosen,
                "scenes": len(groups),
                "estimated_usd": total_usd,
                "units": [row.to_dict() for row in rows],
                "notices": notices,
            }
        )
        return
    typer.echo(_render_table(rows))
    for notice in notices:
        typer.echo(f"note: {notice}")
    total = sum(row.duration_s for row in rows)
    typer.echo(
        f"{len(groups)} scene(s), {len(rows)} unit(s), {total:g}s with {strategy!r}; "
        f"estimated ${total_usd:.4f} on {chosen}"
    )
