"""What ``recoil select``, ``approve``, ``reject`` and ``retake`` share: the episode a plan
names, the beat a ``SCENE/BEAT`` argument names, who is marking, and how a mark prints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from recoil_core.cli._app import echo_json

if TYPE_CHECKING:
    from recoil_core.persistence.protocol import PersistenceBackend
    from recoil_core.selection import BeatMark

PlanArg = Annotated[
    str, typer.Argument(metavar="PLAN", help="The episode plan (JSON): names project and episode.")
]
BeatArg = Annotated[
    str,
    typer.Argument(
        metavar="SCENE/BEAT", help="The beat, as SCENE/BEAT or a beat id alone (see recoil status)."
    ),
]
ByOpt = Annotated[str | None, typer.Option("--by", help="Who marks it (default: your login name).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the beat's mark as JSON.")]


def who(by: str | None) -> str:
    """``--by``, else the login name."""
    if by:
        return by
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def episode_of(plan_path: str) -> tuple[str, str]:
    """The (project, episode) the plan file names."""
    from recoil_core.plan import load_plan

    plan = load_plan(plan_path)
    return plan.project, plan.episode_id


def locate(store: PersistenceBackend, project: str, episode: str, target: str) -> tuple[str, str]:
    """``SCENE/BEAT`` as given, or the scene holding beat ``target`` when no scene is named."""
    from recoil_core.selection import SelectionError

    scene_id, sep, beat_id = target.partition("/")
    if sep:
        return scene_id, beat_id
    holding = []
    for name in store.list_scenes(project, episode):
        found = store.load_active(project, episode, name)
        if found is not None and any(b.beat_id == target for b in found[0].beats):
            holding.append(name)
    if len(holding) == 1:
        return holding[0], target
    if not holding:
        raise SelectionError(
            f"no scene of {project}/{episode} has a beat {target!r}; `recoil status` lists them"
        )
    raise SelectionError(
        f"beat {target!r} is in several scenes ({', '.join(holding)}); name it as SCENE/BEAT"
    )


def show(mark: BeatMark, *, as_json: bool) -> None:
    """Print the stored mark: one line, or its JSON."""
    from recoil_core.selection import describe_mark

    if as_json:
        echo_json({"ok": True, "mark": mark.to_dict()})
        return
    typer.echo(f"{mark.scene_id}/{mark.beat_id}: {describe_mark(mark)} (by {mark.by} at {mark.at})")
