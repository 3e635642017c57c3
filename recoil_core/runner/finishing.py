"""Finishing a step whose job is final: download its media (a killed run's ``.part`` files
are removed first), place the render, charge the ledger, write the receipt; or record a
failure, charging what a failed job billed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import attrs

from recoil_core.budget import Reservation
from recoil_core.contracts.provider import JobStatus
from recoil_core.errors import OutputExpired, PluginError, ProviderError
from recoil_core.model import (
    ChargeKind,
    GenerationReceipt,
    RunResult,
    Take,
    WorkflowStep,
    as_price,
    utc_now,
)
from recoil_core.registry import Registry
from recoil_core.render import RenderRecord
from recoil_core.runner.accounting import Accountant
from recoil_core.runner.context import DispatchOptions, StepOutcome, TakeContext
from recoil_core.runner.journal import Journal
from recoil_core.runner.providers import ProviderPool, ProviderSlot
from recoil_core.runner.renders import render_media
from recoil_core.takes import Event, advance


async def fail_step(
    journal: Journal,
    ctx: TakeContext,
    step: WorkflowStep,
    error: str,
    code: str | None = None,
    event: Event = Event.STEP_FAIL,
) -> None:
    """End the step as ``event`` says (failed, billed failure, cancelled) and persist it;
    the take itself is settled by the caller once every step is."""
    previous = advance(ctx.take, event, step)
    step.error = f"{code}: {error}" if code and code not in error else error
    step.finished_at = utc_now()
    ctx.take.error = step.error
    await journal.persist(ctx, previous)


def receipt(take: Take, step: WorkflowStep, result: RunResult) -> GenerationReceipt:
    """The receipt of one generation of the take's step."""
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


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


OUTPUT_EXPIRED = "output_expired"
"""The error code of a take whose billed output was deleted before it was downloaded."""


