"""What the commands that read or settle stored episodes share: the backend, which
project and episodes a command means, its options and exit codes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from recoil_core.cli._app import fail, state

if TYPE_CHECKING:
    from recoil_core.persistence.protocol import PersistenceBackend

EXIT_INCOMPLETE = 1
EXIT_INTERRUPTED = 130

ProjectOpt = Annotated[str | None, typer.Option(help="Project id (default: the only one).")]
EpisodeOpt = Annotated[str | None, typer.Option(help="Episode id (default: all / the only one).")]


def backend(lock_timeout_s: float | None = 0.0) -> PersistenceBackend:
    """The configured persistence backend."""
    from recoil_core.contracts.backend import BackendContext

    settings = state().settings
    spec = state().registry().backend(settings.backend)
    return spec.factory(
        BackendContext(
            projects_root=settings.projects_root, env=settings.env, lock_timeout_s=lock_timeout_s
        )
    )


def resolve(
    store: PersistenceBackend, project: str | None, episode: str | None
) -> tuple[str, str | None]:
    """The project asked for (else the only one there is) and the episode, if one."""
    from recoil_core.ids import validate_id

    if project is None:
        projects = store.list_projects()
        if not projects:
            root = state().settings.projects_root
            fail(
                f"nothing recorded under {root} yet: run `recoil run PLAN` first "
                "(or point RECOIL_PROJECTS_ROOT at your projects)",
                2,
            )
        if len(projects) != 1:
            fail(f"say which project with --project (found: {', '.join(projects)})", 2)
        project = projects[0]
    validate_id(project, what="project")
    if episode is not None:
        validate_id(episode, what="episode")
    return project, episode


def episodes(store: PersistenceBackend, project: str, episode: str | None) -> list[str]:
    """``[episode]``, or every episode of ``project``."""
    return [episode] if episode is not None else store.list_episodes(project)
