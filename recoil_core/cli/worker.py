"""``recoil worker``: a render node that works takes queued by ``recoil run --executor``;
and the hand-over ``recoil run --executor NAME`` makes to an executor plugin.

Executors are modules registered in the ``recoil.executors`` entry-point group (the
``procrastinate`` one ships in recoil-procrastinate); each provides ``enqueue(env,
projects_root, run, jobs) -> int``, ``pending_jobs(env, projects_root) -> int`` and
``work(env, projects_root, take_runner, *, concurrency, once, queues, lease_s)`` and
``status(env, projects_root) -> dict`` (``workers``, ``leases``, ``jobs``). They are
imported only when one of these commands runs.
"""

from __future__ import annotations

import importlib
import time
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Annotated, Any

import typer

from recoil_core.cli._app import echo_json, fail, state, user_errors
from recoil_core.cli._episodes import EXIT_INCOMPLETE

if TYPE_CHECKING:
    from recoil_core.runner import EpisodeRunner

EXECUTOR_GROUP = "recoil.executors"
FOLLOW_EVERY_S = 1.0
"""How often ``recoil run --executor NAME --wait`` looks at the episode's progress."""


def load_executor(name: str) -> Any:
    """The executor module registered as ``name``; exits with a clear error if none is."""
    found = [ep for ep in entry_points(group=EXECUTOR_GROUP) if ep.name == name]
    if not found:
        known = sorted(ep.name for ep in entry_points(group=EXECUTOR_GROUP))
        fail(
            f"no executor {name!r} is installed (installed: {', '.join(known) or 'none'}); "
            f"for render nodes on PostgreSQL, pip install recoil-procrastinate",
            2,
        )
    return importlib.import_module(found[0].value)


def refuse_if_nodes_work(project: str, episode: str, plan_path: str) -> None:
    """Raise :class:`EpisodeLockedError` when render nodes have takes of the episode
    queued, running or held (an installed executor's ``episode_status``): a local run
    would race them for the same takes. Nothing is reserved or written before it."""
    settings = state().settings
    if settings.backend != "postgres":
        return  # render nodes work only on PostgreSQL
    from recoil_core.errors import EpisodeLockedError

    root = str(settings.projects_root)
    for ep in sorted(entry_points(group=EXECUTOR_GROUP), key=lambda ep: ep.name):
        status_of = getattr(importlib.import_module(ep.value), "episode_status", None)
        found = None if status_of is None else status_of(settings.env, root, project, episode)
        if not found:
            continue
        jobs = found.get("jobs") or {}
        waiting = int(jobs.get("todo", 0)) + int(jobs.get("doing", 0))
        held = int((found.get("leases") or {}).get("held", 0))
        if waiting or held:
            raise EpisodeLockedError(
                f"{project}/{episode} is being rendered by render nodes ({ep.name}: {waiting} "
                f"take job(s) queued or running, {held} take(s) held); a local run would race "
                f"them for the same takes, so nothing was started. Follow them with `recoil run "
                f"{plan_path} --executor {ep.name} --wait` (or `recoil worker --status`), and "
                "run locally once their jobs are done"
            )


def hand_over(
    name: str, runner: EpisodeRunner, plan_path: str, *, follow: bool, as_json: bool
) -> None:
    """``recoil run --executor NAME``: prepare the episode, queue its takes, and return
    (``follow``: wait until no take job is left, printing progress)."""
    import asyncio

    from recoil_core.runner.nodes import NodeRun, episode_progress, prepare

    executor = load_executor(name)
    settings = state().settings
    root = str(settings.projects_root)
    with user_errors(as_json=as_json):
        node_run = NodeRun.read(plan_path, runner.options, runner.plan.assets)
        report, jobs = asyncio.run(prepare(runner))
        queued = executor.enqueue(
            settings.env, root, node_run.to_dict(), [job.to_dict() for job in jobs]
        )
        progress = episode_progress(runner.backend, runner.project, runner.episode)
        if not follow:
            summary = {
                "ok": True,
                "project": runner.project,
                "episode": runner.episode,
                "executor": name,
                "takes_to_work": len(jobs),
                "queued": queued,
                "notices": report.notices,
                "progress": progress.line(),
            }
            if as_json:
                echo_json(summary)
            else:
                for notice in report.notices:
                    typer.echo(notice)
                typer.echo(
                    f"{runner.project}/{runner.episode}: {len(jobs)} take(s) to work, {queued} "
                    f"queued for `recoil worker` ({name}); {progress.line()}"
                )
            return
        last = ""
        while executor.pending_jobs(settings.env, root) > 0:
            line = episode_progress(runner.backend, runner.project, runner.episode).line()
            if line != last and not as_json:
                typer.echo(line)
                last = line
            time.sleep(FOLLOW_EVERY_S)
        progress = episode_progress(runner.backend, runner.project, runner.episode)
    complete = progress.beats_rendered == progress.beats
    if as_json:
        echo_json({"ok": complete, "progress": progress.line(), "takes": dict(progress.takes)})
    else:
        typer.echo(progress.line() + ("; episode complete" if complete else ""))
    if not complete:
        raise typer.Exit(EXIT_INCOMPLETE)


def _print_status(found: dict[str, Any], as_json: bool) -> None:
    if as_json:
        echo_json(found)
        return
    workers = found["workers"]
    typer.echo(f"workers: {len(workers)}")
    for row in workers:
        typer.echo(
            f"  {row['worker']}  heartbeat {row['heartbeat_age_s']}s ago  "
            f"takes held {row['takes_held']}"
        )
    leases = ", ".join(f"{n} {kind}" for kind, n in sorted(found["leases"].items()))
    jobs = ", ".join(f"{n} {status}" for status, n in sorted(found["jobs"].items()))
    typer.echo(f"leases: {leases or 'none'}")
    typer.echo(f"take jobs: {jobs or 'none'}")


def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="Takes this node works at once.")] = 4,
    once: Annotated[
        bool,
        typer.Option("--once", help="Work until no take job is left anywhere, then exit."),
    ] = False,
    queues: Annotated[
        list[str] | None,
        typer.Option("--queue", help="Queue to take jobs from (repeat; default: recoil)."),
    ] = None,
    lease: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            min=0.1,
            help="How long a claimed take stays this node's without a renewal "
            "(default: $RECOIL_WORKER_LEASE_S, else 30).",
        ),
    ] = None,
    executor: Annotated[
        str, typer.Option(help="The executor whose queue this node works.")
    ] = "procrastinate",
    show_status: Annotated[
        bool,
        typer.Option(
            "--status",
            help="Print the workers (heartbeat, takes held), leases and take jobs; work nothing.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="With --status: as JSON.")] = False,
) -> None:
    """Work takes queued by `recoil run PLAN --executor procrastinate` (a render node).

    Run one on each machine (or several on one): they share the episode through the
    PostgreSQL backend; a node killed at any moment leaves its takes to the others,
    never paid twice.
    """
    from recoil_core.runner.nodes import take_runner

    module = load_executor(executor)
    settings = state().settings
    if show_status:
        with user_errors(as_json=as_json):
            _print_status(module.status(settings.env, str(settings.projects_root)), as_json)
        return
    with user_errors():
        registry = state().registry()
        try:
            module.work(
                settings.env,
                str(settings.projects_root),
                take_runner(registry, settings.env),
                concurrency=concurrency,
                once=once,
                queues=tuple(queues or ()),
                lease_s=lease,
            )
        except ValueError as exc:
            fail(str(exc), 2)
        except KeyboardInterrupt:
            typer.echo("worker stopped; its takes go to the other workers", err=True)
