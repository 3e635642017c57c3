"""The episode runner: plan -> scenes -> reconciliation -> preflight -> dispatch -> report.

Planning, reconciliation, dispatch and accounting live in their own modules; this one
wires them together for one run and holds the episode lock while it writes.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from recoil_core.budget import BudgetGuard, total_usd
from recoil_core.errors import (
    AuthenticationFailed,
    BudgetExhaustedError,
    EpisodeLockedError,
    PreflightError,
    UnknownNameError,
)
from recoil_core.hashing import stable_digest
from recoil_core.interfaces import PreflightContext, SceneEvent
from recoil_core.model import (
    CanonicalPlan,
    ChargeKind,
    LedgerEntry,
    Scene,
    StepState,
    Take,
    TakeState,
    charge_entry_id,
    rendered_shot_ids,
)
from recoil_core.persistence.protocol import PersistenceBackend
from recoil_core.plugin_code import guarded, origin_of
from recoil_core.registry import GATES, Registry
from recoil_core.runner.accounting import Accountant
from recoil_core.runner.dispatch import (
    OWED_STEP_STATES,
    DispatchOptions,
    SceneSession,
    TakeExecutor,
    attempts,
    owed_estimate,
    owes,
)
from recoil_core.runner.planning import derive_scenes
from recoil_core.runner.providers import ProviderPool
from recoil_core.runner.reconcile import Action, Reconciled, reconcile
from recoil_core.runner.workflows import image_provider_for

SETTLED_CHARGES = {
    StepState.SUCCEEDED: ChargeKind.SUCCEEDED,
    StepState.FAILED_BUT_BILLED: ChargeKind.FAILED_BUT_BILLED,
}
"""Step states whose bill the ledger must hold, and the kind it is charged as."""

DEFAULT_PROVIDER = "animatic"
DEFAULT_STRATEGY = "continuity"


def _number(*, low: float, above: bool = False) -> Callable[[Any, Any, Any], None]:
    """An attrs validator: None, or a finite number >= ``low`` (> ``low`` with ``above``).
    NaN compares false with everything, so it is refused rather than taken as no limit."""

    def check(_options: Any, attribute: Any, value: Any) -> None:
        if value is None:
            return
        ok = (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and (value > low if above else value >= low)
        )
        if not ok:
            bound = f"> {low:g}" if above else f">= {low:g}"
            raise ValueError(f"RunOptions.{attribute.name}: a finite number {bound}, not {value!r}")

    return check


@attrs.frozen
class RunOptions:
    """How to run an episode (the CLI's ``recoil run`` options). Numbers are checked when
    the options are made: a NaN budget or timeout would silently mean none at all."""

    strategy: str = DEFAULT_STRATEGY
    provider: str | None = None
    image_provider: str | None = None
    budget_usd: float | None = attrs.field(default=None, validator=_number(low=0))
    budget_scope: str = attrs.field(
        default="episode", validator=attrs.validators.in_(("episode", "run"))
    )
    """``episode``: the cap includes what the ledger already holds; ``run``: only this run."""
    concurrency: int = attrs.field(default=4, validator=_number(low=1))
    max_takes: int = attrs.field(default=1, validator=_number(low=1))
    dry_run: bool = False
    selected_pass_ids: tuple[str, ...] = ()
    strategy_options: Mapping[str, Any] = attrs.field(factory=dict)
    resubmit_unknown: bool = False
    auto_resubmit: bool = True
    """Resend a lost create by itself once the provider's search missed it twice (where
    the provider can search); False leaves every lost create for a person."""
    lock_timeout_s: float | None = attrs.field(default=0.0, validator=_number(low=0))
    job_timeout_s: float | None = attrs.field(default=None, validator=_number(low=0, above=True))
    poll_interval_s: float | None = attrs.field(default=None, validator=_number(low=0))


@attrs.define
class PlannedTake:
    """What a dry run would dispatch."""

    scene_id: str
    beat_id: str
    modality: str
    shot_ids: list[str]
    steps: list[dict[str, Any]]
    estimate_usd: float


@attrs.define
class RunReport:
    """What a run did, for humans and for ``--json``."""

    project: str
    episode: str
    strategy: str
    provider: str
    dry_run: bool
    cap_usd: float | None
    spent_before_usd: float = 0.0
    charged_usd: float = 0.0
    scenes: list[dict[str, Any]] = attrs.field(factory=list)
    planned: list[PlannedTake] = attrs.field(factory=list)
    notices: list[str] = attrs.field(factory=list)
    rendered_shot_ids: list[str] = attrs.field(factory=list)
    halted: str | None = None

    @property
    def take_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for scene in self.scenes:
            for beat in scene["beats"]:
                for take in beat["takes"]:
                    counts[take["state"]] = counts.get(take["state"], 0) + 1
        return counts

    @property
    def attention(self) -> list[str]:
        out = []
        for scene in self.scenes:
            for beat in scene["beats"]:
                for take in beat["takes"]:
                    if take.get("attention"):
                        out.append(f"{take['take_id']}: {take['attention']}")
        return out

    @property
    def complete(self) -> bool:
        return (
            not self.dry_run
            and self.halted is None
            and all(beat["succeeded"] for scene in self.scenes for beat in scene["beats"])
        )

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data["take_counts"] = self.take_counts
        data["attention"] = self.attention
        data["complete"] = self.complete
        data["estimated_usd"] = round(sum(p.estimate_usd for p in self.planned), 6)
        return data


def scene_summary(scene: Scene, version: int | None, action: str) -> dict[str, Any]:
    return {
        "scene_id": scene.scene_id,
        "version": version,
        "action": action,
        "beats": [
            {
                "beat_id": beat.beat_id,
                "modality": beat.modality,
                "shot_ids": beat.shot_ids,
                "succeeded": beat.succeeded,
                "primary_take_id": beat.primary_take_id,
                "takes": [
                    {
                        "take_id": take.take_id,
                        "state": take.state.value,
                        "job_ids": [s.job_id for s in take.workflow.steps if s.job_id],
                        "render": take.render_path,
                        "cost_usd": round(take.cost_usd, 6),
                        "error": take.error,
                        "attention": take_attention(take),
                    }
                    for take in beat.takes
                ],
            }
            for beat in scene.beats
        ],
    }


def worker_count(concurrency: int) -> int:
    """Takes in flight for a run of ``concurrency``: that many hold provider job slots,
    and a quarter more may be writing their results (the render and charge after the
    download, then ``succeeded``), downloading (from a provider whose download is outside
    its slot) or waiting for a slot with their budget reserved, so the provider is never
    kept waiting on the disk. Below 4 there are no extra takes (runs stay strictly
    ordered)."""
    return concurrency + concurrency // 4


class EpisodeRunner:
    """Runs one plan's episode. ``run()`` is the whole flow; the parts are usable alone."""

    def __init__(
        self,
        plan: CanonicalPlan,
        *,
        registry: Registry,
        backend: PersistenceBackend,
        options: RunOptions = RunOptions(),
        env: Mapping[str, str] | None = None,
        renders_root: Path | None = None,
        progress: Callable[[str, Mapping[str, Any]], None] | None = None,
    ) -> None:
        self.plan = plan
        self.registry = registry
        self.backend = backend
        self.options = options
        self.env = dict(env or {})
        self.project = plan.project
        self.episode = plan.episode_id
        self.provider_name = options.provider or DEFAULT_PROVIDER
        self.progress = progress or (lambda _kind, _data: None)
        # what was spent before is read under the episode lock (see _spend_under_lock)
        self.guard = BudgetGuard(options.budget_usd)
        self.accountant = Accountant(backend, self.guard, self.project, self.episode)
        self._renders_root = renders_root

    def _ledger_spend(self, entries: Sequence[LedgerEntry] | None = None) -> Decimal:
        """What the episode's ledger holds, exactly (0 with ``budget_scope="run"``)."""
        if self.options.budget_scope != "episode":
            return Decimal(0)
        if entries is None:
            entries = self.backend.read_ledger(self.project, self.episode)
        return total_usd(e.amount_usd for e in entries)

    def _spend_under_lock(self, report: RunReport) -> set[str]:
        """Read the spend again now that the episode lock is held: a run that waited for
        another one must count what that run charged. Returns the ledger's entry ids."""
        entries = self.backend.read_ledger(self.project, self.episode)
        self.guard.recount_spent(self._ledger_spend(entries))
        report.spent_before_usd = self.guard.spent
        return {e.entry_id for e in entries}

    def _restore_charges(
        self, scenes: Sequence[Scene], charged: set[str], report: RunReport
    ) -> None:
        """Charge again what settled takes were billed but the ledger no longer holds."""
        for scene in scenes:
            for beat in scene.beats:
                for take in beat.takes:
                    for step in take.workflow.steps:
                        kind = SETTLED_CHARGES.get(step.state)
                        if kind is None:
                            continue
                        if charge_entry_id(take.take_id, step.step_id, kind) in charged:
                            continue
                        entry = self.accountant.restore(
                            scene_id=scene.scene_id,
                            beat_id=beat.beat_id,
                            take=take,
                            step=step,
                            kind=kind,
                        )
                        if entry is not None:
                            notice = (
                                f"ledger: the charge of {take.take_id}/{step.step_id} (job "
                                f"{step.job_id}, ${entry.amount_usd:.4f}) was missing (a torn or "
                                "edited line) and was recorded again from the take"
                            )
                            report.notices.append(notice)
                            self.progress("notice", {"message": notice})

    # ------------------------------------------------------------------ planning

    def derive(self) -> list[Scene]:
        """The scenes the strategy makes of the plan. Pure: writes nothing."""
        strategy = self.registry.strategy(self.options.strategy)
        return derive_scenes(
            self.plan,
            strategy,
            selected_pass_ids=self.options.selected_pass_ids,
            options=dict(self.options.strategy_options),
            max_takes=self.options.max_takes,
            registry=self.registry,
        )

    def image_provider(self) -> str | None:
        return image_provider_for(self.registry, self.provider_name, self.options.image_provider)

    # ------------------------------------------------------------------ preflight

    def preflight(self, pool: ProviderPool, scenes: Sequence[Scene]) -> None:
        """Everything that must hold before anything is reserved; raises with every problem."""
        problems: list[str] = []
        try:
            spec = self.registry.provider(self.provider_name)
        except UnknownNameError as exc:
            raise PreflightError(str(exc)) from None
        problems += [
            f"provider {self.provider_name}: {p}" for p in pool.problems(self.provider_name)
        ]
        image = self.image_provider()
        if image and image != self.provider_name:
            problems += [f"provider {image}: {p}" for p in pool.problems(image)]
        runners = sorted(self.registry.runners)
        for modality in sorted({b.modality for s in scenes for b in s.beats}):
            if modality not in self.registry.runners:
                problems.append(
                    f"no modality runner for {modality!r} is installed "
                    f"(installed: {', '.join(runners) or 'none'}); install the plugin that "
                    f"provides runner:{modality}"
                )
            elif not spec.serves(modality) and not spec.serves("video_t2v"):
                problems.append(f"provider {self.provider_name} does not serve {modality!r}")
        ctx = PreflightContext(
            project=self.project,
            episode=self.episode,
            plan=self.plan,
            scenes=tuple(scenes),
            video_provider=self.provider_name,
            budget_cap_usd=self.options.budget_usd,
        )
        for gate in self.registry.gates:
            with guarded(
                f"preflight gate {gate.name!r}", origin_of(self.registry, GATES, gate.name)
            ):
                problems += [f"{gate.name}: {p}" for p in gate.check(ctx)]
        if problems:
            raise PreflightError(
                "preflight refused the run; nothing was reserved or submitted:\n"
                + "\n".join(f"  - {p}" for p in problems)
            )

    # ------------------------------------------------------------------ running

    def renders_dir(self) -> Path:
        if self._renders_root is not None:
            return self._renders_root
        return Path(self.backend.renders_dir(self.project, self.episode))

    def _lock(self) -> AbstractContextManager[None]:
        if self.options.dry_run:
            return nullcontext()
        if self.options.lock_timeout_s == 0:
            return self.backend.lock_episode(self.project, self.episode, timeout_s=0.0)
        return self._lock_waiting()

    @contextmanager
    def _lock_waiting(self) -> Iterator[None]:
        """The episode lock, saying so (a ``notice``) when another run holds it first."""
        with ExitStack() as stack:
            try:
                stack.enter_context(
                    self.backend.lock_episode(self.project, self.episode, timeout_s=0.0)
                )
            except EpisodeLockedError:
                self.progress(
                    "notice",
                    {
                        "message": f"waiting for another recoil run of {self.project}/"
                        f"{self.episode} to finish (--wait)"
                    },
                )
                stack.enter_context(
                    self.backend.lock_episode(
                        self.project, self.episode, timeout_s=self.options.lock_timeout_s
                    )
                )
            yield

    def _executor(self, pool: ProviderPool, *, creates: bool = True) -> TakeExecutor:
        return TakeExecutor(
            backend=self.backend,
            registry=self.registry,
            pool=pool,
            guard=self.guard,
            accountant=self.accountant,
            plan=self.plan,
            options=DispatchOptions(
                project=self.project,
                episode=self.episode,
                video_provider=self.provider_name,
                image_provider=self.image_provider(),
                renders_dir=Path(".") if self.options.dry_run else self.renders_dir(),
                resubmit_unknown=self.options.resubmit_unknown,
                auto_resubmit=self.options.auto_resubmit,
                creates=creates,
                job_timeout_s=self.options.job_timeout_s,
                poll_interval_s=self.options.poll_interval_s,
            ),
        )

    async def run(self) -> RunReport:
        """Run the whole episode; raises BudgetExhaustedError (with rendered shots) on a halt."""
        report = RunReport(
            project=self.project,
            episode=self.episode,
            strategy=self.options.strategy,
            provider=self.provider_name,
            dry_run=self.options.dry_run,
            cap_usd=self.options.budget_usd,
            spent_before_usd=self.guard.spent,
        )
        derived = self.derive()
        pool = ProviderPool(self.registry, self.env, {"concurrency": self.options.concurrency})
        try:
            with self._lock():
                charged = self._spend_under_lock(report)
                sweep = getattr(self.backend, "sweep_temp_files", None)
                if sweep is not None and not self.options.dry_run:
                    sweep(self.project, self.episode)
                stored = set(self.backend.list_scenes(self.project, self.episode))
                reconciled = [
                    reconcile(
                        self.backend,
                        self.project,
                        self.episode,
                        scene,
                        max_takes=self.options.max_takes,
                        dry_run=self.options.dry_run,
                        create=False,
                        stored=stored,
                    )
                    for scene in derived
                ]
                for item in reconciled:
                    self._announce(item, report)
                self.preflight(pool, [r.scene for r in reconciled])
                if not self.options.dry_run:
                    self._restore_charges([r.scene for r in reconciled], charged, report)
                if self.options.dry_run:
                    self._plan_dry_run(pool, reconciled, report)
                    return report
                await self.dispatch(pool, reconciled, report)
                if all(r.dispatch_new_takes for r in reconciled) and report.complete:
                    self._stamp_derivation(derived)
        finally:
            await pool.aclose()
        return report

    def _announce(self, item: Reconciled, report: RunReport) -> None:
        notice = item.notice()
        if notice:
            report.notices.append(notice)
            self.progress("notice", {"message": notice})
        if not self.options.dry_run and item.action is not Action.CREATED:
            # a new scene is announced when it is written (with its first take)
            self.registry.notify_scene(
                SceneEvent(
                    project=self.project,
                    episode=self.episode,
                    scene_id=item.scene.scene_id,
                    kind=item.action.value,
                    version=item.candidate_version or item.version,
                    detail=notice or "",
                )
            )

    def _plan_dry_run(
        self, pool: ProviderPool, reconciled: Sequence[Reconciled], report: RunReport
    ) -> None:
        executor = self._executor(pool)
        for item in reconciled:
            report.scenes.append(scene_summary(item.scene, item.version, item.action.value))
            if not item.dispatch_new_takes:
                continue
            session = SceneSession(item.scene, item.version or 0)
            for beat in item.scene.beats:
                if beat.succeeded or attempts(beat) >= beat.max_takes:
                    continue
                try:
                    workflow = executor.build(session, beat, len(beat.takes))
                except Exception as exc:
                    report.notices.append(f"beat {beat.beat_id}: would fail to build: {exc}")
                    continue
                estimate = executor.estimate(workflow)
                report.planned.append(
                    PlannedTake(
                        scene_id=item.scene.scene_id,
                        beat_id=beat.beat_id,
                        modality=beat.modality,
                        shot_ids=beat.shot_ids,
                        steps=[
                            {
                                "step_id": s.step_id,
                                "modality": s.modality,
                                "provider": s.provider,
                                "model": s.model,
                                "estimate_usd": s.estimate_usd,
                                "estimate_source": s.estimate_source,
                            }
                            for s in workflow.steps
                        ],
                        estimate_usd=estimate,
                    )
                )

    async def follow(self) -> RunReport:
        """Follow every job the episode's takes own to its end: poll it, download and
        charge what it billed (``recoil reconcile``). Searches for lost creates, but never
        creates a job and never starts a take."""
        report = RunReport(
            project=self.project,
            episode=self.episode,
            strategy="-",
            provider=self.provider_name,
            dry_run=False,
            cap_usd=self.options.budget_usd,
            spent_before_usd=self.guard.spent,
        )
        pool = ProviderPool(self.registry, self.env, {"concurrency": self.options.concurrency})
        try:
            with self._lock():
                self._spend_under_lock(report)
                reconciled: list[Reconciled] = []
                for scene_id in self.backend.list_scenes(self.project, self.episode):
                    found = self.backend.load_active(self.project, self.episode, scene_id)
                    if found is not None:
                        reconciled.append(Reconciled(found[0], found[1], Action.REUSED))
                providers = {
                    step.provider
                    for item in reconciled
                    for beat in item.scene.beats
                    for take in beat.takes
                    if owes(take)
                    for step in take.workflow.steps
                    if step.provider
                }
                problems = [
                    f"provider {p}: {x}" for p in sorted(providers) for x in pool.problems(p)
                ]
                if problems:
                    raise PreflightError(
                        "cannot follow the episode's jobs; nothing was polled:\n"
                        + "\n".join(f"  - {p}" for p in problems)
                    )
                await self.dispatch(pool, reconciled, report, creates=False)
        finally:
            await pool.aclose()
        return report

    async def dispatch(
        self,
        pool: ProviderPool,
        reconciled: Sequence[Reconciled],
        report: RunReport,
        *,
        creates: bool = True,
    ) -> None:
        """Run every beat through the take state machine with bounded concurrency
        (``creates=False``: only follow the jobs takes already own)."""
        executor = self._executor(pool, creates=creates)
        try:
            await self._dispatch(executor, reconciled, report)
        finally:
            executor.close()

    async def _dispatch(
        self, executor: TakeExecutor, reconciled: Sequence[Reconciled], report: RunReport
    ) -> None:
        sessions = [
            SceneSession(
                r.scene,
                r.version or 0,
                dispatch_new_takes=r.dispatch_new_takes,
                needs_create=r.version is None,
            )
            for r in reconciled
        ]
        before = {b.beat_id: b.rendered_take_count for s in sessions for b in s.scene.beats}
        queue: list[tuple[SceneSession, Any]] = [
            (s, b)
            for s in sessions
            for b in s.scene.beats
            if not b.succeeded or any(not t.is_final for t in b.takes)
        ]
        self.progress(
            "start",
            {
                "beats": len(queue),
                "scenes": len(sessions),
                "cap_usd": self.guard.cap,
                "spent_usd": self.guard.spent,
            },
        )
        # Jobs earlier runs left at the provider bill whatever happens: hold their money
        # before any new take reserves, so new takes fit in what is left of the cap.
        held = {
            (session.scene.scene_id, take.take_id): executor.hold_owed(take)
            for session, beat in queue
            for take in beat.takes
            if not take.is_final and owes(take)
        }
        halt: list[BudgetExhaustedError | AuthenticationFailed] = []
        position = 0

        async def worker() -> None:
            nonlocal position
            while position < len(queue):
                session, beat = queue[position]
                position += 1
                if halt and all(take.is_final for take in beat.takes):
                    continue  # halted: no new take, but what money is held for is followed
                try:
                    await executor.run_beat(session, beat, held, new_takes=not halt)
                except (BudgetExhaustedError, AuthenticationFailed) as exc:
                    halt.append(exc)  # stop starting takes; those in flight finish
                    continue
                self.progress(
                    "beat",
                    {
                        "beat_id": beat.beat_id,
                        "succeeded": beat.succeeded,
                        "takes": [take.state.value for take in beat.takes],
                        "spent_usd": self.guard.spent,
                        "cap_usd": self.guard.cap,
                    },
                )

        workers = [
            asyncio.create_task(worker())
            for _ in range(max(1, min(worker_count(self.options.concurrency), len(queue))))
        ]
        try:
            await asyncio.gather(*workers)
            # scenes no take reached (a halt, nothing to render) are still written
            await asyncio.gather(*(executor.save(s) for s in sessions if s.needs_create))
        except BaseException:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise
        finally:
            report.charged_usd = self.accountant.charged_this_run
            report.rendered_shot_ids = rendered_shot_ids(
                before, [b for s in sessions for b in s.scene.beats]
            )
            for item, session in zip(reconciled, sessions, strict=True):
                report.scenes.append(
                    scene_summary(session.scene, session.version, item.action.value)
                )
        for session in sessions:
            done = sum(1 for beat in session.scene.beats if beat.succeeded)
            self.registry.notify_scene(
                SceneEvent(
                    project=self.project,
                    episode=self.episode,
                    scene_id=session.scene.scene_id,
                    kind="finished",
                    version=session.version,
                    detail=f"{done}/{len(session.scene.beats)} beat(s) rendered"
                    + (" (halted)" if halt else ""),
                )
            )
        if halt:
            stop = halt[0]
            report.halted = str(stop)
            if isinstance(stop, AuthenticationFailed):
                raise AuthenticationFailed(
                    f"{stop} (nothing more was submitted; takes already at the provider were "
                    "followed to the end; fix the key and run again to resume)",
                    code=stop.code,
                )
            raise BudgetExhaustedError(
                remaining=stop.remaining, rendered_shot_ids=report.rendered_shot_ids
            )

    def _stamp_derivation(self, scenes: Sequence[Scene]) -> None:
        manifest = self.backend.load_derivation(self.project, self.episode)
        stages = dict(manifest.get("stages") or {})
        inputs = stable_digest([s.derivation_digest for s in scenes])
        known = stages.get("scenes")
        if isinstance(known, dict) and (known.get("inputs"), known.get("strategy")) == (
            inputs,
            self.options.strategy,
        ):
            return  # a rerun that changed nothing writes nothing
        stages["scenes"] = {
            "inputs": inputs,
            "strategy": self.options.strategy,
            "at": datetime.now(UTC).isoformat(),
        }
        manifest["stages"] = stages
        self.backend.save_derivation(self.project, self.episode, manifest)

    # ------------------------------------------------------------------ recovery

    async def recover_stale_takes(
        self, scene_id: str, *, older_than: timedelta = timedelta(0)
    ) -> int:
        """Resolve takes an earlier process left mid-flight; returns how many were recovered.

        A take with a recorded job id is polled (never resubmitted); one caught between
        ``submitting`` and its job id is looked up with the provider; one that never reached
        a paid call is cancelled. Only takes not updated for ``older_than`` are touched.
        """
        found = self.backend.load_active(self.project, self.episode, scene_id)
        if found is None:
            return 0
        scene, version = found
        session = SceneSession(scene, version, dispatch_new_takes=False)
        cutoff = datetime.now(UTC) - older_than
        pool = ProviderPool(self.registry, self.env, {"concurrency": self.options.concurrency})
        executor = self._executor(pool)
        recovered = 0
        try:
            with self._lock():
                self.guard.recount_spent(self._ledger_spend())
                for beat in scene.beats:
                    for take in list(beat.takes):
                        if take.is_final or datetime.fromisoformat(take.updated_at) > cutoff:
                            continue
                        before_state = take.state
                        await executor.resume_take(session, beat, take)
                        if take.state != before_state or take.is_final:
                            recovered += 1
        finally:
            executor.close()
            await pool.aclose()
        return recovered


