"""``recoil plan validate``: check a plan file and list every problem in it."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from recoil_core.cli._app import echo_json

plan_app = typer.Typer(
    name="plan",
    help="Inspect and validate episode plans.",
    no_args_is_help=True,
)


def _safe(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


@plan_app.command("validate")
def validate(
    plan: Annotated[str, typer.Argument(metavar="PLAN", help="Path to the plan file (JSON).")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON for scripts.")
    ] = False,
) -> None:
    """Check PLAN against the plan rules; exit 1 and list every problem if it breaks any."""
    from recoil_core.errors import PlanError
    from recoil_core.plan import load_plan, plan_summary

    try:
        loaded = load_plan(plan)
    except PlanError as exc:
        issues = [{"location": i.location, "message": i.message} for i in exc.issues]
        if as_json:
            echo_json({"ok": False, "source": exc.source, "issues": issues, "summary": None})
        else:
            typer.echo(_safe(f"{exc.source}: {len(issues)} problem(s)"), err=True)
            for issue in exc.issues:
                typer.echo(_safe(f"  {issue}"), err=True)
        raise typer.Exit(1) from None
    summary = plan_summary(loaded)
    if as_json:
        echo_json({"ok": True, "source": plan, "issues": [], "summary": summary})
        return
    typer.echo(_safe(f"{plan}: valid"))
    typer.echo(_describe(summary))


def _describe(summary: dict[str, Any]) -> str:
    return (
        f"  {summary['project']}/{summary['episode']}: {summary['sequences']} sequence(s), "
        f"{summary['shots']} shot(s), {summary['coverage_passes']} coverage pass(es), "
        f"{summary['total_duration_s']:g} s in total"
    )
