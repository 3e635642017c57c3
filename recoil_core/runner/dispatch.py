"""Dispatch: runs beats take by take through the take state machine, never paying twice.

Each step here is thin: it decides the next event and calls :func:`recoil_core.takes.advance`
(through :meth:`Journal.move`), which refuses an illegal move; the state is persisted before
the side effect that follows it. The work itself lives beside this module:

- :mod:`~recoil_core.runner.submission`: the create, and settling a create whose answer
  was lost (looked up by the take's request key, never repeated blindly);
- :mod:`~recoil_core.runner.polling`: waiting for a job, job timeouts and cancels;
- :mod:`~recoil_core.runner.finishing`: download, ``.part`` cleanup, render, charge, receipt;
- :mod:`~recoil_core.runner.journal`: batched durable writes and observers.

A new take is reserved against the budget in memory while it waits for a provider slot,
and first written as ``submitting`` in that slot, right before the create. How many new
takes may wait for a slot with their money reserved is bounded (:attr:`TakeExecutor.waiting`),
however many workers the run has: a worker past that bound waits before it reserves. A bill is owed
until the provider says the job is final: a job that outlives the job timeout stays the
take's, its reservation stays held, and the next run (or ``recoil reconcile``) follows it
to the end and charges what it billed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from recoil_core.budget import BudgetGuard, Reservation
from recoil_core.errors import AuthenticationFailed, CreateHeldError, PayloadBuildError
from recoil_core.model import (
    Beat,
    CanonicalPlan,
    StepState,
    Take,
    TakeState,
    Workflow,
    WorkflowStep,
)
from recoil_core.persistence.protocol import PersistenceBackend
from recoil_core.registry import Registry
from recoil_core.runner.accounting import Accountant
from recoil_core.runner.context import (
    DispatchOptions,
    Refusal,
    SceneSession,
    StepOutcome,
    TakeContext,
)
from recoil_core.runner.finishing import Finisher
from recoil_core.runner.journal import Journal
from recoil_core.runner.polling import Poller
from recoil_core.runner.providers import ProviderPool
from recoil_core.runner.submission import Submitter
from recoil_core.runner.workflows import build_workflow, estimate_workflow
from recoil_core.selection import BeatMark, load_marks, pending_retakes
from recoil_core.takes import (
    OWED_STEP_STATES,
    Event,
    advance,
    attempts,
    never_dispatched,
    nothing_sent,
    owed_estimate,
    owes,
)

__all__ = [
    "AUTO_RESUBMITS",
    "OWED_STEP_STATES",
    "DispatchOptions",
    "SceneSession",
    "StepOutcome",
    "TakeContext",
    "TakeExecutor",
    "attempts",
    "never_dispatched",
    "nothing_sent",
    "owed_estimate",
    "owes",
]

T = TypeVar("T")

AUTO_RESUBMITS = 3
"""Lost creates a step resubmits by itself in one run before it waits for the next run."""

_FAILED_STEP_STATES = (StepState.FAILED, StepState.FAILED_BUT_BILLED, StepState.CANCELLED)


class TakeExecutor:
    """Runs beats take by take through the state machine."""

    def __init__(
        self,
        *,
        backend: PersistenceBackend,
        registry: Registry,
        pool: ProviderPool,
        guard: BudgetGuard,
        accountant: Accountant,
        plan: CanonicalPlan,
        options: DispatchOptions,
        render: Callable[..., Any] | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.registry = registry
        self.backend = backend
        self._marks: dict[tuple[str, str], BeatMark] | None = None
        self.pool = pool
        self.guard = guard
        self.plan = plan
        self.options = options
        self.refusal = Refusal()
        self.waiting: asyncio.Semaphore | None = None
        """New takes that may hold a reservation while no provider slot is theirs yet
        (``None``: no bound); set by the worker pool."""
        self._waiting_takes: set[str] = set()
        self.journal = Journal(backend=backend, registry=registry, options=options)
        journal = self.journal
        refusal = self.refusal
        self.submitter = Submitter(
            pool=pool,
            options=options,
            journal=journal,
            refusal=refusal,
            sleep=sleep,
            create_guard=getattr(backend, "create_guard", None),
        )
        self.poller = Poller(
            pool=pool, options=options, journal=journal, refusal=refusal, sleep=sleep
        )
        self.finisher = Finisher(
            pool=pool, registry=registry, accountant=accountant, options=options, journal=journal
        )

    @property
    def refused(self) -> AuthenticationFailed | None:
        """The run's first refusal of the credentials: once seen, no create leaves this run."""
        return self.refusal.first

    def close(self) -> None:
        """Finish the writes handed over and stop the writer."""
        self.journal.close()

    async def write(
        self, function: Callable[..., T], /, *args: Any, urgent: bool = False, **kwargs: Any
    ) -> T:
        """Run blocking writes in the run's next write batch (see :meth:`Journal.write`)."""
        return await self.journal.write(function, *args, urgent=urgent, **kwargs)

    async def save(self, session: SceneSession, *, urgent: bool = False) -> None:
        """Write the scene: create it if it is new, else compare-and-set its active version."""
        await self.journal.save(session, urgent=urgent)

    # ------------------------------------------------------------------ beats

    async def run_beat(
        self,
        session: SceneSession,
        beat: Beat,
        held: Mapping[tuple[str, str], Reservation] | None = None,
        *,
        new_takes: bool = True,
    ) -> None:
        """Resume the beat's unfinished takes, then make new ones until one succeeds.

        ``held``: reservations the run made at its start for takes that owe, by (scene id,
        take id). ``new_takes=False``: only resume (a run halted on the cap or a refused
        key still follows what it already holds money for).
        """
        for take in list(beat.takes):
            if not take.is_final:
                key = (session.scene.scene_id, take.take_id)
                await self.resume_take(session, beat, take, (held or {}).get(key))
        if not new_takes or not session.dispatch_new_takes or not self.options.creates:
            return
        while attempts(beat) < beat.max_takes and (
            not beat.succeeded or self.retakes_owed(session, beat)
        ):
            if any(not t.is_final for t in beat.takes):
                return  # an unknown take waits for the user; never stack a new paid take on it
            take = await self.new_take(session, beat)
            if never_dispatched(take):
                return  # the provider refused it before making anything: a later run goes on

    def retakes_owed(self, session: SceneSession, beat: Beat) -> int:
        """Retakes a reviewer asked for (``recoil retake``) that no take has started yet;
        each one lets a beat that succeeded get one more take. Marks are read once a run
        (never by ``recoil reconcile``, which starts no take)."""
        if not self.options.creates:
            return 0
        if self._marks is None:
            self._marks = load_marks(self.backend, self.options.project, self.options.episode)
        return pending_retakes(self._marks.get((session.scene.scene_id, beat.beat_id)), beat)

    def build(self, session: SceneSession, beat: Beat, take_index: int) -> Workflow:
        return build_workflow(
            self.registry,
            beat,
            plan=self.plan,
            scene_id=session.scene.scene_id,
            take_index=take_index,
            video_provider=self.options.video_provider,
            image_provider=self.options.image_provider,
            settings=self.options.settings,
            scene_version=session.version or 1,
        )

    def estimate(self, workflow: Workflow) -> float:
        return estimate_workflow(self.registry, workflow)

    async def new_take(self, session: SceneSession, beat: Beat) -> Take:
        index = len(beat.takes)
        version = session.version or 1  # a new scene is created as version 1
        try:
            workflow = self.build(session, beat, index)
        except PayloadBuildError as exc:
            take = beat.new_take(
                Workflow(workflow_id=f"{beat.beat_id}_take_{index}"), version=version
            )
            take.error = str(exc)
            await self.journal.move(TakeContext(session, beat, take), Event.BUILD_FAILED)
            return take
        estimate = self.estimate(workflow)
        await self._wait_for_room()
        made: str | None = None
        try:
            reservation = self.guard.reserve(estimate)  # BudgetExhaustedError: no take
            take = beat.new_take(workflow, version=version)
            made = take.take_id
            self._waiting_takes.add(made)
            take.estimate_usd = estimate
            ctx = TakeContext(session, beat, take)
            # Not written yet: a new take is first persisted as ``submitting``, holding its
            # provider slot, right before its paid call. Waiting for the slot has no side
            # effect, and a run stopped before then leaves no take behind.
            self.journal.announce(ctx, advance(take, Event.RESERVE))
            await self.execute(ctx, reservation)
        finally:
            self._leave_waiting(made)
        return take

    async def resume_take(
        self,
        session: SceneSession,
        beat: Beat,
        take: Take,
        reservation: Reservation | None = None,
    ) -> None:
        """Pick up a take an earlier process left unfinished; nothing already paid is redone.

        ``reservation``: what the run already holds for the take's owed jobs (see
        :meth:`hold_owed`); without one it is held here.
        """
        ctx = TakeContext(session, beat, take)
        if take.state in (TakeState.PLANNED, TakeState.RESERVED) and nothing_sent(take):
            take.error = "interrupted before any paid call; a new take replaces it"
            await self.journal.move(ctx, Event.ABANDON)
            return
        if reservation is None:
            reservation = self.hold_owed(take)
        if self.options.resubmit_unknown:
            self.submitter.person_checked.update(
                (take.take_id, s.step_id)
                for s in take.workflow.steps
                if s.state == StepState.UNKNOWN
            )
        await self.execute(ctx, reservation)

    async def _wait_for_room(self) -> None:
        """Wait until a new take may reserve (see :attr:`waiting`)."""
        if self.waiting is not None:
            await self.waiting.acquire()

    def _leave_waiting(self, take_id: str | None) -> None:
        """The new take ``take_id`` has its first slot or has ended (``None``: it was never
        made): its place among the waiting takes is free. Idempotent."""
        if self.waiting is None:
            return
        if take_id is not None:
            if take_id not in self._waiting_takes:
                return
            self._waiting_takes.discard(take_id)
        self.waiting.release()

    def hold_owed(self, take: Take) -> Reservation:
        """Hold what an unfinished take's jobs may bill: money already committed at the
        provider, so it counts against the cap before any new take reserves. Steps not
        yet sent are reserved through the cap when they are about to be sent."""
        owed = {s.step_id for s in take.workflow.steps if s.state in OWED_STEP_STATES}
        return self.guard.hold(owed_estimate(take), steps=owed)

    # ------------------------------------------------------------------ takes

    async def execute(self, ctx: TakeContext, reservation: Reservation) -> None:
        """Run the take's unfinished steps in order, then settle the take."""
        take = ctx.take
        try:
            outcome = StepOutcome.SUCCEEDED
            for step in take.workflow.steps:
                if step.is_final:
                    if step.state in _FAILED_STEP_STATES:
                        outcome = StepOutcome.FAILED
                        break
                    continue
                outcome = await self.run_step(ctx, step, reservation)
                if outcome != StepOutcome.SUCCEEDED:
                    break
            if outcome == StepOutcome.PENDING:
                return
            take.attention = None  # settled: whatever waited on it is over
            if outcome == StepOutcome.SUCCEEDED:
                previous = advance(take, Event.SUCCEED)
                ctx.beat.select_primary()
            elif any(s.state == StepState.FAILED_BUT_BILLED for s in take.workflow.steps):
                previous = advance(take, Event.FAIL_BILLED)
            else:
                previous = advance(take, Event.FAIL)
            await self.journal.persist(ctx, previous)
        finally:
            if not owes(take):
                self.guard.release(reservation)
            # else: a job the take owns may still bill; its reservation stays held for the
            # rest of the run (it counts against the cap until the bill is known)

    async def run_step(
        self, ctx: TakeContext, step: WorkflowStep, reservation: Reservation
    ) -> StepOutcome:
        """Send the step (or settle its lost create), wait for its job, and finish it."""
        provider_name = step.provider or self.options.video_provider
        step.provider = provider_name
        spec = self.pool.spec(provider_name)
        submitter = self.submitter
        async with self.pool.slot(provider_name) as slot:
            self._leave_waiting(ctx.take.take_id)
            if step.state != StepState.SUBMITTED:
                if not await submitter.own_create(ctx, step):
                    return StepOutcome.PENDING  # another live process may be sending it
                try:
                    created = await self._create_job(ctx, step, reservation)
                finally:
                    await submitter.let_go(ctx, step)
                if isinstance(created, StepOutcome):
                    return created
            status = await self.poller.wait(ctx, step)
            if status is None:
                return StepOutcome.FAILED if step.is_final else StepOutcome.PENDING
            if status.state != "succeeded":
                slot.release()  # the provider is done with this job
                return await self.finisher.failure(ctx, step, status, reservation)
            if not spec.limits.download_in_slot:
                slot.release()  # the job is done at the provider; its output is fetched elsewhere
            return await self.finisher.success(ctx, step, status, reservation, slot)

    async def _create_job(
        self, ctx: TakeContext, step: WorkflowStep, reservation: Reservation
    ) -> str | StepOutcome:
        """The step's job id: its create sent once (with the money reserved first), or a
        lost one settled; a :class:`StepOutcome` when the step stops here instead."""
        job_id: str | None = None
        send = step.state == StepState.PLANNED
        if step.state in (StepState.SUBMITTING, StepState.UNKNOWN):
            job_id, send = await self.submitter.resolve_lost(ctx, step)
        sends = 0
        while job_id is None:  # send it (again, after a lost create: a fresh identity)
            if not send or not self.options.creates:
                return StepOutcome.PENDING
            if sends > AUTO_RESUBMITS:
                await self.submitter.mark_unknown(
                    ctx,
                    step,
                    f"{sends} creates in a row got no answer and were not found after; "
                    "the next run searches and sends it again",
                )
                return StepOutcome.PENDING
            if not reservation.covers(step.step_id):
                self.guard.extend(reservation, step.estimate_usd, step=step.step_id)
            elif step.submitting_at is not None:  # a lost create's money is held already
                self.guard.check_within_cap()
            if self.refusal.first is not None:
                raise self.refusal.first
            try:
                await self.submitter.mark_submitting(ctx, step)
            except CreateHeldError:  # the key went with the write: another process has it
                self.submitter.leave_to_holder(ctx, step)
                return StepOutcome.PENDING
            sends += 1
            job_id = await self.submitter.create(ctx, step)
            if job_id is None and step.state == StepState.PLANNED:
                return StepOutcome.PENDING  # refused before anything was made
            if job_id is None and step.state != StepState.UNKNOWN:
                return StepOutcome.FAILED
            if job_id is None:
                job_id, send = await self.submitter.resolve_lost(ctx, step)
        return job_id
