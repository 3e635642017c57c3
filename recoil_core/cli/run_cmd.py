"""``recoil run``, ``status``, ``budget`` and ``rederive``: parse, call the kernel, render."""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from recoil_core.cli._app import app, echo_json, fail, state, user_errors
from recoil_core.cli.group_cmd import parse_options

if TYPE_CHECKING:
    from recoil_core.persistence.protocol import PersistenceBackend
    from recoil_core.runner import RunReport

EXIT_INCOMPLETE = 1
EXIT_INTERRUPTED = 130


def _backend(lock_timeout_s: float | None = 0.0) -> PersistenceBackend:
    from recoil_core.interfaces import BackendContext

    settings = state().settings
    spec = state().registry().backend(settings.backend)
    return spec.factory(
        BackendContext(
            projects_root=settings.projects_root, env=settings.env, lock_timeout_s=lock_timeout_s
        )
    )


class _Progress:
    """Progress for a terminal (rich), plain lines otherwise, nothing for --json."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.total = 0
        self.done = 0
        self.takes: dict[str, int] = {}
        self._bar: Any = None
        self._task: Any = None

    def __call__(self, kind: str, data: Mapping[str, Any]) -> None:
        if self.mode == "json":
            if kind == "notice":
                typer.echo(str(data["message"]), err=True)
            return
        if kind == "notice":
            self._print(str(data["message"]))
        elif kind == "start":
            self.total = int(data["beats"])
            cap = data.get("cap_usd")
            cap_text = f" of ${cap:.2f}" if cap is not None else " (no cap)"
            self._print(
                f"{self.total} beat(s) to render in {data['scenes']} scene(s); "
                f"spent ${data['spent_usd']:.2f}{cap_text}"
            )
            if self.mode == "rich" and self.total:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

                self._bar = Progress(
                    TextColumn("[bold]units"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("takes {task.fields[takes]}"),
                    TextColumn("spend {task.fields[spend]}"),
                )
                self._bar.start()
                self._task = self._bar.add_task(
                    "units", total=self.total, takes="-", spend=self._spend(data)
                )
        elif kind == "beat":
            self.done += 1
            for state_name in data["takes"]:
                self.takes[state_name] = self.takes.get(state_name, 0) + 1
            mark = "done" if data["succeeded"] else "not done"
            takes = ", ".join(f"{n} {name}" for name, n in sorted(self.takes.items()))
            if self._bar is not None:
                self._bar.update(self._task, advance=1, takes=takes, spend=self._spend(data))
            else:
                self._print(
                    f"[{self.done}/{self.total}] {data['beat_id']}: {mark} "
                    f"(spend {self._spend(data)})"
                )

    @staticmethod
    def _spend(data: Mapping[str, Any]) -> str:
        cap = data.get("cap_usd")
        return f"${data['spent_usd']:.2f}" + (f" of ${cap:.2f}" if cap is not None else "")

    def _print(self, text: str) -> None:
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False)
        else:
            typer.echo(text)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _print_report(report: RunReport) -> None:
    counts = report.take_counts
    if report.dry_run:
        typer.echo(f"dry run: {len(report.planned)} take(s) would be dispatched; nothing written")
        for planned in report.planned:
            providers = ",".join(sorted({str(s["provider"]) for s in planned.steps}))
            typer.echo(
                f"  {planned.scene_id} / {planned.beat_id}  {planned.modality}  "
                f"{' '.join(planned.shot_ids)}  via {providers}  est ${planned.estimate_usd:.4f}"
            )
        total = sum(p.estimate_usd for p in report.planned)
        typer.echo(f"estimated cost: ${total:.4f}")
        return
    summary = ", ".join(f"{n} {state_name}" for state_name, n in sorted(counts.items()))
    typer.echo(
        f"{report.project}/{report.episode}: {len(report.scenes)} scene(s); takes: "
        f"{summary or 'none'}; charged ${report.charged_usd:.4f} this run"
    )
    for scene in report.scenes:
        for beat in scene["beats"]:
            for take in beat["takes"]:
                if (
                    take["state"] in ("failed", "failed_but_billed", "build_error")
                    and take["error"]
                ):
                    typer.echo(f"  {take['take_id']} {take['state']}: {take['error']}")
    for line in report.attention:
        typer.echo(f"  needs attention: {line}")
    if report.complete:
        typer.echo("episode complete")


@app.command("run")
def run(
    plan: Annotated[str, typer.Argument(metavar="PLAN", help="The episode plan (JSON).")],
    strategy: Annotated[str, typer.Option(help="Grouping strategy.")] = "continuity",
    provider: Annotated[
        str | None,
        typer.Option(help="Video provider (default: $RECOIL_PROVIDER, else animatic)."),
    ] = None,
    image_provider: Annotated[
        str | None, typer.Option(help="Provider for image_t2i keyframes.")
    ] = None,
    budget: Annotated[
        float | None, typer.Option(metavar="USD", help="Spend cap in USD (0 allowed).", min=0)
    ] = None,
    budget_scope: Annotated[
        str,
        typer.Option(help="episode: cap includes earlier runs' spend; run: only this run."),
    ] = "episode",
    concurrency: Annotated[
        int,
        typer.Option(
            min=1, help="Jobs at a provider at once (a quarter more takes may be saving results)."
        ),
    ] = 4,
    max_takes: Annotated[int, typer.Option(min=1, help="Attempts per beat.")] = 1,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would run; write nothing.")
    ] = False,
    pass_ids: Annotated[
        list[str] | None, typer.Option("--pass", help="Coverage pass id to select (repeat).")
    ] = None,
    option: Annotated[
        list[str] | None, typer.Option("--option", help="Strategy option KEY=VALUE (repeat).")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for another run of this episode to finish.")
    ] = False,
    resubmit_unknown: Annotated[
        bool,
        typer.Option(
            "--resubmit-unknown",
            help="Send again takes whose lost create could not be settled by a search.",
        ),
    ] = False,
    no_auto_resubmit: Annotated[
        bool,
        typer.Option(
            "--no-auto-resubmit",
            help="Never resend a lost create by itself; leave it for --resubmit-unknown.",
        ),
    ] = False,
    job_timeout: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            help="Stop waiting for a job after this long (cancelled only where the provider "
            "can still cancel it; otherwise followed by the next run or `recoil reconcile`).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run report as JSON.")] = False,
) -> None:
    """Render PLAN: group, reconcile with what exists, dispatch, and write renders.

    Resumable: running the same command again picks up where it stopped, without paying
    twice for any take.
    """
    import asyncio

    from recoil_core.errors import BudgetExhaustedError
    from recoil_core.plan import load_plan
    from recoil_core.runner import EpisodeRunner, RunOptions

    if budget_scope not in ("episode", "run"):
        fail("--budget-scope must be 'episode' or 'run'", 2)
    if budget is not None and not math.isfinite(budget):
        # NaN compares false with every spend: it would be no cap at all
        fail(f"--budget {budget}: give a finite number of USD (leave it out for no cap)", 2)
    if job_timeout is not None and not (math.isfinite(job_timeout) and job_timeout > 0):
        fail(f"--job-timeout {job_timeout}: give a number of seconds > 0", 2)
    settings = state().settings
    mode = "json" if as_json else ("rich" if sys.stdout.isatty() else "plain")
    progress = _Progress(mode)
    with user_errors(as_json=as_json):
        loaded = load_plan(plan)
        registry = state().registry()
        options = RunOptions(
            strategy=strategy,
            provider=provider or settings.provider,
            image_provider=image_provider,
            budget_usd=budget,
            budget_scope=budget_scope,
            concurrency=concurrency,
            max_takes=max_takes,
            dry_run=dry_run,
            selected_pass_ids=tuple(pass_ids or ()),
            strategy_options=parse_options(option or []),
            resubmit_unknown=resubmit_unknown,
            auto_resubmit=not no_auto_resubmit,
            lock_timeout_s=None if wait else 0.0,
            job_timeout_s=job_timeout,
        )
        runner = EpisodeRunner(
            loaded,
            registry=registry,
            backend=_backend(options.lock_timeout_s),
            options=options,
            env=settings.env,
            progress=progress,
        )
        try:
            report = asyncio.run(runner.run())
        except KeyboardInterrupt:
            progress.stop()
            typer.echo(
                "interrupted: every take's state is saved; run the same command again to resume "
                "(takes already at the provider are picked up, never paid twice)",
                err=True,
            )
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except BudgetExhaustedError as exc:
            progress.stop()
            if as_json:
                echo_json(
                    {
                        "ok": False,
                        "error": "BudgetExhaustedError",
                        "message": str(exc),
                        "remaining_usd": exc.remaining,
                        "rendered_shot_ids": exc.rendered_shot_ids,
                    }
                )
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        finally:
            progress.stop()
    if as_json:
        echo_json({"ok": report.complete or report.dry_run, **report.to_dict()})
    else:
        _print_report(report)
    if not (report.complete or report.dry_run):
        raise typer.Exit(EXIT_INCOMPLETE)


def _resolve(
    backend: PersistenceBackend, project: str | None, episode: str | None
) -> tuple[str, str | None]:
    from recoil_core.ids import validate_id

    if project is None:
        projects = backend.list_projects()
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


def _episodes(backend: PersistenceBackend, project: str, episode: str | None) -> list[str]:
    return [episode] if episode is not None else backend.list_episodes(project)


ProjectOpt = Annotated[str | None, typer.Option(help="Project id (default: the only one).")]
EpisodeOpt = Annotated[str | None, typer.Option(help="Episode id (default: all / the only one).")]


@app.command("status")
def status(
    project: ProjectOpt = None,
    episode: EpisodeOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Per scene, beat and take: state, job ids, renders, and what needs attention."""
    from recoil_core.runner.episode import billable_takes, needs_attention, scene_summary

    with user_errors(as_json=as_json):
        backend = _backend()
        project_id, episode_id = _resolve(backend, project, episode)
        episodes: list[dict[str, Any]] = []
        for ep in _episodes(backend, project_id, episode_id):
            scenes: list[dict[str, Any]] = []
            attention: list[str] = []
            billable: list[dict[str, Any]] = []
            for scene_id in backend.list_scenes(project_id, ep):
                manifest = backend.load_manifest(project_id, ep, scene_id)
                scene = backend.load_scene(project_id, ep, scene_id)
                if scene is None or manifest is None:
                    continue
                summary = scene_summary(scene, manifest.active_version, "persisted")
                summary["candidates"] = [c.version for c in manifest.candidates()]
                if summary["candidates"]:
                    attention.append(
                        f"{scene_id}: candidate v{summary['candidates'][-1]} waits; "
                        f"`recoil rederive --conform {scene_id}` makes it active"
                    )
                attention += needs_attention(scene)
                billable += billable_takes(scene)
                scenes.append(summary)
            episodes.append(
                {
                    "episode": ep,
                    "scenes": scenes,
                    "attention": attention,
                    "billable": billable,
                    "billable_estimate_usd": round(sum(b["estimate_usd"] for b in billable), 6),
                }
            )
    if as_json:
        echo_json({"project": project_id, "episodes": episodes})
        return
    for ep_data in episodes:
        typer.echo(f"{project_id}/{ep_data['episode']}")
        for row in ep_data["scenes"]:
            cands = f" candidates {row['candidates']}" if row["candidates"] else ""
            typer.echo(f"  {row['scene_id']}  v{row['version']}{cands}")
            for beat in row["beats"]:
                typer.echo(
                    f"    {beat['beat_id']}  {beat['modality']}  "
                    f"{'done' if beat['succeeded'] else 'not done'}"
                )
                for take in beat["takes"]:
                    jobs = ",".join(take["job_ids"]) or "-"
                    typer.echo(
                        f"      {take['take_id']}  {take['state']}  job {jobs}  "
                        f"{take['render'] or ''}"
                    )
        for line in ep_data["attention"]:
            typer.echo(f"  needs attention: {line}")
        if ep_data["billable"]:
            typer.echo(
                f"  still billable: {len(ep_data['billable'])} take(s) may still be billed "
                f"(estimate ${ep_data['billable_estimate_usd']:.4f}, held against the budget); "
                f"`recoil reconcile --project {project_id} --episode {ep_data['episode']}` "
                "follows them to the end"
            )


