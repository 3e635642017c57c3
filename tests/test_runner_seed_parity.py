"""Seed parity for the episode runner (rows S01-S11, S20, S23-S26) through public seams:
in-process plugins (strategies, runners, scripted providers, estimators, observers) and a
real filesystem backend under tmp_path. No private monkeypatching."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest

from recoil_core.errors import (
    BudgetExhaustedError,
    PayloadBuildError,
    SceneVersionConflictError,
)
from recoil_core.interfaces import BuildContext, TakeEvent
from recoil_core.model import (
    Beat,
    CanonicalPlan,
    CanonicalShot,
    ChargeKind,
    CoveragePass,
    CoverageSegment,
    LedgerEntry,
    StepState,
    TakeState,
    Workflow,
    WorkflowStep,
)
from recoil_core.runner.planning import scene_from_group
from recoil_core.testing.doubles import (
    Outcome,
    ScriptedProvider,
    StaticRunner,
    make_plugin,
)
from recoil_core.testing.harness import RunHarness

PROJECT, EPISODE = "p", "EP001"


def shot(shot_id: str, scene_index: int = 1, location: str = "LOC_A") -> CanonicalShot:
    return CanonicalShot(
        shot_id=shot_id,
        sequence_id="SEQ11",
        scene_index=scene_index,
        location_id=location,
        duration_s=2.0,
        shot_type="MS",
        aspect_ratio="9:16",
        video_model="seeddance-2.0",
    )


def plan_of(*shots: CanonicalShot, passes: tuple[CoveragePass, ...] = ()) -> CanonicalPlan:
    return CanonicalPlan(
        project=PROJECT,
        episode_id=EPISODE,
        shots=shots,
        coverage_passes=passes,
        sequence_ids=("SEQ11",),
    )


def two_locations() -> CanonicalPlan:
    return plan_of(shot("EP001_SH01", 1), shot("EP001_SH02", 2, location="LOC_B"))


def same_location() -> CanonicalPlan:
    return plan_of(shot("EP001_SH01", 1), shot("EP001_SH02", 1))


ONE_SCENE_TWO_BEATS = {"min_multi_shots": 3}


def test_s01_scene_from_plan_sequence_has_one_beat_per_shot_and_writes_nothing(tmp_path):
    harness = RunHarness(tmp_path)
    runner = harness.runner(same_location(), strategy_options=ONE_SCENE_TWO_BEATS)
    scenes = runner.derive()
    assert len(scenes) == 1
    assert [b.beat_id for b in scenes[0].beats] == ["EP001_SH01", "EP001_SH02"]
    group = harness.registry.strategy("solo").assemble(same_location().shots, _ctx())[0]
    assert len(scene_from_group(group).beats) == 1
    assert harness.files() == []


def _ctx() -> Any:
    from recoil_core.interfaces import GroupingContext

    return GroupingContext(project=PROJECT, episode=EPISODE, plan=same_location())


def test_s02_dry_run_writes_no_scene_take_or_ledger(tmp_path):
    harness = RunHarness(tmp_path, estimate=0.25)
    report = harness.run(two_locations(), dry_run=True)
    assert harness.files() == []
    assert not harness.projects_root.exists()
    assert harness.provider.submits == []
    assert [p.beat_id for p in report.planned] == ["EP001_SH01", "EP001_SH02"]
    assert report.to_dict()["estimated_usd"] == pytest.approx(0.5)


def test_s03_recover_stale_takes_polls_recorded_jobs_and_never_resubmits(tmp_path):
    provider = ScriptedProvider(Outcome(polls_until_final=1000))
    harness = RunHarness(tmp_path, provider=provider)
    runner = harness.runner(two_locations(), job_timeout_s=3600)

    async def start_and_abandon() -> None:
        # A run that dies while its jobs are still running: cancel it once both are submitted.
        task = asyncio.create_task(runner.run())
        while len(provider.jobs) < 2 or any(provider.polls.get(j, 0) < 1 for j in provider.jobs):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(start_and_abandon())
    scene_ids = harness.backend.list_scenes(PROJECT, EPISODE)
    states = [
        t.state
        for sid in scene_ids
        for b in harness.backend.load_scene(PROJECT, EPISODE, sid).beats
        for t in b.takes
    ]
    assert states == [TakeState.SUBMITTED, TakeState.SUBMITTED]

    provider.script = lambda _r: Outcome()
    for job_id, (request, _old) in list(provider.jobs.items()):
        provider.jobs[job_id] = (request, Outcome())
    recovered = sum(
        asyncio.run(harness.runner(two_locations()).recover_stale_takes(sid)) for sid in scene_ids
    )
    assert recovered == 2
    assert len(provider.submits) == 2, "recovery must poll recorded jobs, never resubmit"
    for sid in scene_ids:
        take = harness.backend.load_scene(PROJECT, EPISODE, sid).beats[0].takes[0]
        assert take.state == TakeState.SUCCEEDED


def test_s04_run_restamps_max_takes_on_existing_scenes_and_persists_it(tmp_path):
    harness = RunHarness(tmp_path, provider=ScriptedProvider(Outcome(state="failed")))
    plan = same_location()
    harness.run(plan, max_takes=1, strategy_options=ONE_SCENE_TWO_BEATS)
    (scene_id,) = harness.backend.list_scenes(PROJECT, EPISODE)
    assert [b.max_takes for b in harness.backend.load_scene(PROJECT, EPISODE, scene_id).beats] == [
        1,
        1,
    ]

    report = harness.run(plan, max_takes=5, strategy_options=ONE_SCENE_TWO_BEATS)
    loaded = harness.backend.load_scene(PROJECT, EPISODE, scene_id)
    assert [b.max_takes for b in loaded.beats] == [5, 5]
    assert [len(b.takes) for b in loaded.beats] == [5, 5]
    assert report.scenes[0].action == "reused"


def _seed_ledger(harness: RunHarness, amount: float) -> None:
    harness.backend.append_ledger(
        LedgerEntry(
            entry_id="earlier:video:succeeded",
            project=PROJECT,
            episode=EPISODE,
            scene_id="S",
            beat_id="B",
            take_id="earlier",
            step_id="video",
            provider="scripted",
            model="m",
            kind=ChargeKind.SUCCEEDED,
            amount_usd=amount,
            job_id="job-0",
        )
    )


def test_s05_budget_reached_halts_before_any_dispatch_and_zero_cap_is_valid(tmp_path):
    harness = RunHarness(tmp_path / "spent", estimate=0.5)
    _seed_ledger(harness, 1.0)
    with pytest.raises(BudgetExhaustedError):
        harness.run(two_locations(), budget_usd=0.0)
    assert harness.provider.submits == []

    free = RunHarness(tmp_path / "free", estimate=0.0)
    report = free.run(two_locations(), budget_usd=0.0)
    assert report.complete
    assert free.provider.created == 2


def test_s06_budget_halt_in_second_unit_carries_shots_rendered_in_this_run(tmp_path):
    harness = RunHarness(tmp_path, provider=ScriptedProvider(Outcome(cost_usd=1.0)), estimate=1.0)
    with pytest.raises(BudgetExhaustedError) as info:
        harness.run(two_locations(), budget_usd=1.5, concurrency=1)
    assert len(harness.backend.list_scenes(PROJECT, EPISODE)) == 2
    assert info.value.rendered_shot_ids == ["EP001_SH01"]
    assert harness.provider.created == 1


def test_s07_partial_multi_beat_scene_stamps_only_the_rendered_beat(tmp_path):
    harness = RunHarness(tmp_path, provider=ScriptedProvider(Outcome(cost_usd=1.0)), estimate=1.0)
    with pytest.raises(BudgetExhaustedError) as info:
        harness.run(
            same_location(), budget_usd=1.5, concurrency=1, strategy_options=ONE_SCENE_TWO_BEATS
        )
    (scene_id,) = harness.backend.list_scenes(PROJECT, EPISODE)
    beats = harness.backend.load_scene(PROJECT, EPISODE, scene_id).beats
    assert [len(b.takes) for b in beats] == [1, 0]
    assert info.value.rendered_shot_ids == ["EP001_SH01"]


def test_s08_budget_halt_before_any_take_stamps_nothing(tmp_path):
    harness = RunHarness(tmp_path, estimate=1.0)
    with pytest.raises(BudgetExhaustedError) as info:
        harness.run(plan_of(shot("EP001_SH01")), budget_usd=0.0)
    assert info.value.rendered_shot_ids == []
    (scene_id,) = harness.backend.list_scenes(PROJECT, EPISODE)
    assert harness.backend.load_scene(PROJECT, EPISODE, scene_id).beats[0].takes == []


def test_s09_budget_exhausted_error_declares_rendered_shot_ids_keyword_field():
    parameters = inspect.signature(BudgetExhaustedError.__init__).parameters
    assert parameters["rendered_shot_ids"].kind is inspect.Parameter.KEYWORD_ONLY
    assert BudgetExhaustedError(remaining=0.0).rendered_shot_ids == []
    assert BudgetExhaustedError(
        remaining=0.0, rendered_shot_ids=["S1", "S2"]
    ).rendered_shot_ids == ["S1", "S2"]


def test_s10_already_complete_scene_contributes_nothing_to_rendered_shots(tmp_path):
    harness = RunHarness(tmp_path, provider=ScriptedProvider(Outcome(cost_usd=1.0)), estimate=1.0)
    harness.run(plan_of(shot("EP001_SH01", 1)), budget_usd=10)
    with pytest.raises(BudgetExhaustedError) as info:
        harness.run(two_locations(), budget_usd=1.5, concurrency=1)
    assert info.value.rendered_shot_ids == []
    assert harness.provider.created == 1


def test_s11_build_error_stub_take_does_not_count_as_rendered(tmp_path):
    def build(beat: Beat, ctx: BuildContext) -> Workflow:
        if beat.beat_id == "EP001_SH01":
            raise PayloadBuildError(beat.beat_id, "start frame missing")
        return StaticRunner("video_i2v").build_workflow(beat, ctx)

    harness = RunHarness(tmp_path, estimate=1.0, runners=[StaticRunner("video_i2v", build=build)])
    with pytest.raises(BudgetExhaustedError) as info:
        harness.run(two_locations(), budget_usd=0.5, concurrency=1)
    assert info.value.rendered_shot_ids == []
    first = harness.backend.load_scene(PROJECT, EPISODE, "BATCH_001").beats[0]
    assert [t.state for t in first.takes] == [TakeState.BUILD_ERROR]


# ---------------------------------------------------------------- S20: candidates


def _pass(**configs: Any) -> CoveragePass:
    return CoveragePass(
        pass_id="EP001_PASS_011_SH01_02_A_ENV",
        episode_id=EPISODE,
        shot_range=("EP001_SH01", "EP001_SH02"),
        label="fixture",
        pass_type="env",
        segments=(
            CoverageSegment(0, "EP001_SH01", "MS", 2, "a"),
            CoverageSegment(1, "EP001_SH02", "MS", 2, "b"),
        ),
        **configs,
    )


def test_s20_changed_pass_config_stages_candidate_without_dispatch(tmp_path):
    harness = RunHarness(tmp_path)
    pass_id = "EP001_PASS_011_SH01_02_A_ENV"
    first = plan_of(shot("EP001_SH01"), shot("EP001_SH02"), passes=(_pass(),))
    harness.run(first, strategy="coverage")
    assert harness.provider.created == 1
    active_before = harness.backend.load_scene(PROJECT, EPISODE, pass_id)
    drv_before = harness.backend.load_derivation(PROJECT, EPISODE)

    generation_config = {"tier": "pro", "seed": 1234, "resolution": "1080p"}
    element_config = {
        "identity_ref_mode": "full_turnaround",
        "character_elements": [{"char_id": "JADE"}],
    }
    changed = plan_of(
        shot("EP001_SH01"),
        shot("EP001_SH02"),
        passes=(_pass(generation_config=generation_config, element_config=element_config),),
    )
    report = harness.run(changed, strategy="coverage")

    assert harness.provider.created == 1, "a staged candidate dispatches nothing"
    manifest = harness.backend.load_manifest(PROJECT, EPISODE, pass_id)
    assert manifest.active_version == 1
    assert [v.version for v in manifest.versions] == [1, 2]
    assert manifest.entry(2).downstream == "not_derived"
    candidate = harness.backend.load_scene(PROJECT, EPISODE, pass_id, 2)
    beat = candidate.beats[0]
    assert beat.grouping.to_dict()["ordinal"] == 11
    assert beat.generation_config == generation_config
    assert beat.element_config == element_config
    assert beat.takes == [] and beat.primary_take_id is None
    active = harness.backend.load_scene(PROJECT, EPISODE, pass_id)
    assert active == active_before
    notice = "\n".join(report.notices)
    for text in (
        "appended candidate version v2",
        "active remains v1",
        "not_derived",
        "rederive --conform",
    ):
        assert text in notice
    assert harness.backend.load_derivation(PROJECT, EPISODE) == drv_before

    again = harness.run(changed, strategy="coverage")
    manifest = harness.backend.load_manifest(PROJECT, EPISODE, pass_id)
    assert len(manifest.versions) == 2
    assert "candidate already exists" in "\n".join(again.notices)
    assert "active remains v1" in "\n".join(again.notices)
    assert harness.provider.created == 1

    harness.backend.conform(PROJECT, EPISODE, pass_id, 2)
    harness.run(changed, strategy="coverage")
    assert harness.provider.created == 2
    assert harness.backend.load_scene(PROJECT, EPISODE, pass_id).beats[0].succeeded


def test_s20_first_staged_run_does_not_mark_the_scenes_stage_fresh(tmp_path):
    harness = RunHarness(tmp_path, provider=ScriptedProvider(Outcome(state="failed")))
    plan = plan_of(shot("EP001_SH01"), shot("EP001_SH02"), passes=(_pass(),))
    harness.run(plan, strategy="coverage")  # a failed take: scene not complete, not stamped
    assert "scenes" not in harness.backend.load_derivation(PROJECT, EPISODE).get("stages", {})
    changed = plan_of(
        shot("EP001_SH01"), shot("EP001_SH02"), passes=(_pass(generation_config={"tier": "pro"}),)
    )
    harness.run(changed, strategy="coverage")
    assert "scenes" not in harness.backend.load_derivation(PROJECT, EPISODE).get("stages", {})


# ---------------------------------------------------------------- money


def test_s23_every_build_failure_releases_its_reservation(tmp_path):
    def build(beat: Beat, ctx: BuildContext) -> Workflow:
        raise PayloadBuildError(beat.beat_id, RuntimeError("start frame missing"))

    harness = RunHarness(tmp_path, estimate=1.5, runners=[StaticRunner("video_i2v", build=build)])
    runner = harness.runner(
        same_location(),
        budget_usd=10.0,
        concurrency=1,
        max_takes=3,
        strategy_options=ONE_SCENE_TWO_BEATS,
    )
    asyncio.run(runner.run())
    (scene_id,) = harness.backend.list_scenes(PROJECT, EPISODE)
    takes = [
        t for b in harness.backend.load_scene(PROJECT, EPISODE, scene_id).beats for t in b.takes
    ]
    assert [t.state for t in takes] == [TakeState.BUILD_ERROR] * 6
    assert runner.guard.reserved == pytest.approx(0.0)
    assert runner.guard.spent == pytest.approx(0.0)


def test_s24_active_version_move_before_paid_submit_raises_and_submits_nothing(tmp_path):
    holder: dict[str, Any] = {"armed": False}

    def move_active_version(event: TakeEvent) -> None:
        # between loading the scene and the take's pre-dispatch (submitting) save
        if event.take.state == TakeState.RESERVED and holder["armed"]:
            holder["armed"] = False
            backend = holder["harness"].backend
            scene = backend.load_scene(PROJECT, EPISODE, event.scene_id)
            version = backend.stage_candidate(PROJECT, EPISODE, scene, note="another writer")
            backend.conform(PROJECT, EPISODE, event.scene_id, version)

    harness = RunHarness(
        tmp_path,
        estimate=1.0,
        provider=ScriptedProvider(Outcome(state="failed")),
        extra_plugins=[("mover", make_plugin(on_take_event=move_active_version))],
    )
    holder["harness"] = harness
    plan = plan_of(shot("EP001_SH01"))
    harness.run(plan, budget_usd=50.0, max_takes=1)  # the scene exists, its beat unrendered
    assert len(harness.provider.submits) == 1

    holder["armed"] = True
    runner = harness.runner(plan, budget_usd=50.0, concurrency=1, max_takes=2)
    with pytest.raises(SceneVersionConflictError):
        asyncio.run(runner.run())
    assert not holder["armed"], "the version was moved before the pre-dispatch save"
    assert len(harness.provider.submits) == 1  # no paid call for the second take
    assert runner.guard.reserved == pytest.approx(0.0)


def test_s25_failed_take_with_provider_cost_is_charged_failed_but_billed(tmp_path):
    harness = RunHarness(
        tmp_path,
        estimate=3.15,
        provider=ScriptedProvider(
            Outcome(state="failed", cost_usd=3.15, error_code="provider FAILED")
        ),
    )
    runner = harness.runner(plan_of(shot("EP001_SH01")), budget_usd=50.0, concurrency=1)
    asyncio.run(runner.run())
    kinds = [e["kind"] for e in runner.guard.events]
    assert kinds == ["failed_but_billed"]
    assert runner.guard.reserved == pytest.approx(0.0)
    assert runner.guard.spent == pytest.approx(3.15)
    take = harness.backend.load_scene(PROJECT, EPISODE, "BATCH_001").beats[0].takes[0]
    assert take.state == TakeState.FAILED_BUT_BILLED
    ledger = harness.backend.read_ledger(PROJECT, EPISODE)
    assert [(e.kind, e.amount_usd) for e in ledger] == [(ChargeKind.FAILED_BUT_BILLED, 3.15)]


def _keyframe_then_video(beat: Beat, ctx: BuildContext) -> Workflow:
    return Workflow(
        workflow_id=f"{beat.beat_id}_take_{ctx.take_index}",
        steps=[
            WorkflowStep(
                step_id="kf",
                modality="image_t2i",
                payload={"shot_id": beat.beat_id},
                provider=ctx.video_provider,
                model="img",
            ),
            WorkflowStep(
                step_id="video",
                modality="video_i2v",
                payload={"shot_id": beat.beat_id},
                provider=ctx.video_provider,
                model="vid",
                inputs={"first_frame": "kf"},
            ),
        ],
    )


def test_s26_take_with_succeeded_and_failed_billed_steps_charges_both(tmp_path):
    def script(request: Any) -> Outcome:
        if request.modality == "image_t2i":
            return Outcome(cost_usd=1.0)
        return Outcome(state="failed", cost_usd=2.5, error_code="content_policy_violation")

    harness = RunHarness(
        tmp_path,
        estimate=5.0,
        provider=ScriptedProvider(script),
        runners=[StaticRunner("video_i2v", build=_keyframe_then_video)],
    )
    runner = harness.runner(
        same_location(), budget_usd=50.0, concurrency=1, strategy_options=ONE_SCENE_TWO_BEATS
    )
    asyncio.run(runner.run())
    kinds = sorted(e["kind"] for e in runner.guard.events)
    assert kinds == ["failed_but_billed", "failed_but_billed", "succeeded", "succeeded"]
    assert runner.guard.spent == pytest.approx((1.0 + 2.5) * 2)
    assert runner.guard.reserved == pytest.approx(0.0)
    video_inputs = [r.inputs for r in harness.provider.submits if r.modality == "video_i2v"]
    assert all(inputs["first_frame"].exists() for inputs in video_inputs)
    (scene_id,) = harness.backend.list_scenes(PROJECT, EPISODE)
    for beat in harness.backend.load_scene(PROJECT, EPISODE, scene_id).beats:
        (take,) = beat.takes
        assert take.state == TakeState.FAILED_BUT_BILLED
        assert [s.state for s in take.workflow.steps] == [
            StepState.SUCCEEDED,
            StepState.FAILED_BUT_BILLED,
        ]
