"""``recoil assets``: render, list and approve the reference sheets of a plan's
characters and locations (the asset bible, :mod:`recoil_core.runner.assets`)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from recoil_core.cli._app import echo_json, state, user_errors
from recoil_core.cli._episodes import EXIT_INCOMPLETE, EXIT_INTERRUPTED, backend

if TYPE_CHECKING:
    from recoil_core.runner.assets import AssetEntry

assets_app = typer.Typer(
    name="assets",
    help="The asset bible: reference sheets for characters and locations, approved once.",
    no_args_is_help=True,
)

PlanArg = Annotated[str, typer.Argument(metavar="PLAN", help="The episode plan (JSON).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print as JSON.")]


@assets_app.command("render")
def render(
    plan: PlanArg,
    asset: Annotated[
        list[str] | None, typer.Option("--asset", metavar="ID", help="Only this asset (repeat).")
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(help="Provider (default: $RECOIL_PROVIDER, else animatic)."),
    ] = None,
    image_provider: Annotated[
        str | None, typer.Option(help="Provider for the image_t2i sheets.")
    ] = None,
    budget: Annotated[
        float | None, typer.Option(metavar="USD", help="Spend cap in USD (0 allowed).", min=0)
    ] = None,
    max_takes: Annotated[int, typer.Option(min=1, help="Sheets to make per asset.")] = 1,
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs at a provider at once.")] = 4,
    resubmit_unknown: Annotated[
        bool,
        typer.Option(
            "--resubmit-unknown",
            help="Send again sheets whose lost create could not be settled by a search.",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the sheets and their estimated cost; write nothing."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Make a reference sheet for each asset the plan supplies no reference_images for.

    Resumable like `recoil run`: sheets already paid for are never paid again.
    """
    import asyncio

    from recoil_core.plan import load_plan
    from recoil_core.runner import RunOptions
    from recoil_core.runner.assets import sheet_runner

    settings = state().settings
    with user_errors(as_json=as_json):
        loaded = load_plan(plan)
        options = RunOptions(
            provider=provider or settings.provider,
            image_provider=image_provider,
            budget_usd=budget,
            max_takes=max_takes,
            concurrency=concurrency,
            resubmit_unknown=resubmit_unknown,
            dry_run=dry_run,
        )
        runner = sheet_runner(
            loaded,
            registry=state().registry(),
            backend=backend(options.lock_timeout_s),
            options=options,
            asset_ids=tuple(asset or ()),
            env=settings.env,
        )
        try:
            report = asyncio.run(runner.run())
        except KeyboardInterrupt:
            typer.echo(
                "interrupted: every sheet's state is saved; run the same command again to "
                "resume (never paid twice)",
                err=True,
            )
            raise typer.Exit(EXIT_INTERRUPTED) from None
    if as_json:
        echo_json({"ok": report.complete or report.dry_run, **report.to_dict()})
    elif report.dry_run:
        typer.echo(
            f"{report.project}/{report.episode}: {len(report.planned)} asset sheet(s) to make, "
            f"estimated ${report.estimated_usd:.4f}; nothing was reserved or submitted"
        )
    else:
        counts = ", ".join(f"{n} {name}" for name, n in sorted(report.take_counts.items()))
        typer.echo(
            f"{report.project}/{report.episode}: {len(report.scenes)} asset sheet(s); takes: "
            f"{counts or 'none'}; charged ${report.charged_usd:.4f} this run"
        )
        for line in [*report.notices, *report.attention]:
            typer.echo(f"  {line}")
        typer.echo("next: `recoil assets list PLAN`, then `recoil assets approve PLAN ID`")
    if not (report.complete or report.dry_run):
        raise typer.Exit(EXIT_INCOMPLETE)


@assets_app.command("list")
def list_(plan: PlanArg, as_json: JsonOpt = False) -> None:
    """Each asset: where its reference comes from, its sheet takes, which is approved, cost."""
    from recoil_core.plan import load_plan
    from recoil_core.runner.assets import list_assets

    with user_errors(as_json=as_json):
        loaded = load_plan(plan)
        entries = list_assets(loaded, backend(), state().registry())
    if as_json:
        echo_json({"assets": [entry.to_dict() for entry in entries]})
        return
    for entry in entries:
        _print_entry(entry)


def _print_entry(entry: AssetEntry) -> None:
    asset = entry.asset
    typer.echo(
        f"{asset.asset_id}  {asset.kind.value}  {asset.label}  {entry.status}  "
        f"${entry.cost_usd:.4f}"
    )
    source = f"plugin {asset.supplied_by}" if asset.supplied_by else "studio"
    for image in asset.reference_images:
        typer.echo(f"    {source}  {image}")
    approved = entry.approved.take_id if entry.approved else None
    for take in entry.takes:
        mark = "  approved" if take.take_id == approved else ""
        typer.echo(
            f"    {take.take_id}  {take.state}  ${take.cost_usd:.4f}  "
            f"{take.render_path or '-'}{mark}"
        )


@assets_app.command("approve")
def approve(
    plan: PlanArg,
    asset_id: Annotated[str, typer.Argument(metavar="ID", help="The character or location.")],
    take: Annotated[
        int | None,
        typer.Option(
            "--take", metavar="N", min=0, help="The N of asset_<ID>_take_N (default: newest)."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Make a sheet take the asset's reference for every clip. Scenes already rendered
    with another reference get candidate versions on the next run (never re-rendered
    silently); `recoil rederive --conform SCENE` makes one active."""
    import attrs

    from recoil_core.plan import load_plan
    from recoil_core.runner import assets as bible

    with user_errors(as_json=as_json):
        loaded = load_plan(plan)
        approved = bible.approve(
            loaded, backend(), asset_id, take=take, registry=state().registry()
        )
    if as_json:
        echo_json({"ok": True, "asset_id": asset_id, **attrs.asdict(approved)})
    else:
        typer.echo(f"{asset_id}: approved {approved.take_id} ({approved.path})")
        typer.echo(
            "  scenes using it are re-derived on the next `recoil run`: rendered ones get a "
            "candidate version to conform with `recoil rederive --conform SCENE`"
        )
    sys.stdout.flush()
