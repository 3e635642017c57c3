"""``recoil reconcile``: follow the jobs earlier runs left at a provider to their end."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from recoil_core.cli._app import echo_json, state, user_errors
from recoil_core.cli._episodes import (
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EpisodeOpt,
    ProjectOpt,
    backend,
    episodes,
    resolve,
)

if TYPE_CHECKING:
    from recoil_core.runner import RunReport


def reconcile(
    project: ProjectOpt = None,
    episode: EpisodeOpt = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for a running recoil.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Follow the jobs the episodes' takes own to their end: poll, download, charge.

    Never creates a job and never starts a take: it settles what earlier runs left at the
    provider (a job that outlived --job-timeout, a run that was killed or interrupted).
    Lost creates are searched for; one not found stays for the next `recoil run`.
    """
    import asyncio

    from recoil_core.model import CanonicalPlan
    from recoil_core.runner import EpisodeRunner, RunOptions

    settings = state().settings
    reports: list[RunReport] = []
    with user_errors(as_json=as_json):
        store = backend(None if wait else 0.0)
        project_id, episode_id = resolve(store, project, episode)
        registry = state().registry()
        for ep in episodes(store, project_id, episode_id):
            runner = EpisodeRunner(
                CanonicalPlan(project=project_id, episode_id=ep, shots=()),
                registry=registry,
                backend=store,
                options=RunOptions(
                    provider=settings.provider, lock_timeout_s=None if wait else 0.0
                ),
                env=settings.env,
            )
            try:
                reports.append(asyncio.run(runner.follow()))
            except KeyboardInterrupt:
                typer.echo("interrupted: run `recoil reconcile` again to go on", err=True)
                raise typer.Exit(EXIT_INTERRUPTED) from None
    if as_json:
        echo_json(
            {
                "ok": all(not r.attention for r in reports),
                "episodes": [r.to_dict() for r in reports],
            }
        )
    else:
        for report in reports:
            states = ", ".join(f"{n} {name}" for name, n in sorted(report.take_counts.items()))
            typer.echo(
                f"{report.project}/{report.episode}: takes: {states or 'none'}; "
                f"charged ${report.charged_usd:.4f} by following the jobs they own"
            )
            for line in report.attention:
                typer.echo(f"  needs attention: {line}")
    if any(r.attention for r in reports):
        raise typer.Exit(EXIT_INCOMPLETE)
