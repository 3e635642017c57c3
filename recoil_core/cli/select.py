"""``recoil select``: choose the take of a beat the cut uses."""

from __future__ import annotations

from typing import Annotated

import typer

from recoil_core.cli._app import user_errors
from recoil_core.cli._episodes import backend
from recoil_core.cli._marks import BeatArg, ByOpt, JsonOpt, PlanArg, episode_of, locate, show, who


def select(
    plan: PlanArg,
    beat: BeatArg,
    take: Annotated[str, typer.Argument(metavar="TAKE", help="The take id (a succeeded one).")],
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Choose a beat's take for the cut (a succeeded take; nothing is rendered or paid)."""
    from recoil_core.selection import select_take

    with user_errors(as_json=as_json):
        project, episode = episode_of(plan)
        store = backend()
        scene_id, beat_id = locate(store, project, episode, beat)
        mark = select_take(store, project, episode, scene_id, beat_id, take, by=who(by))
    show(mark, as_json=as_json)
