"""``recoil run``: render a plan, resumably, within a budget."""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from recoil_core.cli._app import echo_json, fail, parse_options, state, user_errors
from recoil_core.cli._episodes import EXIT_INCOMPLETE, EXIT_INTERRUPTED, backend
from recoil_core.cli.progress import ProgressView

if TYPE_CHECKING:
    from recoil_core.runner import RunReport

FAILED_STATES = ("failed", "failed_but_billed", "build_error")
"""Take states whose error ``recoil run`` prints."""


def _print_report(report: RunReport) -> None:
    counts = report.take_counts
    if report.dry_run:
        typer.echo(f"dry run: {len(report.planned)} take(s) would be dispatched; nothing written")
        for planned in report.planned:
            providers = ",".join(sorted({str(s.provider) for s in planned.steps}))
            typer.echo(
                f"  {planned.scene_id} / {planned.beat_id}  {planned.modality}  "
                f"{' '.join(planned.shot_ids)}  via {providers}  est ${planned.estimate_usd:.4f}"
            )
        for notice in report.notices:
            typer.echo(f"  note: {notice}")
        total = sum(p.estimate_usd for p in report.planned)
        typer.echo(f"estimated cost: ${total:.4f}")
        return
    summary = ", ".join(f"{n} {state_name}" for state_name, n in sorted(counts.items()))
    typer.echo(
        f"{report.project}/{report.episode}: {len(report.scenes)} scene(s); takes: "
        f"{summary or 'none'}; charged ${report.charged_usd:.4f} this run"
    )
    for take in report.takes():
        if take.state in FAILED_STATES and take.error:
            typer.echo(f"  {take.take_id} {take.state.value}: {take.error}")
    for line in report.attention:
        typer.echo(f"  needs attention: {line}")
    if report.complete:
        typer.echo("episode complete")


def run(
    plan: Annotated[str, typer.Argument(metavar="PLAN", help="The episode plan (JSON).")],
    strategy: Annotated[str, typer.Option(help="Grouping strategy.")] = "continuity",
    provider: Annotated[
        str | None,
        typer.Option(help="Video provider (default: $RECOIL_PROVIDER, else animatic)."),
    ] = None,
    image_provider: Annotated[
        str | None, typer.Option(help="Provider for image_t2i keyframes.")
    ] = None,
    budget: Annotated[
        float | None, typer.Option(metavar="USD", help="Spend cap in USD (0 allowed).", min=0)
    ] = None,
    budget_scope: Annotated[
        str,
        typer.Option(help="episode: cap includes earlier runs' spend; run: only this run."),
    ] = "episode",
    concurrency: Annotated[
        int,
        typer.Option(
            min=1,
            help="Jobs at a provider at once (as many more takes may be finishing results).",
        ),
    ] = 4,
    max_takes: Annotated[int, typer.Option(min=1, help="Attempts per beat.")] = 1,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would run; write nothing.")
    ] = False,
    pass_ids: Annotated[
        list[str] | None, typer.Option("--pass", help="Coverage pass id to select (repeat).")
    ] = None,
    option: Annotated[
        list[str] | None, typer.Option("--option", help="Strategy option KEY=VALUE (repeat).")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for another run of this episode to finish.")
    ] = False,
    executor: Annotated[
        str,
        typer.Option(
            help="local: run here; procrastinate: queue the takes for `recoil worker` nodes "
            "and return (with --wait: follow them until the episode is done).",
        ),
    ] = "local",
    resubmit_unknown: Annotated[
        bool,
        typer.Option(
            "--resubmit-unknown",
            help="Send again takes whose lost create could not be settled by a search.",
        ),
    ] = False,
    no_auto_resubmit: Annotated[
        bool,
        typer.Option(
            "--no-auto-resubmit",
            help="Never resend a lost create by itself; leave it for --resubmit-unknown.",
        ),
    ] = False,
    job_timeout: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            help="Stop waiting for a job after this long (cancelled only where the provider "
            "can still cancel it; otherwise followed by the next run or `recoil reconcile`).",
        ),
    ] = None,
    require_approved_assets: Annotated[
        bool,
        typer.Option(
            "--require-approved-assets",
            help="Refuse to run while a character or location the plan uses has no approved "
            "or studio-supplied reference (see `recoil assets`).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run report as JSON.")] = False,
) -> None:
    """Render PLAN: group, reconcile with what exists, dispatch, and write renders.

    Resumable: running the same command again picks up where it stopped, without paying
    twice for any take.
    """
    import asyncio

    from recoil_core.errors import BudgetExhaustedError
    from recoil_core.plan import load_plan
    from recoil_core.runner import EpisodeRunner, RunOptions
    from recoil_core.runner.assets import bind_assets, require_approved

    if budget_scope not in ("episode", "run"):
        fail("--budget-scope must be 'episode' or 'run'", 2)
    if budget is not None and not math.isfinite(budget):
        # NaN compares false with every spend: it would be no cap at all
        fail(f"--budget {budget}: give a finite number of USD (leave it out for no cap)", 2)
    if job_timeout is not None and not (math.isfinite(job_timeout) and job_timeout > 0):
        fail(f"--job-timeout {job_timeout}: give a number of seconds > 0", 2)
    settings = state().settings
    mode = "json" if as_json else ("rich" if sys.stdout.isatty() else "plain")
    progress = ProgressView(mode)
    with user_errors(as_json=as_json):
        loaded = load_plan(plan)
        registry = state().registry()
        options = RunOptions(
            strategy=strategy,
            provider=provider or settings.provider,
            image_provider=image_provider,
            budget_usd=budget,
            budget_scope=budget_scope,
            concurrency=concurrency,
            max_takes=max_takes,
            dry_run=dry_run,
            selected_pass_ids=tuple(pass_ids or ()),
            strategy_options=parse_options(option or []),
            resubmit_unknown=resubmit_unknown,
            auto_resubmit=not no_auto_resubmit,
            lock_timeout_s=None if wait else 0.0,
            job_timeout_s=job_timeout,
        )
        store = backend(options.lock_timeout_s)
        loaded = bind_assets(loaded, store, registry)  # clips: approved/plugin references
        if require_approved_assets:
            require_approved(loaded)
        runner = EpisodeRunner(
            loaded,
            registry=registry,
            backend=store,
            options=options,
            env=settings.env,
            progress=progress,
        )
        if executor != "local" and not dry_run:
            from recoil_core.cli.worker import hand_over

            progress.stop()
            hand_over(executor, runner, plan, follow=wait, as_json=as_json)
            return
        if not dry_run:
            from recoil_core.cli.worker import refuse_if_nodes_work

            try:
                refuse_if_nodes_work(runner.project, runner.episode, plan)
            except Exception:
                progress.stop()
                raise
        try:
            report = asyncio.run(runner.run())
        except KeyboardInterrupt:
            progress.stop()
            typer.echo(
                "interrupted: every take's state is saved; run the same command again to resume "
                "(takes already at the provider are picked up, never paid twice)",
                err=True,
            )
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except BudgetExhaustedError as exc:
            progress.stop()
            if as_json:
                echo_json(
                    {
                        "ok": False,
                        "error": "BudgetExhaustedError",
                        "message": str(exc),
                        "remaining_usd": exc.remaining,
                        "rendered_shot_ids": exc.rendered_shot_ids,
                    }
                )
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        finally:
            progress.stop()
    if as_json:
        echo_json({"ok": report.complete or report.dry_run, **report.to_dict()})
    else:
        _print_report(report)
    if not (report.complete or report.dry_run):
        raise typer.Exit(EXIT_INCOMPLETE)
