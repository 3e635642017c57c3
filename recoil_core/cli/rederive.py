"""``recoil rederive --conform``: make a staged candidate version of a scene active."""

from __future__ import annotations

from typing import Annotated

import typer

from recoil_core.cli._app import fail, user_errors
from recoil_core.cli._episodes import EpisodeOpt, ProjectOpt, backend, resolve


def rederive(
    conform: Annotated[
        str, typer.Option("--conform", metavar="SCENE", help="Scene whose candidate to activate.")
    ],
    version: Annotated[
        int | None, typer.Option(help="Version to make active (default: newest candidate).")
    ] = None,
    project: ProjectOpt = None,
    episode: EpisodeOpt = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for a running recoil.")] = False,
) -> None:
    """Make a staged candidate version of a scene active (the next run renders it)."""
    from recoil_core.ids import validate_id

    with user_errors():
        store = backend()
        project_id, episode_id = resolve(store, project, episode)
        validate_id(conform, what="scene")
        if episode_id is None:
            owners = [
                ep
                for ep in store.list_episodes(project_id)
                if conform in store.list_scenes(project_id, ep)
            ]
            if len(owners) != 1:
                fail(
                    f"say which episode with --episode (scene {conform} found in: "
                    f"{', '.join(owners) or 'none'})",
                    2,
                )
            episode_id = owners[0]
        with store.lock_episode(project_id, episode_id, timeout_s=None if wait else 0.0):
            before = store.load_manifest(project_id, episode_id, conform)
            if before is None:
                fail(f"no scene {conform} in {project_id}/{episode_id}", 2)
            current = store.load_scene(project_id, episode_id, conform)
            unfinished = [
                take.take_id
                for beat in (current.beats if current is not None else [])
                for take in beat.takes
                if not take.is_final
            ]
            if unfinished:
                fail(
                    f"scene {conform}: v{before.active_version} still has take(s) at the "
                    f"provider ({', '.join(unfinished)}); they are followed only while their "
                    "version is active. Run `recoil reconcile` (or `recoil run`) until they "
                    "finish, then conform. Nothing was changed.",
                    2,
                )
            active = store.conform(project_id, episode_id, conform, version)
    typer.echo(
        f"scene {conform}: v{active} is now active (was v{before.active_version}); "
        "the next `recoil run` renders it"
    )
