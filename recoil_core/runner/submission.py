"""Sending a step's create and settling one whose answer was lost.

``submitting`` (with a fresh request key) is persisted before the create; the job id as
soon as it answers. A create that may or may not have reached the provider is looked up
by its request key, never repeated blindly: when two searches at least the provider's
consistency window apart both miss, it may be sent again with a fresh key; a person is
asked only when the provider cannot search or the create is older than what it lists.

A backend shared by several processes may offer a create guard
(:class:`~recoil_core.persistence.protocol.CreateGuard`): a step's create is then sent,
searched for or sent again only by the process holding its key, and a process that
finds the key held by another live process (one paused between ``submitting`` and its
create, say) leaves the step to it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from recoil_core.errors import (
    AuthenticationFailed,
    LookupAmbiguous,
    ProviderError,
    ProviderRejected,
    RateLimited,
    RecoilError,
)
from recoil_core.model import StepState, WorkflowStep, new_identity, seed_for, utc_now
from recoil_core.persistence.protocol import CreateGuard
from recoil_core.runner.context import (
    DispatchOptions,
    Refusal,
    TakeContext,
    request_for,
)
from recoil_core.runner.finishing import fail_step
from recoil_core.runner.journal import Journal
from recoil_core.runner.polling import seconds_since
from recoil_core.runner.providers import ProviderPool
from recoil_core.takes import Event, Unwritten, advance

log = logging.getLogger(__name__)


class Submitter:
    """Creates a step's provider job once, and finds it again when the answer was lost."""

    def __init__(
        self,
        *,
        pool: ProviderPool,
        options: DispatchOptions,
        journal: Journal,
        refusal: Refusal,
        sleep: Callable[[float], Awaitable[Any]],
        create_guard: CreateGuard | None = None,
    ) -> None:
        self.pool = pool
        self.options = options
        self.journal = journal
        self.refusal = refusal
        self.sleep = sleep
        self.create_guard = create_guard
        self.held: set[str] = set()
        self.busy: set[str] = set()
        """Steps left to another live process holding their create's key (this run)."""
        self.person_checked: set[tuple[str, str]] = set()
        """Steps that were ``unknown`` when this run resumed them, with --resubmit-unknown:
        the ones a person checked. A create lost during this run is not among them."""

    async def own_create(self, ctx: TakeContext, step: WorkflowStep) -> bool:
        """Hold the step's create key before sending or settling its create: False when
        another live process holds it (it may be about to send that create), and the step
        is then left as it is. The guard is asked on a thread: it may be a database round
        trip, which must not stall the other takes."""
        if self.create_guard is None:
            return True
        key = create_key(ctx, step)
        if key in self.held:
            return True
        defer = getattr(self.create_guard, "defer", None)
        if step.state == StepState.PLANNED and defer is not None and defer(key):
            self.held.add(key)  # taken with the `submitting` write (CreateHeldError if not)
            return True
        if not await asyncio.to_thread(self.create_guard.acquire, key):
            self.leave_to_holder(ctx, step)
            return False
        self.held.add(key)
        return True

    def leave_to_holder(self, ctx: TakeContext, step: WorkflowStep) -> None:
        """Another live process holds the step's create key: leave the step to it (a key
        to be taken with the ``submitting`` write was not taken: it is not held)."""
        key = create_key(ctx, step)
        self.held.discard(key)
        self.busy.add(key)
        ctx.take.attention = (
            f"step {step.step_id}: another live process holds its create (it may be "
            "sending it); left to that process, or to a later run once it has stopped"
        )

    async def let_go(self, ctx: TakeContext, step: WorkflowStep) -> None:
        """Give the step's create key back once its create is settled or left (on a thread,
        which finishes the release even if this run is cancelled meanwhile)."""
        key = create_key(ctx, step)
        if self.create_guard is not None and key in self.held:
            self.held.discard(key)
            await asyncio.to_thread(self.create_guard.release, key)

    async def mark_submitting(self, ctx: TakeContext, step: WorkflowStep) -> None:
        """Draw the create's identity and persist ``submitting`` before the paid call."""
        take = ctx.take
        before = Unwritten(take, step)
        step.request_key = new_identity("rk")
        step.seed = seed_for(step.request_key)
        step.submitting_at = utc_now()
        step.lookup_missed_at = None
        step.error = None
        take.attention = None
        try:
            # CAS: a moved version stops here. Urgent: this take holds a provider slot.
            await self.journal.move(ctx, Event.SUBMIT, step, urgent=True)
        except BaseException:
            before.restore()  # not written, so nothing was sent: as it was before
            raise

    async def create(self, ctx: TakeContext, step: WorkflowStep) -> str | None:
        """Send the create once. The job id, or None: failed (step final), lost
        (``unknown``) or refused before anything was made (step back to ``planned``).

        The provider owns transport retries (bounded, honouring Retry-After): what reaches
        here is its last word, so the kernel retries nothing itself.
        """
        name = step.provider or ""
        provider: Any = self.pool.get(name)
        request = request_for(ctx, step)
        try:
            await self.pool.pace(name)
            if self.refusal.first is not None:  # refused while this take waited: never send
                raise self.refusal.first
            job_id: str = await provider.submit(request)
        except RateLimited as exc:  # nothing was made: the take is not spent on it
            await self.unsend(ctx, step, f"rate limited: {exc}")
            return None
        except AuthenticationFailed as exc:
            refused = self.refusal.note(exc)  # before the save below: no create may leave
            await self.unsend(ctx, step, str(exc))
            raise refused from None
        except ProviderRejected as exc:
            await fail_step(self.journal, ctx, step, str(exc), exc.code)
            return None
        except RecoilError as exc:
            if not isinstance(exc, ProviderError):
                raise
            await self.lost(ctx, step, exc)
            return None
        except Exception as exc:
            log.warning("provider %s raised %r on a create; treating it as lost", name, exc)
            await self.lost(ctx, step, exc)
            return None
        await self.record_job(ctx, step, job_id)
        return job_id

    async def lost(self, ctx: TakeContext, step: WorkflowStep, exc: BaseException) -> None:
        """The create may or may not have reached the provider (a timeout, a dropped
        connection, a 5xx, a provider bug): mark it lost; it is looked up, never repeated."""
        log.info(
            "create for %s/%s ambiguous (%s); looking it up",
            ctx.take.take_id,
            step.step_id,
            type(exc).__name__,
        )
        step.error = f"create answer lost ({exc})"
        await self.journal.move(ctx, Event.LOSE, step)

    async def unsend(self, ctx: TakeContext, step: WorkflowStep, why: str) -> None:
        """The provider refused the create before making anything (credentials, rate
        limit). The step goes back to ``planned``; a take with nothing paid is cancelled
        without using an attempt (a new take replaces it in a later run), one with paid
        steps resumes from here."""
        take = ctx.take
        others_sent = not all(
            s is step or s.state in (StepState.PLANNED, StepState.SKIPPED)
            for s in take.workflow.steps
        )
        previous = advance(take, Event.UNSEND_KEEP if others_sent else Event.UNSEND, step)
        step.submitting_at = None
        step.request_key = None
        take.error = f"{why}; nothing was created: run again to go on"
        await self.journal.persist(ctx, previous)

    async def record_job(self, ctx: TakeContext, step: WorkflowStep, job_id: str) -> None:
        """The provider has the step's job: persist its id before anything polls it."""
        step.job_id = job_id
        step.submitted_at = utc_now()
        step.error = None
        step.lookup_missed_at = None
        ctx.take.attention = None
        await self.journal.move(ctx, Event.ACCEPT, step)

    async def mark_unknown(self, ctx: TakeContext, step: WorkflowStep, reason: str) -> None:
        """Leave a lost create for a person (or a later run): never resubmitted blindly."""
        ctx.take.attention = (
            f"step {step.step_id}: the create may or may not have reached {step.provider} "
            f"and {reason}; it was not sent again. Check the provider's console, then re-run "
            "with --resubmit-unknown to send it again (or run again to search once more)."
        )
        await self.journal.move(ctx, Event.LOSE, step)

    async def resolve_lost(self, ctx: TakeContext, step: WorkflowStep) -> tuple[str | None, bool]:
        """Settle a create whose answer was lost (``submitting`` or ``unknown``):
        ``(job id, False)`` when the provider has the take's job (recorded: never pay
        twice); ``(None, True)`` when it is safe to send it again with a fresh identity
        (two searches at least the provider's consistency window apart both missed, or a
        person asked with ``--resubmit-unknown``); ``(None, False)`` when it stays
        ``unknown`` for a person or a later run (the reason in ``take.attention``)."""
        take = ctx.take
        spec = self.pool.spec(step.provider or "")
        take.attention = None
        checked = (take.take_id, step.step_id)
        if step.state == StepState.UNKNOWN and checked in self.person_checked:
            # a person checked the console and asked for it: one last look, then resend
            # (once: a create lost again in this run is settled like any other)
            self.person_checked.discard(checked)
            found, _settled = await self._lookup(ctx, step, spec.can_find_by_request)
            return found, found is None
        if not spec.can_find_by_request:
            await self.mark_unknown(ctx, step, f"{step.provider} cannot look up a lost create")
            return None, False
        age = seconds_since(step.submitting_at)
        if spec.find_window_s is not None and (age is None or age > spec.find_window_s):
            await self.mark_unknown(
                ctx,
                step,
                f"it was sent longer ago than {step.provider} lists jobs "
                f"({spec.find_window_s / 86400:g} days), so it can no longer be searched for",
            )
            return None, False
        for _look in range(2):
            found, settled = await self._lookup(ctx, step, True)
            if found is not None or not settled:
                return found, False
            resend = self.options.auto_resubmit and self.options.creates
            missed = seconds_since(step.lookup_missed_at)
            if missed is not None and missed >= spec.find_consistency_s:
                if not resend:
                    await self.mark_unknown(ctx, step, "it was not found")
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
                await self.journal.move(ctx, Event.LOSE, step)
                missed = 0.0
            if not resend:
                await self.mark_unknown(ctx, step, "it was not found")
                return None, False
            await self.sleep(max(0.0, spec.find_consistency_s - (missed or 0.0)))
        return None, False

    async def _lookup(
        self, ctx: TakeContext, step: WorkflowStep, can_find: bool
    ) -> tuple[str | None, bool]:
        """Ask the provider for the take's lost create: ``(job id, True)`` when found (and
        recorded), ``(None, True)`` when the provider has no such job, ``(None, False)``
        when its answer cannot settle it (ambiguous, or the search keeps failing): the
        step is then ``unknown`` with the reason in ``take.attention``."""
        if not can_find:
            return None, False
        provider: Any = self.pool.get(step.provider or "")
        request = request_for(ctx, step)
        try:
            with self.pool.guard(step.provider or ""):
                found: str | None = await provider.find(request)  # the provider retries
        except AuthenticationFailed as exc:  # the key is refused: nothing can be settled
            raise self.refusal.note(exc) from None
        except LookupAmbiguous as exc:
            await self.mark_unknown(ctx, step, str(exc))
            return None, False
        except ProviderError as exc:
            await self.mark_unknown(ctx, step, f"the search failed ({exc})")
            return None, False
        if found is not None:
            await self.record_job(ctx, step, found)
        return found, True


def create_key(ctx: TakeContext, step: WorkflowStep) -> str:
    """The key of the step's create in the :class:`CreateGuard` (``take_id/step_id``)."""
    return f"{ctx.take.take_id}/{step.step_id}"
