"""Dispatch: the take state machine that never pays twice.

A take's state is persisted (compare-and-set on the scene's active version) before each
side effect that follows it. A new take is reserved against the budget in memory while it
waits for a provider slot, and first written as ``submitting`` (with its estimate and the
step's seed) in that slot, right before the create; then the job id as soon as it is
known; the render on disk and the charge in the ledger before ``succeeded``. A create
that may or may not have reached the provider is looked up, never repeated; if it cannot
be found the take becomes ``unknown`` and waits for the user.
"""

from __future__ import annotations

import asyncio
import hashlib
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
    PayloadBuildError,
    PluginError,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
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

CREATE_RETRIES = 3
POLL_ERROR_RETRIES = 5


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
    job_timeout_s: float | None = None
    poll_interval_s: float | None = None
    settings: Mapping[str, Any] = attrs.field(factory=dict)


class StepOutcome:
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PENDING = "pending"


def step_seed(take_id: str, step_id: str) -> int:
    """A seed of its own for every take step, so a lost create can be found by (model, seed)."""
    digest = hashlib.sha256(f"{take_id}:{step_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def never_dispatched(take: Take) -> bool:
    """A take cancelled before any paid call (an interrupted run): it used no attempt."""
    return take.state == TakeState.CANCELLED and all(
        s.state in (StepState.PLANNED, StepState.SKIPPED) for s in take.workflow.steps
    )


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

    async def run_beat(self, session: SceneSession, beat: Beat) -> None:
        """Resume the beat's unfinished takes, then make new ones until one succeeds."""
        for take in list(beat.takes):
            if not take.is_final:
                await self.resume_take(session, beat, take)
        if not session.dispatch_new_takes:
            return
        while not beat.succeeded and attempts(beat) < beat.max_takes:
            if any(not t.is_final for t in beat.takes):
                return  # an unknown take waits for the user; never stack a new paid take on it
            await self.new_take(session, beat)

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
        )

    def estimate(self, workflow: Workflow) -> float:
        return estimate_workflow(self.registry, workflow)

    async def new_take(self, session: SceneSession, beat: Beat) -> Take:
        index = len(beat.takes)
        try:
            workflow = self.build(session, beat, index)
        except PayloadBuildError as exc:
            take = beat.new_take(Workflow(workflow_id=f"{beat.beat_id}_take_{index}"))
            take.state = TakeState.BUILD_ERROR
            take.error = str(exc)
            await self.persist(session, beat, take, TakeState.PLANNED.value)
            return take
        estimate = self.estimate(workflow)
        reservation = self.guard.reserve(estimate)  # BudgetExhaustedError: no take is created
        take = beat.new_take(workflow)
        take.estimate_usd = estimate
        for step in workflow.steps:
            step.seed = (
                step.seed if step.seed is not None else step_seed(take.take_id, step.step_id)
            )
        take.state = TakeState.RESERVED
        # Not written yet: a new take is first persisted as ``submitting``, holding its
        # provider slot, right before its paid call. Waiting for the slot has no side
        # effect, and a run stopped before then leaves no take behind.
        self.announce(session, beat, take, TakeState.PLANNED.value)
        await self.execute(session, beat, take, reservation)
        return take

    async def resume_take(self, session: SceneSession, beat: Beat, take: Take) -> None:
        """Pick up a take an earlier process left unfinished; nothing already paid is redone."""
        if take.state in (TakeState.PLANNED, TakeState.RESERVED) and not any(
            s.state not in (StepState.PLANNED, StepState.SKIPPED) for s in take.workflow.steps
        ):
            previous = take.state.value
            take.state = TakeState.CANCELLED
            take.error = "interrupted before any paid call; a new take replaces it"
            await self.persist(session, beat, take, previous)
            return
        reservation = self.guard.force_reserve(
            sum(s.estimate_usd for s in take.workflow.steps if not s.is_final)
        )
        await self.execute(session, beat, take, reservation)

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
                try:
                    outcome = await self.run_step(session, beat, take, step, reservation)
                except AuthenticationFailed:
                    previous = take.state.value
                    take.state = TakeState.FAILED
                    await self.persist(session, beat, take, previous)
                    raise
                if outcome != StepOutcome.SUCCEEDED:
                    break
            if outcome == StepOutcome.PENDING:
                return
            previous = take.state.value
            if outcome == StepOutcome.SUCCEEDED:
                take.state = TakeState.SUCCEEDED
                beat.select_primary()
            elif any(s.state == StepState.FAILED_BUT_BILLED for s in take.workflow.steps):
                take.state = TakeState.FAILED_BUT_BILLED
            else:
                take.state = TakeState.FAILED
            await self.persist(session, beat, take, previous)
        finally:
            self.guard.release(reservation)

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
            seed=step.seed if step.seed is not None else step_seed(take.take_id, step.step_id),
            inputs=inputs,
            submitting_at=_parse_time(step.submitting_at),
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
        provider = self.pool.get(provider_name)
        async with self.pool.slot(provider_name) as slot:
            state = step.state
            if state == StepState.UNKNOWN:
                if not self.options.resubmit_unknown:
                    return StepOutcome.PENDING
                step.error = None
                take.attention = None
                found = await self._find(spec.can_find_by_request, provider, take, step)
                if found is not None:  # it did reach the provider after all: never pay twice
                    state = StepState.SUBMITTED
                    await self._record_job(session, beat, take, step, found)
                else:
                    state = step.state = StepState.PLANNED

            if state == StepState.PLANNED:
                step.submitting_at = utc_now()
                previous = self._set(take, step, StepState.SUBMITTING, TakeState.SUBMITTING)
                # CAS: a moved version stops here. Urgent: this take holds a provider slot.
                await self.persist(session, beat, take, previous, urgent=True)
                job_id = await self._create(session, beat, take, step)
                if job_id is None:
                    return (
                        StepOutcome.PENDING
                        if step.state == StepState.UNKNOWN
                        else (StepOutcome.FAILED)
                    )
            elif state == StepState.SUBMITTING:
                job_id = await self._find(spec.can_find_by_request, provider, take, step)
                if job_id is None:
                    await self._mark_unknown(session, beat, take, step)
                    return StepOutcome.PENDING
                await self._record_job(session, beat, take, step, job_id)

            status = await self._wait(session, beat, take, step)
            if status is None:
                return StepOutcome.FAILED if step.is_final else StepOutcome.PENDING
            if status.state != "succeeded":
                slot.release()  # the provider is done with this job
                return await self._finish_failure(session, beat, take, step, status, reservation)
            if not spec.limits.download_in_slot:
                slot.release()  # the job is done at the provider; its output is fetched elsewhere
            return await self._finish_success(session, beat, take, step, status, reservation, slot)

    async def _create(
        self, session: SceneSession, beat: Beat, take: Take, step: WorkflowStep
    ) -> str | None:
        name = step.provider or ""
        spec = self.pool.spec(name)
        provider = self.pool.get(name)
        request = self._request(take, step)
        for attempt in range(CREATE_RETRIES):
            try:
                await self.pool.pace(name)
                job_id = await provider.submit(request)
            except RateLimited as exc:  # nothing was created: waiting and asking again is safe
                if attempt + 1 < CREATE_RETRIES:
                    await self.sleep(
                        exc.retry_after if exc.retry_after is not None else 2.0**attempt
                    )
                    continue
                await self._fail_step(session, beat, take, step, f"rate limited: {exc}", exc.code)
                return None
            except AuthenticationFailed as exc:
                await self._fail_step(session, beat, take, step, str(exc), exc.code)
                raise
            except ProviderRejected as exc:
                await self._fail_step(session, beat, take, step, str(exc), exc.code)
                return None
            except (ProviderUnavailable, ProviderError, OSError, TimeoutError) as exc:
                # Ambiguous: the create may have reached the provider. Look, never repeat.
                log.info(
                    "create for %s/%s ambiguous (%s); looking it up",
                    take.take_id,
                    step.step_id,
                    type(exc).__name__,
                )
                found = await self._find(spec.can_find_by_request, provider, take, step)
                if found is None:
                    await self._mark_unknown(session, beat, take, step, reason=str(exc))
                    return None
                job_id = found
            await self._record_job(session, beat, take, step, job_id)
            return job_id
        return None

    async def _find(
        self, can_find: bool, provider: Any, take: Take, step: WorkflowStep
    ) -> str | None:
        if not can_find:
            return None
        request = self._request(take, step)
        for attempt in range(POLL_ERROR_RETRIES):
            try:
                found: str | None = await provider.find(request)
                return found
            except ProviderUnavailable:
                await self.sleep(min(30.0, 0.5 * 2**attempt))
            except ProviderError:
                return None
        return None

    async def _record_job(
        self, session: SceneSession, beat: Beat, take: Take, step: WorkflowStep, job_id: str
    ) -> None:
        step.job_id = job_id
        step.submitted_at = utc_now()
        previous = self._set(take, step, StepState.SUBMITTED, TakeState.SUBMITTED)
        await self.persist(session, beat, take, previous)

    async def _mark_unknown(
        self,
        session: SceneSession,
        beat: Beat,
        take: Take,
        step: WorkflowStep,
        reason: str = "",
    ) -> None:
        previous = self._set(take, step, StepState.UNKNOWN, TakeState.UNKNOWN)
        take.attention = (
            f"step {step.step_id}: the create may or may not have reached {step.provider}"
            f"{' (' + reason + ')' if reason else ''} and it could not be found; it was not "
            "resubmitted. Check the provider's console, then re-run with --resubmit-unknown "
            "to submit it again."
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
        """Poll until the job is final; ``None`` when it timed out (step failed) or is pending."""
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
        errors = 0
        assert step.job_id is not None
        while True:
            try:
                status = await provider.poll(step.job_id)
                errors = 0
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
                errors += 1
                if errors > POLL_ERROR_RETRIES:
                    take.attention = (
                        f"polling {step.job_id} keeps failing ({exc}); re-run to resume"
                    )
                    await self.persist(session, beat, take, take.state.value)
                    return None
                await self.sleep(min(30.0, 0.5 * 2**errors))
                continue
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
                try:
                    await provider.cancel(step.job_id)
                except ProviderError as exc:
                    log.info("cancel of %s failed: %s", step.job_id, exc)
                await self._fail_step(
                    session,
                    beat,
                    take,
                    step,
                    f"job {step.job_id} did not finish within {timeout:.0f}s; "
                    "cancelled, nothing charged",
                    "timeout",
                )
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
