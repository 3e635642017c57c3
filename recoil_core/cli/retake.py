"""``recoil retake``: ask for one more take of a beat on the next run."""

from __future__ import annotations

from typing import Annotated

import typer

from recoil_core.cli._app import user_errors
from recoil_core.cli._episodes import backend
from recoil_core.cli._marks import BeatArg, ByOpt, JsonOpt, PlanArg, episode_of, locate, show, who


def retake(
    plan: PlanArg,
    beat: BeatArg,
    note: Annotated[str, typer.Option(help="What the new take should change.")] = "",
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask for one more take of a beat on the next `recoil run` (within its --max-takes
    and budget); nothing is sent now."""
    from recoil_core.selection import request_retake

    with user_errors(as_json=as_json):
        project, episode = episode_of(plan)
        store = backend()
        scene_id, beat_id = locate(store, project, episode, beat)
        mark = request_retake(store, project, episode, scene_id, beat_id, by=who(by), note=note)
    show(mark, as_json=as_json)