def _span(seconds: float) -> str:
    """``3600`` -> ``1 h``; ``360`` -> ``6 min``; ``90`` -> ``90 s``."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"


class StaleParts:
    """Partial downloads (``.part`` files) killed processes left in a renders folder,
    listed once: per run, or per render node process across the takes it works (a listing
    per take would cost a scan of the whole folder each time)."""

    def __init__(self) -> None:
        self._names: set[str] | None = None

    def take(self, folder: Path, prefix: str) -> list[str]:
        """The listed ``<prefix>*.part`` names, no longer listed (the caller removes them)."""
        if self._names is None:
            try:
                with os.scandir(folder) as entries:
                    self._names = {e.name for e in entries if e.name.endswith(".part")}
            except FileNotFoundError:
                self._names = set()
        found = [
            n for n in self._names if n.startswith(prefix) and n[len(prefix) :].endswith(".part")
        ]
        self._names.difference_update(found)
        return found


class Finisher:
    """Settles steps whose jobs are final: renders and charges, or failures."""

    def __init__(
        self,
        *,
        pool: ProviderPool,
        registry: Registry,
        accountant: Accountant,
        options: DispatchOptions,
        journal: Journal,
    ) -> None:
        self.pool = pool
        self.registry = registry
        self.accountant = accountant
        self.options = options
        self.journal = journal
        self.stale_parts = StaleParts()
        """This run's own listing; a render node hands each take's finisher its own."""
        self._renders_ready = False

    def charge(
        self,
        ctx: TakeContext,
        step: WorkflowStep,
        kind: ChargeKind,
        status: JobStatus,
        reservation: Reservation,
    ) -> None:
        """Append what the provider billed to the ledger: a write, so run it in a batch."""
        self.accountant.charge(
            scene_id=ctx.scene_id,
            beat_id=ctx.beat.beat_id,
            take=ctx.take,
            step=step,
            kind=kind,
            amount=status.cost_usd,
            reservation=reservation,
            price_table=_text(status.metadata.get("price_table")),
        )

    async def success(
        self,
        ctx: TakeContext,
        step: WorkflowStep,
        status: JobStatus,
        reservation: Reservation,
        slot: ProviderSlot,
    ) -> StepOutcome:
        """Download, place and charge a succeeded job; the step is ``succeeded`` only after
        the render and its charge are durable. A failed download leaves it for a re-run."""
        take = ctx.take
        provider: Any = self.pool.get(step.provider or "")
        if not self._renders_ready:
            self.options.renders_dir.mkdir(parents=True, exist_ok=True)
            self._renders_ready = True
        stem = f".{take.take_id}.{step.step_id}"
        # a killed download's .part files (this process's own are removed as they end)
        for stale in self.stale_parts.take(self.options.renders_dir, f"{stem}."):
            (self.options.renders_dir / stale).unlink(missing_ok=True)
        tmp = self.options.renders_dir / f"{stem}.{os.getpid()}.part"
        try:
            with self.pool.guard(step.provider or ""):
                await provider.download(status, tmp)
            slot.release()  # the provider's part is done; the next job may start
        except OutputExpired as exc:
            tmp.unlink(missing_ok=True)
            slot.release()
            expired = self.expired(step, status, exc)
            return await self.failure(ctx, step, expired, reservation)
        except ProviderError as exc:
            tmp.unlink(missing_ok=True)
            take.attention = f"download of job {step.job_id} failed ({exc}); re-run to retry it"
            await self.journal.persist(ctx, take.state.value)
            return StepOutcome.PENDING
        provider_version = self.registry.provider_version(step.provider or "")

        def place_and_charge() -> RenderRecord:
            # One write for both: the render and its charge become durable in the same
            # batch, and the take is marked succeeded only after that (by the caller).
            record = render_media(
                renders_dir=self.options.renders_dir,
                project=self.options.project,
                episode=self.options.episode,
                beat=ctx.beat,
                take=take,
                step=step,
                status=status,
                media=tmp,
                provider_version=provider_version,
            )
            self.charge(ctx, step, ChargeKind.SUCCEEDED, status, reservation)
            return record

        record = await self.journal.write(place_and_charge)
        step.receipt = receipt(
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
        previous = advance(take, Event.STEP_SUCCEED, step)
        if step is take.workflow.steps[-1]:
            # persisted with the take's final state by the executor, one write instead of two
            take.render_path = str(record.path)
            take.sidecar_path = str(record.sidecar_path)
        else:
            await self.journal.persist(ctx, previous)
        return StepOutcome.SUCCEEDED

    def expired(self, step: WorkflowStep, status: JobStatus, exc: OutputExpired) -> JobStatus:
        """The final status of a billed job whose output the provider deleted before it
        could be downloaded: ``expired`` with code ``output_expired``, charging the
        provider's bill (:meth:`failure` records it with :meth:`expired_reason`)."""
        provider = step.provider or ""
        cost = status.cost_usd if exc.cost_usd is None else exc.cost_usd
        if as_price(cost) is None:
            raise PluginError(
                f"provider {provider!r} reports job {step.job_id}'s output expired with a bill "
                f"of {cost!r} USD; a bill must be a finite number >= 0. Nothing was charged; "
                "the take stays submitted and a re-run polls it again."
            )
        return attrs.evolve(
            status,
            state="expired",
            cost_usd=cost,
            media_url=None,
            error_code=OUTPUT_EXPIRED,
            error_message=str(exc),  # failure() gives the reason around it
        )

    def expired_reason(self, step: WorkflowStep, cost: float, said: str | None) -> str:
        """Why a billed take has no render: the provider, the job, the retention the
        provider declares and what the provider said."""
        provider = step.provider or ""
        retention = self.pool.spec(provider).output_retention_s
        kept = (
            f"{provider} keeps outputs {_span(retention)} after a job ends"
            if retention is not None
            else f"{provider} declares no output retention"
        )
        return (
            f"output expired before download: {provider} job {step.job_id} finished and was "
            f"billed ${cost:.4f}, but its output is gone ({kept}); no render was saved and "
            "nothing was retried" + (f". {provider} said: {said}" if said else "")
        )

    async def failure(
        self,
        ctx: TakeContext,
        step: WorkflowStep,
        status: JobStatus,
        reservation: Reservation,
    ) -> StepOutcome:
        """Record a job that ended without success, charging what it billed first."""
        if status.state == "expired" and status.error_code == OUTPUT_EXPIRED:
            reason = self.expired_reason(step, status.cost_usd, status.error_message)
            status = attrs.evolve(status, error_message=reason)
        billed = status.cost_usd > 0
        if billed:  # what the provider billed, in the ledger, durably
            await self.journal.write(
                self.charge, ctx, step, ChargeKind.FAILED_BUT_BILLED, status, reservation
            )
        step.receipt = receipt(
            ctx.take,
            step,
            RunResult(
                success=False,
                cost_usd=status.cost_usd,
                error_code=status.error_code,
                error=status.error_message,
            ),
        )
        event = (
            Event.STEP_FAIL_BILLED
            if billed
            else Event.STEP_CANCEL
            if status.state == "cancelled"
            else Event.STEP_FAIL
        )
        message = status.error_message or f"job ended {status.state}"
        await fail_step(self.journal, ctx, step, message, status.error_code, event)
        return StepOutcome.FAILED
