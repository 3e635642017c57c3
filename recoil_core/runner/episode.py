"""The episode runner: plan -> scenes -> reconciliation -> preflight -> dispatch -> report.

This module wires one run together and holds the episode lock while it writes. Each
step lives in its own module: options, planning, reconcile, preflight, recovery,
dry_run, pool (the workers), dispatch (the take executor), report; the read side that
``recoil status`` and ``recoil budget`` use is :mod:`recoil_core.runner.queries`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from recoil_core._gc import collector_paused
from recoil_core.budget import BudgetGuard, total_usd
from recoil_core.contracts.gates import SceneEvent
from recoil_core.errors import EpisodeLockedError
from recoil_core.events import Notice, ProgressEvent, SceneEventKind
from recoil_core.hashing import stable_digest
from recoil_core.model import CanonicalPlan, LedgerEntry, Scene
from recoil_core.persistence.protocol import PersistenceBackend
from recoil_core.registry import Registry
from recoil_core.runner.accounting import Accountant
from recoil_core.runner.dispatch import DispatchOptions, TakeExecutor, owes
from recoil_core.runner.dry_run import plan_dry_run
from recoil_core.runner.options import DEFAULT_PROVIDER, DEFAULT_STRATEGY, RunOptions
from recoil_core.runner.planning import derive_scenes
from recoil_core.runner.pool import dispatch_beats, worker_count
from recoil_core.runner.preflight import follow_problems
from recoil_core.runner.preflight import preflight as check_preflight
from recoil_core.runner.providers import ProviderPool
from recoil_core.runner.queries import billable_takes, needs_attention
from recoil_core.runner.reconcile import Action, Reconciled, reconcile
from recoil_core.runner.recovery import SETTLED_CHARGES, restore_charges, resume_stale_takes
from recoil_core.runner.report import PlannedTake, RunReport, scene_summary, take_attention
from recoil_core.runner.workflows import image_provider_for

__all__ = [
    "DEFAULT_PROVIDER",
    "DEFAULT_STRATEGY",
    "SETTLED_CHARGES",
    "EpisodeRunner",
    "PlannedTake",
    "Progress",
    "RunOptions",
    "RunReport",
    "billable_takes",
    "needs_attention",
    "scene_summary",
    "take_attention",
    "worker_count",
]

DEFAULT_OPTIONS = RunOptions()

Progress = Callable[[ProgressEvent], None]
"""Where a run reports its :mod:`~recoil_core.events` progress events as it goes."""


class EpisodeRunner:
    """Runs one plan's episode. ``run()`` is the whole flow; the parts are usable alone."""

    def __init__(
        self,
        plan: CanonicalPlan,
        *,
        registry: Registry,
        backend: PersistenceBackend,
        options: RunOptions = DEFAULT_OPTIONS,
        env: Mapping[str, str] | None = None,
        renders_root: Path | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.plan = plan
        self.registry = registry
        self.backend = backend
        self.options = options
        self.env = dict(env or {})
        self.project = plan.project
        self.episode = plan.episode_id
        self.provider_name = options.provider or DEFAULT_PROVIDER
        self.progress: Progress = progress or (lambda _event: None)
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

    def _notice(self, report: RunReport, message: str) -> None:
        report.notices.append(message)
        self.progress(Notice(message))

    # ------------------------------------------------------------------ planning

    def derive(self) -> list[Scene]:
        """The scenes the strategy makes of the plan. Pure: writes nothing."""
        strategy = self.registry.strategy(self.options.strategy)
        with collector_paused():  # the scenes live on: see collector_paused
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

    def preflight(self, pool: ProviderPool, scenes: Sequence[Scene]) -> None:
        """Everything that must hold before anything is reserved; raises with every problem."""
        check_preflight(
            registry=self.registry,
            pool=pool,
            plan=self.plan,
            scenes=scenes,
            provider=self.provider_name,
            image_provider=self.options.image_provider,
            budget_usd=self.options.budget_usd,
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
        """The episode lock, saying so (a ``Notice``) when another run holds it first."""
        with ExitStack() as stack:
            try:
                stack.enter_context(
                    self.backend.lock_episode(self.project, self.episode, timeout_s=0.0)
                )
            except EpisodeLockedError:
                self.progress(
                    Notice(
                        f"waiting for another recoil run of {self.project}/"
                        f"{self.episode} to finish (--wait)"
                    )
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

    def _pool(self) -> ProviderPool:
        return ProviderPool(self.registry, self.env, {"concurrency": self.options.concurrency})

    def _report(self, *, strategy: str, dry_run: bool) -> RunReport:
        return RunReport(
            project=self.project,
            episode=self.episode,
            strategy=strategy,
            provider=self.provider_name,
            dry_run=dry_run,
            cap_usd=self.options.budget_usd,
            spent_before_usd=self.guard.spent,
        )

    async def run(self) -> RunReport:
        """Run the whole episode; raises BudgetExhaustedError (with rendered shots) on a halt."""
        report = self._report(strategy=self.options.strategy, dry_run=self.options.dry_run)
        derived = self.derive()
        pool = self._pool()
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
                if self.options.dry_run:
                    executor = self._executor(pool)
                    plan_dry_run(executor, reconciled, report)
                    return report
                scenes = [r.scene for r in reconciled]
                for notice in restore_charges(self.accountant, scenes, charged):
                    self._notice(report, notice)
                await self.dispatch(pool, reconciled, report)
                if all(r.dispatch_new_takes for r in reconciled) and report.complete:
                    self._stamp_derivation(derived)
        finally:
            await pool.aclose()
        return report

    def _announce(self, item: Reconciled, report: RunReport) -> None:
        notice = item.notice()
        if notice:
            self._notice(report, notice)
        if not self.options.dry_run and item.action is not Action.CREATED:
            # a new scene is announced when it is written (with its first take)
            self.registry.notify_scene(
                SceneEvent(
                    project=self.project,
                    episode=self.episode,
                    scene_id=item.scene.scene_id,
                    kind=SceneEventKind(item.action.value),
                    version=item.candidate_version or item.version,
                    detail=notice or "",
                )
            )

    async def follow(self) -> RunReport:
        """Follow every job the episode's takes own to its end: poll it, download and
        charge what it billed (``recoil reconcile``). Searches for lost creates, but never
        creates a job and never starts a take."""
        report = self._report(strategy="-", dry_run=False)
        pool = self._pool()
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
                follow_problems(pool, providers)
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
            await dispatch_beats(
                executor,
                reconciled,
                report,
                registry=self.registry,
                guard=self.guard,
                accountant=self.accountant,
                concurrency=self.options.concurrency,
                progress=self.progress,
            )
        finally:
            executor.close()

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
        cutoff = datetime.now(UTC) - older_than
        pool = self._pool()
        executor = self._executor(pool)
        try:
            with self._lock():
                self.guard.recount_spent(self._ledger_spend())
                return await resume_stale_takes(executor, scene, version, cutoff=cutoff)
        finally:
            executor.close()
            await pool.aclose()
