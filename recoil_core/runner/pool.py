"""The worker pool: every beat of a run through the take executor, with bounded
concurrency, a halt on budget or key, and the report's scenes written at the end."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from recoil_core.budget import BudgetGuard
from recoil_core.contracts.gates import SceneEvent
from recoil_core.errors import AuthenticationFailed, BudgetExhaustedError
from recoil_core.events import BeatFinished, ProgressEvent, RunStarted, SceneEventKind
from recoil_core.model import Beat, rendered_shot_ids
from recoil_core.registry import Registry
from recoil_core.runner.accounting import Accountant
from recoil_core.runner.dispatch import SceneSession, TakeExecutor, owes
from recoil_core.runner.reconcile import Reconciled
from recoil_core.runner.report import RunReport, scene_summary


def worker_count(concurrency: int) -> int:
    """Takes in flight for a run of ``concurrency`` (4 or more): that many hold provider job
    slots, a quarter more wait for a slot with their budget reserved (:func:`waiting_room`),
    and the rest finish what a slot was for (download from a provider whose download is
    outside its slot, write the render and charge, then ``succeeded``) or wait to reserve.
    So when a wave of jobs ends together, every freed slot has a take ready for it, and
    no slot waits on a download or the disk. Below 4 there are no extra takes (runs stay
    strictly ordered)."""
    return concurrency * 2 if concurrency >= 4 else concurrency


def waiting_room(concurrency: int) -> asyncio.Semaphore | None:
    """The bound on new takes holding a reservation with no provider slot yet: a quarter of
    ``concurrency`` (none below 4, where there are no extra takes). However many workers a
    run has, no more money than that is set aside for takes that are only waiting."""
    return asyncio.Semaphore(concurrency // 4) if concurrency >= 4 else None


async def dispatch_beats(
    executor: TakeExecutor,
    reconciled: Sequence[Reconciled],
    report: RunReport,
    *,
    registry: Registry,
    guard: BudgetGuard,
    accountant: Accountant,
    concurrency: int,
    progress: Callable[[ProgressEvent], None],
) -> None:
    """Run every beat of ``reconciled`` through ``executor``; fills ``report``. Raises
    :class:`BudgetExhaustedError` or :class:`AuthenticationFailed` after a halt, once the
    takes already in flight are settled."""
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
    queue: list[tuple[SceneSession, Beat]] = [
        (s, b)
        for s in sessions
        for b in s.scene.beats
        if not b.succeeded or any(not t.is_final for t in b.takes) or executor.retakes_owed(s, b)
    ]
    progress(
        RunStarted(beats=len(queue), scenes=len(sessions), cap_usd=guard.cap, spent_usd=guard.spent)
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
    executor.waiting = waiting_room(concurrency)

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
            progress(
                BeatFinished(
                    beat_id=beat.beat_id,
                    succeeded=beat.succeeded,
                    takes=tuple(take.state.value for take in beat.takes),
                    spent_usd=guard.spent,
                    cap_usd=guard.cap,
                )
            )

    workers = [
        asyncio.create_task(worker())
        for _ in range(max(1, min(worker_count(concurrency), len(queue))))
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
        report.charged_usd = accountant.charged_this_run
        report.rendered_shot_ids = rendered_shot_ids(
            before, [b for s in sessions for b in s.scene.beats]
        )
        for item, session in zip(reconciled, sessions, strict=True):
            report.scenes.append(scene_summary(session.scene, session.version, item.action.value))
    for session in sessions:
        done = sum(1 for beat in session.scene.beats if beat.succeeded)
        registry.notify_scene(
            SceneEvent(
                project=report.project,
                episode=report.episode,
                scene_id=session.scene.scene_id,
                kind=SceneEventKind.FINISHED,
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
