"""Recovery of what an earlier process left behind: charges the ledger lost (a torn or
edited line) and takes left mid-flight. The take state machine itself is dispatch's."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from recoil_core.model import ChargeKind, Scene, StepState, charge_entry_id
from recoil_core.runner.accounting import Accountant
from recoil_core.runner.dispatch import SceneSession, TakeExecutor

SETTLED_CHARGES = {
    StepState.SUCCEEDED: ChargeKind.SUCCEEDED,
    StepState.FAILED_BUT_BILLED: ChargeKind.FAILED_BUT_BILLED,
}
"""Step states whose bill the ledger must hold, and the kind it is charged as."""


def restore_charges(
    accountant: Accountant, scenes: Sequence[Scene], charged: set[str]
) -> list[str]:
    """Charge again what settled takes were billed but the ledger (whose entry ids are
    ``charged``) no longer holds; returns a notice for each."""
    notices: list[str] = []
    for scene in scenes:
        for beat in scene.beats:
            for take in beat.takes:
                for step in take.workflow.steps:
                    kind = SETTLED_CHARGES.get(step.state)
                    if kind is None:
                        continue
                    if charge_entry_id(take.take_id, step.step_id, kind) in charged:
                        continue
                    entry = accountant.restore(
                        scene_id=scene.scene_id,
                        beat_id=beat.beat_id,
                        take=take,
                        step=step,
                        kind=kind,
                    )
                    if entry is not None:
                        notices.append(
                            f"ledger: the charge of {take.take_id}/{step.step_id} (job "
                            f"{step.job_id}, ${entry.amount_usd:.4f}) was missing (a torn or "
                            "edited line) and was recorded again from the take"
                        )
    return notices


async def resume_stale_takes(
    executor: TakeExecutor, scene: Scene, version: int, *, cutoff: datetime
) -> int:
    """Resume every take of ``scene`` not final and not updated since ``cutoff``; returns
    how many changed state or settled."""
    session = SceneSession(scene, version, dispatch_new_takes=False)
    recovered = 0
    for beat in scene.beats:
        for take in list(beat.takes):
            if take.is_final or datetime.fromisoformat(take.updated_at) > cutoff:
                continue
            before_state = take.state
            await executor.resume_take(session, beat, take)
            if take.state != before_state or take.is_final:
                recovered += 1
    return recovered
