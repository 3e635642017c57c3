"""A dry run: what each beat's next take would dispatch and cost, writing nothing.

Preflight has already refused any unit the provider cannot render; a unit rounded up to
a clip length its model renders is said here (:mod:`recoil_core.runner.capabilities`)."""

from __future__ import annotations

from collections.abc import Sequence

from recoil_core.runner.capabilities import check_beat
from recoil_core.runner.dispatch import SceneSession, TakeExecutor, attempts
from recoil_core.runner.reconcile import Reconciled
from recoil_core.runner.report import PlannedStep, PlannedTake, RunReport, scene_summary


def plan_dry_run(
    executor: TakeExecutor, reconciled: Sequence[Reconciled], report: RunReport
) -> None:
    """Fill ``report`` with the scenes and the takes a run would start."""
    for item in reconciled:
        report.scenes.append(scene_summary(item.scene, item.version, item.action.value))
        if not item.dispatch_new_takes:
            continue
        session = SceneSession(item.scene, item.version or 0)
        for beat in item.scene.beats:
            if attempts(beat) >= beat.max_takes:
                continue
            if beat.succeeded and not executor.retakes_owed(session, beat):
                continue  # done, and no reviewer asked for a retake
            check = check_beat(
                executor.registry,
                executor.plan,
                beat,
                provider=executor.options.video_provider,
            )
            if (notice := check.notice()) is not None:
                report.notices.append(notice)
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
                        PlannedStep(
                            step_id=s.step_id,
                            modality=s.modality,
                            provider=s.provider,
                            model=s.model,
                            estimate_usd=s.estimate_usd,
                            estimate_source=s.estimate_source,
                        )
                        for s in workflow.steps
                    ],
                    estimate_usd=estimate,
                )
            )
