"""``recoil status``: per scene, beat and take, what is stored and what needs attention."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from recoil_core._gc import collector_paused
from recoil_core.cli._app import echo_json, user_errors
from recoil_core.cli._episodes import EpisodeOpt, ProjectOpt, backend, episodes, resolve

if TYPE_CHECKING:
    from recoil_core.runner.queries import StatusReport


def status(
    project: ProjectOpt = None,
    episode: EpisodeOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Per scene, beat and take: state, job ids, renders, and what needs attention."""
    # every scene read stays alive until the report is printed
    with collector_paused():
        _status(project, episode, as_json=as_json)


def _status(project: str | None, episode: str | None, *, as_json: bool) -> None:
    """:func:`status`'s work, in a function of its own: what it read is freed (reference
    counts) when it returns, before the collector is back, which then has only the
    survivors to look at instead of every object the report was made of."""
    from recoil_core.runner import queries

    with user_errors(as_json=as_json):
        store = backend()
        project_id, episode_id = resolve(store, project, episode)
        report = queries.status(store, project_id, episodes(store, project_id, episode_id))
        nodes = {ep.episode: _node_status(project_id, ep.episode) for ep in report.episodes}
    if as_json:
        data = report.to_dict()
        for ep_data in data["episodes"]:
            if (found := nodes.get(ep_data["episode"])) is not None:
                ep_data["nodes"] = found
        echo_json(data)
    else:
        _print_status(report, nodes)


def _node_status(project: str, episode: str) -> dict[str, Any] | None:
    """Render nodes working ``episode`` (workers, leases, take jobs), from the first
    installed executor (``recoil.executors``) whose module offers ``episode_status`` and
    says nodes work it; ``None`` for an episode a local run works (and off PostgreSQL)."""
    from importlib import import_module
    from importlib.metadata import entry_points

    from recoil_core.cli._app import state

    settings = state().settings
    if settings.backend != "postgres":
        return None
    from recoil_core.cli.worker import EXECUTOR_GROUP

    for ep in sorted(entry_points(group=EXECUTOR_GROUP), key=lambda ep: ep.name):
        module = import_module(ep.value)
        status_of = getattr(module, "episode_status", None)
        if status_of is None:
            continue
        found = status_of(settings.env, str(settings.projects_root), project, episode)
        if found is not None:
            return cast("dict[str, Any]", found)
    return None


def _print_status(
    report: StatusReport, nodes: dict[str, dict[str, Any] | None] | None = None
) -> None:
    lines: list[str] = []  # printed at once: one write instead of one per take
    for ep in report.episodes:
        lines.append(f"{report.project}/{ep.episode}")
        if (found := (nodes or {}).get(ep.episode)) is not None:
            lines += _node_lines(found)
        stale = {s.scene_id: s for s in ep.stale}
        for scene in ep.scenes:
            cands = f" candidates {scene.candidates}" if scene.candidates else ""
            lines.append(f"  {scene.scene_id}  v{scene.version}{cands}")
            if why := stale.get(scene.scene_id):
                note = f" ({why.note})" if why.note else ""
                lines.append(
                    f"    stale: candidate v{why.candidate_version} waits{note}; "
                    f"`{why.conform}` makes it active"
                )
                lines += [f"      changed: {change}" for change in why.changes]
            for beat in scene.beats:
                lines.append(
                    f"    {beat.beat_id}  {beat.modality}  "
                    f"{'done' if beat.succeeded else 'not done'}"
                )
                if mark := ep.marks.get(f"{scene.scene_id}/{beat.beat_id}"):
                    lines.append(f"      review: {mark}")
                for take in beat.takes:
                    jobs = ",".join(take.job_ids) or "-"
                    lines.append(
                        f"      {take.take_id}  {take.state.value}  job {jobs}  {take.render or ''}"
                    )
                    if take.state.value == "failed_but_billed" and take.error:
                        lines.append(f"        billed, no render: {take.error}")
        for line in ep.attention:
            lines.append(f"  needs attention: {line}")
        if ep.billable:
            lines.append(
                f"  still billable: {len(ep.billable)} take(s) may still be billed "
                f"(estimate ${ep.billable_estimate_usd:.4f}, held against the budget); "
                f"`recoil reconcile --project {report.project} --episode {ep.episode}` "
                "follows them to the end"
            )
    if lines:
        typer.echo("\n".join(lines))


def _node_lines(found: dict[str, Any]) -> list[str]:
    """The render nodes' part of an episode's status (as ``recoil worker --status``)."""
    lines = [f"  workers: {len(found['workers'])}"]
    lines += [
        f"    {row['worker']}  heartbeat {row['heartbeat_age_s']}s ago  "
        f"takes held {row['takes_held']}"
        for row in found["workers"]
    ]
    leases = ", ".join(f"{n} {kind}" for kind, n in sorted(found["leases"].items()))
    jobs = ", ".join(f"{n} {status}" for status, n in sorted(found["jobs"].items()))
    lines.append(f"  leases: {leases or 'none'}")
    lines.append(f"  take jobs: {jobs or 'none'}")
    return lines
