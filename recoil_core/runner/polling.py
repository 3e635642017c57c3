"""Waiting for a job: poll at the provider's interval until it is final, and what happens
when it outlives the job timeout (cancel only where the provider allows it; otherwise the
take keeps the job, and its bill stays owed)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from recoil_core.contracts.provider import JobStatus
from recoil_core.errors import (
    AuthenticationFailed,
    PluginError,
    ProviderError,
    ProviderUnavailable,
    TaskNotFound,
)
from recoil_core.model import WorkflowStep, as_price
from recoil_core.runner.context import (
    DispatchOptions,
    Refusal,
    TakeContext,
    parse_time,
    request_for,
)
from recoil_core.runner.finishing import fail_step
from recoil_core.runner.journal import Journal
from recoil_core.runner.providers import ProviderPool

log = logging.getLogger(__name__)


def seconds_since(value: str | None) -> float | None:
    """Seconds elapsed since an ISO time a step recorded, or None."""
    moment = parse_time(value)
    return None if moment is None else (datetime.now(moment.tzinfo) - moment).total_seconds()


def remember_request(provider: Any, ctx: TakeContext, step: WorkflowStep) -> None:
    """Tell ``provider`` what the step's job was created from before it is polled, when the
    provider asks to be told (its optional ``remember``; see
    :class:`~recoil_core.contracts.provider.Provider`). A job an earlier process created
    is polled by a provider object that never sent it: a provider whose bill depends on
    the request, which its API no longer shows, prices it from this. What ``remember``
    raises is logged, not fatal: the provider then prices the job as it would unaided."""
    remember = getattr(provider, "remember", None)
    if remember is None or step.job_id is None:
        return
    try:
        remember(step.job_id, request_for(ctx, step))
    except Exception as exc:  # plugin code: its bill falls back to its own rule
        log.warning(
            "provider %r could not take job %s's request: %s", step.provider, step.job_id, exc
        )


class Poller:
    """Follows a submitted job to its final status."""

    def __init__(
        self,
        *,
        pool: ProviderPool,
        options: DispatchOptions,
        journal: Journal,
        refusal: Refusal,
        sleep: Callable[[float], Awaitable[Any]],
    ) -> None:
        self.pool = pool
        self.options = options
        self.journal = journal
        self.refusal = refusal
        self.sleep = sleep

    async def wait(self, ctx: TakeContext, step: WorkflowStep) -> JobStatus | None:
        """Poll until the job is final; ``None`` when the job is gone (step failed) or still
        owed (it outlived the job timeout, or polling keeps failing: the take keeps it)."""
        take = ctx.take
        spec = self.pool.spec(step.provider or "")
        provider: Any = self.pool.get(step.provider or "")
        interval = (
            self.options.poll_interval_s
            if self.options.poll_interval_s is not None
            else spec.limits.poll_interval_s
        )
        timeout = self.options.job_timeout_s or spec.limits.job_timeout_s
        started = parse_time(step.submitted_at) or parse_time(step.submitting_at)
        origin = time.time() - (
            (datetime.now(started.tzinfo) - started).total_seconds() if started else 0.0
        )
        cancel_asked = False
        assert step.job_id is not None
        remember_request(provider, ctx, step)
        while True:
            try:
                with self.pool.guard(step.provider or ""):
                    status: JobStatus = await provider.poll(step.job_id)  # the provider retries
            except AuthenticationFailed as exc:
                raise self.refusal.note(exc) from None
            except TaskNotFound as exc:
                await fail_step(
                    self.journal,
                    ctx,
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
                await self.journal.persist(ctx, take.state.value)
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
                await self.journal.persist(ctx, take.state.value)
                return None
            await self.sleep(interval)