@app.command("reconcile")
def reconcile_jobs(
    project: ProjectOpt = None,
    episode: EpisodeOpt = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for a running recoil.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Follow the jobs the episodes' takes own to their end: poll, download, charge.

    Never creates a job and never starts a take: it settles what earlier runs left at the
    provider (a job that outlived --job-timeout, a run that was killed or interrupted).
    Lost creates are searched for; one not found stays for the next `recoil run`.
    """
    import asyncio

    from recoil_core.model import CanonicalPlan
    from recoil_core.runner import EpisodeRunner, RunOptions

    settings = state().settings
    reports: list[RunReport] = []
    with user_errors(as_json=as_json):
        backend = _backend(None if wait else 0.0)
        project_id, episode_id = _resolve(backend, project, episode)
        registry = state().registry()
        for ep in _episodes(backend, project_id, episode_id):
            runner = EpisodeRunner(
                CanonicalPlan(project=project_id, episode_id=ep, shots=()),
                registry=registry,
                backend=backend,
                options=RunOptions(
                    provider=settings.provider, lock_timeout_s=None if wait else 0.0
                ),
                env=settings.env,
            )
            try:
                reports.append(asyncio.run(runner.follow()))
            except KeyboardInterrupt:
                typer.echo("interrupted: run `recoil reconcile` again to go on", err=True)
                raise typer.Exit(EXIT_INTERRUPTED) from None
    if as_json:
        echo_json(
            {
                "ok": all(not r.attention for r in reports),
                "episodes": [r.to_dict() for r in reports],
            }
        )
    else:
        for report in reports:
            states = ", ".join(f"{n} {name}" for name, n in sorted(report.take_counts.items()))
            typer.echo(
                f"{report.project}/{report.episode}: takes: {states or 'none'}; "
                f"charged ${report.charged_usd:.4f} by following the jobs they own"
            )
            for line in report.attention:
                typer.echo(f"  needs attention: {line}")
    if any(r.attention for r in reports):
        raise typer.Exit(EXIT_INCOMPLETE)


@app.command("budget")
def budget_report(
    project: ProjectOpt = None,
    episode: EpisodeOpt = None,
    by: Annotated[
        str,
        typer.Option(help="Group spend by: model, scene, kind, provider, episode or price-table."),
    ] = "kind",
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Spend from the ledger, grouped."""
    fields = ("model", "scene_id", "kind", "provider", "episode", "price_table")
    key = {"scene": "scene_id", "price-table": "price_table"}.get(by, by)
    if key not in fields:
        fail(
            f"--by must be one of model, scene, kind, provider, episode, price-table (got {by!r})",
            2,
        )
    with user_errors(as_json=as_json):
        backend = _backend()
        project_id, episode_id = _resolve(backend, project, episode)
        entries = backend.read_ledger(project_id, episode_id)
    from decimal import Decimal

    from recoil_core.budget import usd

    groups: dict[str, Decimal] = {}
    for entry in entries:
        value = getattr(entry, key)
        name = value.value if hasattr(value, "value") else str(value or "not recorded")
        groups[name] = groups.get(name, Decimal(0)) + usd(entry.amount_usd)  # exact sums
    total = sum(groups.values(), Decimal(0))
    if as_json:
        echo_json(
            {
                "project": project_id,
                "episode": episode_id,
                "by": by,
                "groups": {k: float(v) for k, v in sorted(groups.items())},
                "total_usd": float(total),
                "entries": len(entries),
            }
        )
        return
    typer.echo(f"spend for {project_id}{'/' + episode_id if episode_id else ''} by {by}:")
    for name, amount in sorted(groups.items()):
        typer.echo(f"  {name:<32} ${amount:.4f}")
    typer.echo(f"  {'total':<32} ${total:.4f} ({len(entries)} charge(s))")


@app.command("rederive")
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
        backend = _backend()
        project_id, episode_id = _resolve(backend, project, episode)
        validate_id(conform, what="scene")
        if episode_id is None:
            owners = [
                ep
                for ep in backend.list_episodes(project_id)
                if conform in backend.list_scenes(project_id, ep)
            ]
            if len(owners) != 1:
                fail(
                    f"say which episode with --episode (scene {conform} found in: "
                    f"{', '.join(owners) or 'none'})",
                    2,
                )
            episode_id = owners[0]
        with backend.lock_episode(project_id, episode_id, timeout_s=None if wait else 0.0):
            before = backend.load_manifest(project_id, episode_id, conform)
            if before is None:
                fail(f"no scene {conform} in {project_id}/{episode_id}", 2)
            current = backend.load_scene(project_id, episode_id, conform)
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
            active = backend.conform(project_id, episode_id, conform, version)
    typer.echo(
        f"scene {conform}: v{active} is now active (was v{before.active_version}); "
        "the next `recoil run` renders it"
    )
