"""``recoil reject``: reject the take a beat's cut uses, saying why."""

from __future__ import annotations

from typing import Annotated

import typer

from recoil_core.cli._app import user_errors
from recoil_core.cli._episodes import backend
from recoil_core.cli._marks import BeatArg, ByOpt, JsonOpt, PlanArg, episode_of, locate, show, who


def reject(
    plan: PlanArg,
    beat: BeatArg,
    note: Annotated[str, typer.Option(help="Why it is rejected (required).")],
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Reject a beat's take with a note (`recoil retake` asks for another one)."""
    from recoil_core import selection

    with user_errors(as_json=as_json):
        project, episode = episode_of(plan)
        store = backend()
        scene_id, beat_id = locate(store, project, episode, beat)
        mark = selection.reject(store, project, episode, scene_id, beat_id, by=who(by), note=note)
    show(mark, as_json=as_json)
