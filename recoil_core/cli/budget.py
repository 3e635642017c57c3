"""``recoil budget``: spend from the ledger, grouped."""

from __future__ import annotations

from typing import Annotated

import typer

from recoil_core.cli._app import echo_json, fail, user_errors
from recoil_core.cli._episodes import EpisodeOpt, ProjectOpt, backend, resolve


def budget(
    project: ProjectOpt = None,
    episode: EpisodeOpt = None,
    by: Annotated[
        str,
        typer.Option(help="Group spend by: model, scene, kind, provider, episode or price-table."),
    ] = "kind",
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Spend from the ledger, grouped."""
    from recoil_core.runner import queries

    try:
        queries.spend_field(by)
    except ValueError as exc:
        fail(str(exc), 2)
    with user_errors(as_json=as_json):
        store = backend()
        project_id, episode_id = resolve(store, project, episode)
        report = queries.spend(store, project_id, episode_id, by=by)
    if as_json:
        echo_json(report.to_dict())
        return
    typer.echo(f"spend for {project_id}{'/' + episode_id if episode_id else ''} by {by}:")
    for name, amount in sorted(report.groups.items()):
        typer.echo(f"  {name:<32} ${amount:.4f}")
    typer.echo(f"  {'total':<32} ${report.total_usd:.4f} ({report.entries} charge(s))")