def take_attention(take: Take) -> str | None:
    """What the user should know about a take that is not done, or ``None``."""
    if take.state == TakeState.UNKNOWN or take.attention:
        return take.attention or take.state.value
    if take.state in (TakeState.SUBMITTING, TakeState.SUBMITTED, TakeState.RESERVED):
        jobs = [s.job_id for s in take.workflow.steps if s.state == StepState.SUBMITTED]
        job_list = ", ".join(filter(None, jobs)) or "-"
        billable = " (still billable)" if owes(take) else ""
        return f"{take.state.value} (job {job_list}){billable}; re-run to resume"
    return None


def billable_takes(scene: Scene) -> list[dict[str, Any]]:
    """Takes of ``scene`` whose provider jobs may still bill (not yet charged): a job that
    outlived a timeout, a run that was stopped, a create whose answer was lost."""
    return [
        {
            "take_id": take.take_id,
            "state": take.state.value,
            "job_ids": [
                s.job_id for s in take.workflow.steps if s.job_id and s.state in OWED_STEP_STATES
            ],
            "estimate_usd": round(owed_estimate(take), 6),
        }
        for beat in scene.beats
        for take in beat.takes
        if owes(take)
    ]


def needs_attention(scene: Scene) -> list[str]:
    """Human-readable problems in a persisted scene (for ``recoil status``)."""
    return [
        f"{take.take_id}: {message}"
        for beat in scene.beats
        for take in beat.takes
        if (message := take_attention(take)) is not None
    ]
