"""Dispatch: the take state machine that never pays twice.

A take's state is persisted (compare-and-set on the scene's active version) before each
side effect that follows it. A new take is reserved against the budget in memory while it
waits for a provider slot, and first written as ``submitting`` (with its estimate, a fresh
request key and the seed derived from it) in that slot, right before the create; then the
job id as soon as it is known; the render on disk and the charge in the ledger before
``succeeded``.

A take owns exactly its own provider job:

- A create that may or may not have reached the provider is looked up by the take's
  request key, never repeated blindly. When two searches at least the provider's
  consistency window apart both miss, it is resubmitted with a fresh key (inside the
  budget); a person is asked only when the provider cannot search or the create is older
  than what it can list.
- A bill is owed until the provider says the job is final. A job that outlives the job
  timeout is cancelled only in a state the provider declares cancellable; otherwise it
  stays the take's, its reservation stays held, and the next run (or ``recoil
  reconcile``) follows it to the end and charges what it billed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import attrs

from recoil_core.budget import BudgetGuard, Reservation
from recoil_core.convert import converter
from recoil_core.errors import (
    AuthenticationFailed,
    LookupAmbiguous,
    PayloadBuildError,
    PluginError,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
    RecoilError,
    TaskNotFound,
)
from recoil_core.interfaces import JobStatus, SceneEvent, SubmitRequest, TakeEvent
from recoil_core.model import (
    Beat,
    CanonicalPlan,
    ChargeKind,
    GenerationReceipt,
    RunResult,
    Scene,
    StepState,
    Take,
    TakeState,
    Workflow,
    WorkflowStep,
    as_price,
    new_identity,
    seed_for,
    utc_now,
)
from recoil_core.persistence.protocol import PersistenceBackend
from recoil_core.registry import Registry
from recoil_core.render import RenderRecord
from recoil_core.runner.accounting import Accountant
from recoil_core.runner.providers import ProviderPool, ProviderSlot
from recoil_core.runner.renders import render_media
from recoil_core.runner.workflows import build_workflow, estimate_workflow
from recoil_core.runner.writer import BatchWriter

log = logging.getLogger(__name__)

T = TypeVar("T")


@attrs.define
class SceneSession:
    """A scene being run: the active version it was loaded at, and whether it may grow takes."""

    scene: Scene
    version: int
    dispatch_new_takes: bool = True
    needs_create: bool = False
    """A new scene not written yet: its first save creates it as version 1."""
    lock: asyncio.Lock = attrs.field(factory=asyncio.Lock, eq=False, repr=False)


@attrs.frozen
class DispatchOptions:
    project: str
    episode: str
    video_provider: str
    image_provider: str | None
    renders_dir: Path
    resubmit_unknown: bool = False
    auto_resubmit: bool = True
    """Resubmit a lost create by itself once the provider's search has missed it twice."""
    creates: bool = True
    """False (``recoil reconcile``): follow jobs the takes own, never create one."""
    job_timeout_s: float | None = None
    poll_interval_s: float | None = None
    settings: Mapping[str, Any] = attrs.field(factory=dict)


class StepOutcome:
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PENDING = "pending"


AUTO_RESUBMITS = 3
"""Lost creates a step resubmits by itself in one run before it waits for the next run."""

OWED_STEP_STATES = frozenset({StepState.SUBMITTING, StepState.SUBMITTED, StepState.UNKNOWN})
"""Step states in which the provider may hold (and bill) a job of the take's."""


def owes(take: Take) -> bool:
    """Whether a provider may still bill this take for a job it has not been charged for."""
    return any(step.state in OWED_STEP_STATES for step in take.workflow.steps)


def owed_estimate(take: Take) -> float:
    """What the take's possibly billable jobs are estimated at (its unfinished steps)."""
    return sum(s.estimate_usd for s in take.workflow.steps if s.state in OWED_STEP_STATES)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _seconds_since(value: str | None) -> float | None:
    moment = _parse_time(value)
    return None if moment is None else (datetime.now(moment.tzinfo) - moment).total_seconds()


