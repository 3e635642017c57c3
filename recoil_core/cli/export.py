"""``recoil export``: the episode's cut as an OpenTimelineIO, CMX 3600 EDL or FCPXML file,
written by the recoil-otio distribution (imported only here, when it runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from recoil_core.cli._app import echo_json, fail, user_errors
from recoil_core.cli._episodes import backend
from recoil_core.cli._marks import PlanArg

FORMATS = ("otio", "edl", "fcpxml")
INSTALL_HINT = (
    "recoil export writes through the recoil-otio distribution, which is not installed: "
    "`pip install recoil-otio` (in the Recoil repository: `pip install -e plugins/recoil-otio`)"
)


def export(
    plan: PlanArg,
    fmt: Annotated[str, typer.Option("--format", help="otio, edl (CMX 3600) or fcpxml.")] = "otio",
    out: Annotated[
        Path | None,
        typer.Option(help="Write here (media paths relative to it); default: standard output."),
    ] = None,
    fps: Annotated[
        float | None,
        typer.Option(min=1, help="Timeline rate (default: the renders' own, else 24)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="With --out: print a summary as JSON.")
    ] = False,
) -> None:
    """Export the episode's cut (selected takes, else the newest succeeded, in plan order)
    for an editor; a shot without a render is a gap with a marker."""
    if fmt not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)} (got {fmt!r})", 2)
    if as_json and out is None:
        fail("--json needs --out (the export itself goes to standard output otherwise)", 2)
    try:
        import recoil_otio
    except ImportError:
        fail(INSTALL_HINT, 2)
    from recoil_core.plan import load_plan
    from recoil_core.selection import episode_cut

    with user_errors(as_json=as_json):
        cut = episode_cut(backend(), load_plan(plan))
    text = recoil_otio.write_cut(cut.to_dict(), fmt, out, rate=fps)
    gaps = [event.shot_id for event in cut.events if event.render_path is None]
    if out is None:
        typer.echo(text, nl=False)
    elif as_json:
        echo_json(
            {"ok": True, "out": str(out), "format": fmt, "events": len(cut.events), "gaps": gaps}
        )
    else:
        typer.echo(f"wrote {out}: {len(cut.events)} shot(s), {len(gaps)} gap(s)")
    for shot_id in gaps:
        typer.echo(f"gap: {shot_id} has no render", err=True)
