"""``recoil review``: serve the dailies page of a plan's episode (the recoil-review
distribution), on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import getpass
import math
from decimal import Decimal
from typing import Annotated

import typer

from recoil_core.cli._app import fail, user_errors
from recoil_core.cli._episodes import backend

INSTALL_HINT = (
    "`recoil review` needs the recoil-review distribution: `pip install recoil-review` "
    "(in a checkout of Recoil: `pip install -e plugins/recoil-review`)"
)


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name for this uid
        return "reviewer"


def review(
    plan: Annotated[str, typer.Argument(metavar="PLAN", help="The episode plan (JSON).")],
    host: Annotated[
        str,
        typer.Option(help="Address to listen on; beyond localhost, changes need a token."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8642,
    budget: Annotated[
        float | None,
        typer.Option(metavar="USD", min=0, help="The episode's cap, to show spend against."),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(
            help="Who marks are recorded as when the page names no reviewer (default: your login)."
        ),
    ] = None,
) -> None:
    """Serve the dailies page of PLAN's episode: takes side by side, select, approve,
    reject with a note, ask for retakes. Stop it with Ctrl-C."""
    try:
        import recoil_review
    except ModuleNotFoundError as exc:
        if exc.name != "recoil_review":
            raise
        fail(INSTALL_HINT, 2)
    from recoil_core import selection
    from recoil_core.plan import load_plan

    if budget is not None and not math.isfinite(budget):
        fail(f"--budget {budget}: give a finite number of USD (leave it out for no cap)", 2)
    with user_errors():
        loaded = load_plan(plan)
        episode = recoil_review.Episode(
            backend=backend(),
            selection=selection,
            project=loaded.project,
            episode=loaded.episode_id,
            cap_usd=None if budget is None else Decimal(repr(budget)),
            shot_order=tuple(shot.shot_id for shot in loaded.shots),
        )
    local = recoil_review.is_loopback(host)
    token = None if local else recoil_review.new_token()
    guard = recoil_review.Guard(local=local, token=token)
    app = recoil_review.create_app(episode, guard, reviewer=by or _login())
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"review page of {loaded.project}/{loaded.episode_id}:")
    if token is None:
        typer.echo(f"  http://{shown}:{port}/")
    else:
        typer.echo(f"  http://{shown}:{port}/#token={token}")
        if host in ("0.0.0.0", "::"):
            typer.echo(f"  (listening on every address: put this machine's name for {shown})")
        typer.echo(
            "  listening beyond localhost: changes need this token, shown only now and kept "
            "nowhere; anyone who can reach the port can see the page"
        )
    typer.echo("stop with Ctrl-C")
    recoil_review.serve(app, host, port)