def nothing_sent(take: Take) -> bool:
    """Whether no step of the take was ever sent to a provider (all planned or skipped)."""
    return all(s.state in (StepState.PLANNED, StepState.SKIPPED) for s in take.workflow.steps)


def never_dispatched(take: Take) -> bool:
    """A take cancelled before any paid call (an interrupted run): it used no attempt."""
    return take.state == TakeState.CANCELLED and nothing_sent(take)


def attempts(beat: Beat) -> int:
    """Takes that count against ``max_takes``: all but those that never reached a provider."""
    return sum(1 for take in beat.takes if not never_dispatched(take))


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


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
    ) -> None:
        self.backend = backend
        self.registry = registry
        self.pool = pool
        self.guard = guard
        self.accountant = accountant
        self.plan = plan
        self.options = options
        self.sleep: Callable[[float], Any] = asyncio.sleep
        self._writer = BatchWriter(
            getattr(backend, "write_batch", None),
            inline=bool(getattr(backend, "inline_write_batches", False)),
        )
        self._parts: set[str] | None = None
        self._renders_ready = False
        self.refused: AuthenticationFailed | None = None
        """The first refusal of the credentials: once seen, no create leaves this run."""
        self._person_checked: set[tuple[str, str]] = set()
        """Steps that were ``unknown`` when this run resumed them, with --resubmit-unknown:
        the ones a person checked. A create lost during this run is not among them."""

    def _stale_parts(self, prefix: str) -> list[str]:
        """Partial downloads (``<prefix>*.part``) an earlier, killed run left in the renders
        folder; listed once per run (this run's own are removed as they finish)."""
        if self._parts is None:
            try:
                with os.scandir(self.options.renders_dir) as entries:
                    self._parts = {e.name for e in entries if e.name.endswith(".part")}
            except FileNotFoundError:
                self._parts = set()
        found = [
            n for n in self._parts if n.startswith(prefix) and n[len(prefix) :].endswith(".part")
        ]
        self._parts.difference_update(found)
        return found

    # ------------------------------------------------------------------ persistence

    def close(self) -> None:
        """Finish the writes handed over and stop the writer."""
        self._writer.close()

    async def write(
        self, function: Callable[..., T], /, *args: Any, urgent: bool = False, **kwargs: Any
    ) -> T:
        """Run blocking writes in the writer's next batch; return once they are durable.

        Every write (scene saves, renders, ledger appends) goes to one writer, which
        commits those that queued up together in one batch (see
        :mod:`recoil_core.runner.writer`), so a take's next side effect never starts
        before its state is durable. ``urgent`` writes go first.
        """
        return await self._writer.call(function, *args, urgent=urgent, **kwargs)

    async def persist(
        self,
        session: SceneSession,
        beat: Beat,
        take: Take,
        previous: str | None,
        *,
        urgent: bool = False,
    ) -> None:
        """Save the scene (compare-and-set on its active version), then tell observers.

        Other takes keep going while the write waits for its batch; saves of one scene are
        serialised and each writes the scene as it was when its turn came. ``urgent``: a
        held provider slot waits on this save (``submitting``), so it is written first.
        """
        take.updated_at = utc_now()
        await self.save(session, urgent=urgent)
        if previous != take.state.value:
            self.announce(session, beat, take, previous)

    def announce(self, session: SceneSession, beat: Beat, take: Take, previous: str | None) -> None:
        """Tell observers the take moved from ``previous`` to its current state."""
        self.registry.notify_take(
            TakeEvent(
                project=self.options.project,
                episode=self.options.episode,
                scene_id=session.scene.scene_id,
                beat_id=beat.beat_id,
                take=take,
                previous_state=previous,
            )
        )

    async def save(self, session: SceneSession, *, urgent: bool = False) -> None:
        """Write the scene: create it if it is new, else compare-and-set its active version."""
        async with session.lock:
            scene = session.scene
            if len(scene.beats) > 1:  # other beats' takes may change it while it is written
                scene = converter.structure(converter.unstructure(scene), Scene)
            if session.needs_create:
                session.version = await self.write(
                    self.backend.create_scene,
                    self.options.project,
                    self.options.episode,
                    scene,
                    urgent=urgent,
                )
                session.needs_create = False
                self.registry.notify_scene(
                    SceneEvent(
                        project=self.options.project,
                        episode=self.options.episode,
                        scene_id=scene.scene_id,
                        kind="created",
                        version=session.version,
                    )
                )
                return
            await self.write(
                self.backend.save_scene,
                self.options.project,
                self.options.episode,
                scene,
                expected_version=session.version,
                urgent=urgent,
            )

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
        while not beat.succeeded and attempts(beat) < beat.max_takes:
            if any(not t.is_final for t in beat.takes):
                return  # an unknown take waits for the user; never stack a new paid take on it
            take = await self.new_take(session, beat)
            if never_dispatched(take):
                return  # the provider refused it before making anything: a later run goes on

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
            take.state = TakeState.BUILD_ERROR
            take.error = str(exc)
            await self.persist(session, beat, take, TakeState.PLANNED.value)
            return take
        estimate = self.estimate(workflow)
        reservation = self.guard.reserve(estimate)  # BudgetExhaustedError: no take is created
        take = beat.new_take(workflow, version=version)
        take.estimate_usd = estimate
        take.state = TakeState.RESERVED
        # Not written yet: a new take is first persisted as ``submitting``, holding its
        # provider slot, right before its paid call. Waiting for the slot has no side
        # effect, and a run stopped before then leaves no take behind.
        self.announce(session, beat, take, TakeState.PLANNED.value)
        await self.execute(session, beat, take, reservation)
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
        if take.state in (TakeState.PLANNED, TakeState.RESERVED) and nothing_sent(take):
            previous = take.state.value
            take.state = TakeState.CANCELLED
            take.error = "interrupted before any paid call; a new take replaces it"
            await self.persist(session, beat, take, previous)
            return
        if reservation is None:
            reservation = self.hold_owed(take)
        if self.options.resubmit_unknown:
            self._person_checked.update(
                (take.take_id, s.step_id)
                for s in take.workflow.steps
                if s.state == StepState.UNKNOWN
            )
        await self.execute(session, beat, take, reservation)

    def hold_owed(self, take: Take) -> Reservation:
        """Hold what an unfinished take's jobs may bill: money already committed at the
        provider, so it counts against the cap before any new take reserves. Steps not
        yet sent are reserved through the cap when they are about to be sent."""
        owed = {s.step_id for s in take.workflow.steps if s.state in OWED_STEP_STATES}
        return self.guard.hold(owed_estimate(take), steps=owed)

    # ------------------------------------------------------------------ takes

    async def execute(
        self, session: SceneSession, beat: Beat, take: Take, reservation: Reservation
    ) -> None:
        try:
            outcome = StepOutcome.SUCCEEDED
            for step in take.workflow.steps:
                if step.is_final:
                    if step.state in (
                        StepState.FAILED,
                        StepState.FAILED_BUT_BILLED,
                        StepState.CANCELLED,
                    ):
                        outcome = StepOutcome.FAILED
                        break
                    continue
                outcome = await self.run_step(session, beat, take, step, reservation)
                if outcome != StepOutcome.SUCCEEDED:
                    break
            if outcome == StepOutcome.PENDING:
                return
            previous = take.state.value
            take.attention = None  # settled: whatever waited on it is over
            if outcome == StepOutcome.SUCCEEDED:
                take.state = TakeState.SUCCEEDED
                beat.select_primary()
            elif any(s.state == StepState.FAILED_BUT_BILLED for s in take.workflow.steps):
                take.state = TakeState.FAILED_BUT_BILLED
            else:
                take.state = TakeState.FAILED
            await self.persist(session, beat, take, previous)
        finally:
            if not owes(take):
                self.guard.release(reservation)
            # else: a job the take owns may still bill; its reservation stays held for the
            # rest of the run (it counts against the cap until the bill is known)

    def _request(self, take: Take, step: WorkflowStep) -> SubmitRequest:
        inputs: dict[str, Path] = {}
        for role, source_id in step.inputs.items():
            source = take.workflow.step(source_id)
            path = source.receipt.run_result.output_path if source.receipt else None
            if path:
                inputs[role] = Path(path)
        return SubmitRequest(
            take_id=take.take_id,
            step_id=step.step_id,
            modality=step.modality,
            model=step.model or "",
            payload=step.payload,
            seed=step.seed if step.seed is not None else -1,
            inputs=inputs,
            submitting_at=_parse_time(step.submitting_at),
            request_key=step.request_key or "",
        )

    def _set(self, take: Take, step: WorkflowStep, state: StepState, take_state: TakeState) -> str:
        previous = take.state.value
        step.state = state
        take.state = take_state
        return previous

    async def run_step(
        self,
        session: SceneSession,
        beat: Beat,
        take: Take,
        step: WorkflowStep,
        reservation: Reservation,
    ) -> str:
        provider_name = step.provider or self.options.video_provider
        step.provider = provider_name
        spec = self.pool.spec(provider_name)
        async with self.pool.slot(provider_name) as slot:
            job_id = step.job_id if step.state == StepState.SUBMITTED else None
            send = step.state == StepState.PLANNED
            if step.state in (StepState.SUBMITTING, StepState.UNKNOWN):
                job_id, send = await self._resolve_lost(session, beat, take, step)
            sends = 0
            while job_id is None:  # send it (again, after a lost create: a fresh identity)
                if not send or not self.options.creates:
                    return StepOutcome.PENDING
                if sends > AUTO_RESUBMITS:
                    await self._mark_unknown(
                        session,
                        beat,
                        take,
                        step,
                        f"{sends} creates in a row got no answer and were not found after; "
                        "the next run searches and sends it again",
                    )
                    return StepOutcome.PENDING
                if not reservation.covers(step.step_id):
                    self.guard.extend(reservation, step.estimate_usd, step=step.step_id)
                elif step.submitting_at is not None:  # a lost create's money is held already
                    self.guard.check_within_cap()
                if self.refused is not None:
                    raise self.refused
                await self._mark_submitting(session, beat, take, step)
                sends += 1
                job_id = await self._create(session, beat, take, step)
                if job_id is None and step.state == StepState.PLANNED:
                    return StepOutcome.PENDING  # refused before anything was made
                if job_id is None and step.state != StepState.UNKNOWN:
                    return StepOutcome.FAILED
                if job_id is None:
                    job_id, send = await self._resolve_lost(session, beat, take, step)

            status = await self._wait(session, beat, take, step)
            if status is None:
                return StepOutcome.FAILED if step.is_final else StepOutcome.PENDING
            if status.state != "succeeded":
                slot.release()  # the provider is done with this job
                return await self._finish_failure(session, beat, take, step, status, reservation)
            if not spec.limits.download_in_slot:
                slot.release()  # the job is done at the provider; its output is fetched elsewhere
            return await self._finish_success(session, beat, take, step, status, reservation, slot)

    async def _mark_submitting(
        self, session: SceneSession, beat: Beat, take: Take, step: WorkflowStep
    ) -> None:
        """Draw the create's identity and persist ``submitting`` before the paid call."""
        step.request_key = new_identity("rk")
        step.seed = seed_for(step.request_key)
        step.submitting_at = utc_now()
        step.lookup_missed_at = None
        step.error = None
        take.attention = None
        previous = self._set(take, step, StepState.SUBMITTING, TakeState.SUBMITTING)
        try:
            # CAS: a moved version stops here. Urgent: this take holds a provider slot.
            await self.persist(session, beat, take, previous, urgent=True)
        except BaseException:
            step.state = StepState.PLANNED  # not written, so nothing was sent
            raise

    async def _create(
        self, session: SceneSession, beat: Beat, take: Take, step: WorkflowStep
    ) -> str | None:
        """Send the create once. The job id, or None: failed (step final), lost
        (``unknown``) or refused before anything was made (step back to ``planned``).

        The provider owns transport retries (bounded, honouring Retry-After): what reaches
        here is its last word, so the kernel retries nothing itself.
        """
        name = step.provider or ""
        provider = self.pool.get(name)
        request = self._request(take, step)
        try:
            await self.pool.pace(name)
            if self.refused is not None:  # refused while this take waited: never send
                raise self.refused
            job_id = await provider.submit(request)
        except RateLimited as exc:  # nothing was made: the take is not spent on it
            await self._unsend(session, beat, take, step, f"rate limited: {exc}")
            return None
        except AuthenticationFailed as exc:
            refused = self._refuse(exc)  # before the save below: no create may leave meanwhile
            await self._unsend(session, beat, take, step, str(exc))
            raise refused from None
        except ProviderRejected as exc:
            await self._fail_step(session, beat, take, step, str(exc), exc.code)
            return None
        except RecoilError as exc:
            if not isinstance(exc, ProviderError):
                raise
            await self._lost(session, beat, take, step, exc)
            return None
        except Exception as exc:
            log.warning("provider %s raised %r on a create; treating it as lost", name, exc)
            await self._lost(session, beat, take, step, exc)
            return None
        await self._record_job(session, beat, take, step, job_id)
        return job_id

    def _refuse(self, exc: AuthenticationFailed) -> AuthenticationFailed:
        """Note the run's first refusal of the credentials (no create leaves the run after
        it, see ``self.refused``) and return it, to raise."""
        self.refused = self.refused or exc
        return self.refused

    async def _lost(
        self, session: SceneSession, beat: Beat, take: Take, step: WorkflowStep, exc: BaseException
    ) -> None:
        """The create may or may not have reached the provider (a timeout, a dropped
        connection, a 5xx, a provider bug): mark it lost; it is looked up, never repeated."""
        log.info(
            "create for %s/%s ambiguous (%s); looking it up",
            take.take_id,
            step.step_id,
            type(exc).__name__,
        )
        step.error = f"create answer lost ({exc})"
        previous = self._set(take, step, StepState.UNKNOWN, TakeState.UNKNOWN)
        await self.persist(session, beat, take, previous)

    async def _unsend(
        self, session: SceneSession, beat: Beat, take: Take, step: WorkflowStep, why: str
    ) -> None:
        """The provider refused the create before making anything (credentials, rate
        limit). The step goes back to ``planned``; a take with nothing paid is cancelled
        without using an attempt (a new take replaces it in a later run), one with paid
        steps resumes from here."""
        previous = take.state.value
        step.state = StepState.PLANNED
        step.submitting_at = None
        step.request_key = None
        take.state = TakeState.CANCELLED if nothing_sent(take) else TakeState.RESERVED
        take.error = f"{why}; nothing was created: run again to go on"
        await self.persist(session, beat, take, previous)

    async def _resolve_lost(
        self, session: SceneSession, beat: Beat, take: Take, step: WorkflowStep
    ) -> tuple[str | None, bool]:
        """Settle a create whose answer was lost (``submitting`` or ``unknown``):
        ``(job id, False)`` when the provider has the take's job (recorded: never pay
        twice); ``(None, True)`` when it is safe to send it again with a fresh identity
        (two searches at least the provider's consistency window apart both missed, or a
        person asked with ``--resubmit-unknown``); ``(None, False)`` when it stays
        ``unknown`` for a person or a later run (the reason in ``take.attention``)."""
        spec = self.pool.spec(step.provider or "")
        provider = self.pool.get(step.provider or "")
        take.attention = None
        checked = (take.take_id, step.step_id)
        if step.state == StepState.UNKNOWN and checked in self._person_checked:
            # a person checked the console and asked for it: one last look, then resend
            # (once: a create lost again in this run is settled like any other)
            self._person_checked.discard(checked)
            found, _settled = await self._lookup(
                session, beat, take, step, provider, spec.can_find_by_request
            )
            return found, found is None
        if not spec.can_find_by_request:
            await self._mark_unknown(
                session, beat, take, step, f"{step.provider} cannot look up a lost create"
            )
            return None, False
        age = _seconds_since(step.submitting_at)
        if spec.find_window_s is not None and (age is None or age > spec.find_window_s):
            await self._mark_unknown(
                session,
                beat,
                take,
                step,
                f"it was sent longer ago than {step.provider} lists jobs "
                f"({spec.find_window_s / 86400:g} days), so it can no longer be searched for",
            )
            return None, False
        for _look in range(2):
            found, settled = await self._lookup(session, beat, take, step, provider, True)
            if found is not None or not settled:
                return found, False
            resend = self.options.auto_resubmit and self.options.creates
            missed = _seconds_since(step.lookup_missed_at)
            if missed is not None and missed >= spec.find_consistency_s:
                if not resend:
                    await self._mark_unknown(session, beat, take, step, "it was not found")
                    return None, False
                log.info(
                    "create for %s/%s was not found twice %.1fs apart; sending it again",
                    take.take_id,
                    step.step_id,
                    missed,
                )
                return None, True
            if step.lookup_missed_at is None:  # the first miss, durably: a kill keeps it
                step.lookup_missed_at = utc_now()
                previous = self._set(take, step, StepState.UNKNOWN, TakeState.UNKNOWN)
                await self.persist(session, beat, take, previous)
                missed = 0.0
            if not resend:
                await self._mark_unknown(session, beat, take, step, "it was not found")
                return None, False
            await self.sleep(max(0.0, spec.find_consistency_s - (missed or 0.0)))
        return None, False

    async def _lookup(
        self,
        session: SceneSession,
        beat: Beat,
        take: Take,
        step: WorkflowStep,
        provider: Any,
        can_find: bool,
    ) -> tuple[str | None, bool]:
        """Ask the provider for the take's lost create: ``(job id, True)`` when found (and
        recorded), ``(None, True)`` when the provider has no such job, ``(None, False)``
        when its answer cannot settle it (ambiguous, or the search keeps failing): the
        step is then ``unknown`` with the reason in ``take.attention``."""
        if not can_find:
            return None, False
        request = self._request(take, step)
        try:
            with self.pool.guard(step.provider or ""):
                found: str | None = await provider.find(request)  # the provider retries
        except AuthenticationFailed as exc:  # the key is refused: nothing can be settled
            raise self._refuse(exc) from None
        except LookupAmbiguous as exc:
            await self._mark_unknown(session, beat, take, step, str(exc))
            return None, False
        except ProviderError as exc:
            await self._mark_unknown(session, beat, take, step, f"the search failed ({exc})")
            return None, False
        if found is not None:
            await self._record_job(session, beat, take, step, found)
        return found, True

    async def _record_job(
        self, session: SceneSession, beat: Beat, take: Take, step: WorkflowStep, job_id: str
    ) -> None:
        step.job_id = job_id
        step.submitted_at = utc_now()
        step.error = None
        step.lookup_missed_at = None
        take.attention = None
        previous = self._set(take, step, StepState.SUBMITTED, TakeState.SUBMITTED)
        await self.persist(session, beat, take, previous)

    async def _mark_unknown(
        self,
        session: SceneSession,
        beat: Beat,
        take: Take,
        step: WorkflowStep,
        reason: str,
    ) -> None:
        """Leave a lost create for a person (or a later run): never resubmitted blindly."""
        previous = self._set(take, step, StepState.UNKNOWN, TakeState.UNKNOWN)
        take.attention = (
            f"step {step.step_id}: the create may or may not have reached {step.provider} "
            f"and {reason}; it was not sent again. Check the provider's console, then re-run "
            "with --resubmit-unknown to send it again (or run again to search once more)."
        )
        await self.persist(session, beat, take, previous)

    async def _fail_step(
        self,
        session: SceneSession,
        beat: Beat,
        take: Take,
        step: WorkflowStep,
        error: str,
        code: str | None = None,
        state: StepState = StepState.FAILED,
    ) -> None:
        step.error = f"{code}: {error}" if code and code not in error else error
        step.finished_at = utc_now()
        step.state = state
        take.error = step.error
        await self.persist(session, beat, take, take.state.value)

    async def _wait(
        self, session: SceneSession, beat: Beat, take: Take, step: WorkflowStep
    ) -> JobStatus | None:
        """Poll until the job is final; ``None`` when the job is gone (step failed) or still
        owed (it outlived the job timeout, or polling keeps failing: the take keeps it)."""
        spec = self.pool.spec(step.provider or "")
        provider = self.pool.get(step.provider or "")
        interval = (
            self.options.poll_interval_s
            if self.options.poll_interval_s is not None
            else spec.limits.poll_interval_s
        )
        timeout = self.options.job_timeout_s or spec.limits.job_timeout_s
        started = _parse_time(step.submitted_at) or _parse_time(step.submitting_at)
        origin = time.time() - (
            (datetime.now(started.tzinfo) - started).total_seconds() if started else 0.0
        )
        cancel_asked = False
        assert step.job_id is not None
        while True:
            try:
                with self.pool.guard(step.provider or ""):
                    status = await provider.poll(step.job_id)  # the provider retries
            except AuthenticationFailed as exc:
                raise self._refuse(exc) from None
            except TaskNotFound as exc:
                await self._fail_step(
                    session,
                    beat,
                    take,
                    step,
                    f"job {step.job_id} is unknown to {step.provider}: {exc}",
                    "task_not_found",
                )
                return None
            except ProviderUnavailable as exc:
                take.attention = (
                    f"polling {step.job_id} failed after the provider's retries ({exc}); it is "
                    "still billable: run again or `recoil reconcile` to follow it"
                )
                await self.persist(session, beat, take, take.state.value)
                return None
            if status.is_final:
                if as_price(status.cost_usd) is None:
                    # unreadable: charging it could pass the cap (NaN compares false)
                    raise PluginError(
                        f"provider {step.provider!r} reports job {step.job_id} "
                        f"{status.state} with a bill of {status.cost_usd!r} USD; a bill must "
                        "be a finite number >= 0. Nothing was charged; the take stays "
                        "submitted and a re-run polls it again."
                    )
                return status
            if time.time() - origin > timeout:
                if status.state in spec.cancellable_states and not cancel_asked:
                    # only where the provider stops it before billing (Ark: queued);
                    # its final state, cancelled or not, comes from the next poll
                    cancel_asked = True
                    try:
                        await provider.cancel(step.job_id)
                    except ProviderError as exc:
                        log.info("cancel of %s refused: %s", step.job_id, exc)
                    await self.sleep(interval)
                    continue
                why = (
                    "it did not stop when cancelled"
                    if cancel_asked
                    else f"a {status.state} job cannot be cancelled there"
                )
                take.attention = (
                    f"job {step.job_id} was still {status.state} at {step.provider} after "
                    f"{timeout:g}s and {why}, so it is billed when it finishes: its estimate "
                    "stays held against the budget, and `recoil reconcile` or the next run "
                    "follows it to the end and charges it"
                )
                await self.persist(session, beat, take, take.state.value)
                return None
            await self.sleep(interval)

    def _charge(
        self,
        session: SceneSession,
        beat: Beat,
        take: Take,
        step: WorkflowStep,
        kind: ChargeKind,
        status: JobStatus,
        reservation: Reservation,
    ) -> None:
        """Append what the provider billed to the ledger: a write, so run it in a batch."""
        self.accountant.charge(
            scene_id=session.scene.scene_id,
            beat_id=beat.beat_id,
            take=take,
            step=step,
            kind=kind,
            amount=status.cost_usd,
            reservation=reservation,
            price_table=_text(status.metadata.get("price_table")),
        )

    async def _finish_success(
        self,
        session: SceneSession,
        beat: Beat,
        take: Take,
        step: WorkflowStep,
        status: JobStatus,
        reservation: Reservation,
        slot: ProviderSlot,
    ) -> str:
        provider = self.pool.get(step.provider or "")
        if not self._renders_ready:
            self.options.renders_dir.mkdir(parents=True, exist_ok=True)
            self._renders_ready = True
        stem = f".{take.take_id}.{step.step_id}"
        for stale in self._stale_parts(f"{stem}."):  # a killed run's download
            (self.options.renders_dir / stale).unlink(missing_ok=True)
        tmp = self.options.renders_dir / f"{stem}.{os.getpid()}.part"
        try:
            with self.pool.guard(step.provider or ""):
                await provider.download(status, tmp)
            slot.release()  # the provider's part is done; the next job may start
        except ProviderError as exc:
            tmp.unlink(missing_ok=True)
            take.attention = f"download of job {step.job_id} failed ({exc}); re-run to retry it"
            await self.persist(session, beat, take, take.state.value)
            return StepOutcome.PENDING
        provider_version = self.registry.provider_version(step.provider or "")

        def place_and_charge() -> RenderRecord:
            # One write for both: the render and its charge become durable in the same
            # batch, and the take is marked succeeded only after that (by the caller).
            record = render_media(
                renders_dir=self.options.renders_dir,
                project=self.options.project,
                episode=self.options.episode,
                beat=beat,
                take=take,
                step=step,
                status=status,
                media=tmp,
                provider_version=provider_version,
            )
            self._charge(session, beat, take, step, ChargeKind.SUCCEEDED, status, reservation)
            return record

        record = await self.write(place_and_charge)
        step.receipt = _receipt(
            take,
            step,
            RunResult(
                success=True,
                output_path=str(record.path),
                output_sha256=record.sha256,
                cost_usd=status.cost_usd,
            ),
        )
        step.finished_at = utc_now()
        step.state = StepState.SUCCEEDED
        if step is take.workflow.steps[-1]:
            # persisted with the take's final state by execute(), one write instead of two
            take.render_path = str(record.path)
            take.sidecar_path = str(record.sidecar_path)
        else:
            await self.persist(session, beat, take, take.state.value)
        return StepOutcome.SUCCEEDED

    async def _finish_failure(
        self,
        session: SceneSession,
        beat: Beat,
        take: Take,
        step: WorkflowStep,
        status: JobStatus,
        reservation: Reservation,
    ) -> str:
        billed = status.cost_usd > 0
        if billed:
            await self.write(  # what the provider billed, in the ledger, durably
                self._charge,
                session,
                beat,
                take,
                step,
                ChargeKind.FAILED_BUT_BILLED,
                status,
                reservation,
            )
        step.receipt = _receipt(
            take,
            step,
            RunResult(
                success=False,
                cost_usd=status.cost_usd,
                error_code=status.error_code,
                error=status.error_message,
            ),
        )
        state = (
            StepState.FAILED_BUT_BILLED
            if billed
            else StepState.CANCELLED
            if status.state == "cancelled"
            else StepState.FAILED
        )
        message = status.error_message or f"job ended {status.state}"
        await self._fail_step(session, beat, take, step, message, status.error_code, state)
        return StepOutcome.FAILED


def _receipt(take: Take, step: WorkflowStep, result: RunResult) -> GenerationReceipt:
    return GenerationReceipt(
        receipt_id=f"rcpt_{take.take_id}_{step.step_id}",
        take_id=take.take_id,
        step_id=step.step_id,
        modality=step.modality,
        provider=step.provider or "",
        model=step.model or "",
        job_id=step.job_id,
        timestamp_utc=utc_now(),
        run_result=result,
    )
