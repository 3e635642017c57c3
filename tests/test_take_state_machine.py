"""The take state machine against a scripted provider: every path ends in the right state,
with the right charge, and no path ever creates a second paid job for the same take."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from recoil_core.errors import (
    BudgetExhaustedError,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
    TaskNotFound,
)
from recoil_core.interfaces import JobStatus
from recoil_core.model import CanonicalPlan, ChargeKind, StepState, TakeState
from recoil_core.testing.doubles import Outcome, ScriptedProvider
from recoil_core.testing.harness import RunHarness
from recoil_core.testing.plans import canonical_plan, canonical_shot

PROJECT, EPISODE = "p", "EP001"


def one_shot() -> CanonicalPlan:
    return canonical_plan([canonical_shot("EP001_SH01")], project=PROJECT, episode=EPISODE)


def only_take(harness: RunHarness):
    (scene_id,) = harness.backend.list_scenes(PROJECT, EPISODE)
    (beat,) = harness.backend.load_scene(PROJECT, EPISODE, scene_id).beats
    return beat


def test_happy_path_persists_every_state_and_charges_billed_cost(tmp_path):
    harness = RunHarness(tmp_path, provider=ScriptedProvider(Outcome(cost_usd=0.42)), estimate=0.5)
    report = harness.run(one_shot(), budget_usd=1.0)
    beat = only_take(harness)
    (take,) = beat.takes
    assert take.state == TakeState.SUCCEEDED and beat.primary_take_id == take.take_id
    assert take.workflow.steps[0].job_id == "job-1"
    assert take.render_path and take.sidecar_path
    assert report.charged_usd == pytest.approx(0.42)
    ledger = harness.backend.read_ledger(PROJECT, EPISODE)
    assert [(e.kind, e.amount_usd, e.job_id) for e in ledger] == [
        (ChargeKind.SUCCEEDED, 0.42, "job-1")
    ]


def test_ambiguous_create_that_reached_the_provider_is_found_not_repeated(tmp_path):
    provider = ScriptedProvider(
        Outcome(
            submit_error=ProviderUnavailable("read timeout", code="ambiguous_create"),
            create_despite_error=True,
        )
    )
    harness = RunHarness(tmp_path, provider=provider)
    assert harness.run(one_shot()).complete
    assert provider.created == 1 and provider.finds == 1
    assert only_take(harness).takes[0].state == TakeState.SUCCEEDED


def lost_then_created(lost: int = 1):
    """Creates whose answers are lost (and that made nothing) ``lost`` times, then fine."""
    calls = {"n": 0}

    def script(_request):
        calls["n"] += 1
        if calls["n"] <= lost:
            return Outcome(submit_error=ProviderUnavailable("connection reset"))
        return Outcome(cost_usd=0.5)

    return script


def test_lost_create_missed_twice_is_sent_again_with_a_fresh_identity(tmp_path):
    provider = ScriptedProvider(lost_then_created())
    seen = []
    harness = RunHarness(tmp_path, provider=provider, find_consistency_s=0.05)
    find = provider.find

    async def timed_find(request):
        seen.append(time.monotonic())
        return await find(request)

    provider.find = timed_find
    report = harness.run(one_shot(), budget_usd=5.0)

    assert report.complete and provider.created == 1
    first, second = provider.submits
    assert first.request_key and second.request_key and first.request_key != second.request_key
    assert first.seed != second.seed, "a resubmit never reuses the lost create's identity"
    assert len(seen) == 2 and seen[1] - seen[0] >= 0.05, "two misses a window apart"
    take = only_take(harness).takes[0]
    step = take.workflow.steps[0]
    assert (take.state, step.request_key, step.seed) == (
        TakeState.SUCCEEDED,
        second.request_key,
        second.seed,
    )
    ledger = harness.backend.read_ledger(PROJECT, EPISODE)
    assert [(e.job_id, e.amount_usd, e.take_uid) for e in ledger] == [("job-1", 0.5, take.uid)]


def test_lost_create_waits_for_a_person_with_no_auto_resubmit(tmp_path):
    provider = ScriptedProvider(lost_then_created(lost=10**9))
    harness = RunHarness(tmp_path, provider=provider)
    report = harness.run(one_shot(), auto_resubmit=False)
    take = only_take(harness).takes[0]
    assert take.state == TakeState.UNKNOWN
    assert take.workflow.steps[0].state == StepState.UNKNOWN
    assert "--resubmit-unknown" in take.attention
    assert not report.complete and report.attention

    provider.script = lambda _request: Outcome()
    again = harness.run(one_shot(), max_takes=3, auto_resubmit=False)
    assert len(provider.submits) == 1, "never resubmitted on its own when told not to"
    assert [t.state for t in only_take(harness).takes] == [TakeState.UNKNOWN]
    assert not again.complete

    harness.run(one_shot(), resubmit_unknown=True, auto_resubmit=False)
    assert len(provider.submits) == 2 and provider.created == 1
    assert only_take(harness).takes[0].state == TakeState.SUCCEEDED


def test_a_lost_create_sent_again_stays_inside_the_cap(tmp_path):
    """A take whose create was lost holds its estimate; resending it needs that money to
    still fit the cap (here an earlier charge overran and used it)."""
    provider = ScriptedProvider(lost_then_created(lost=10**9))
    harness = RunHarness(tmp_path, provider=provider, estimate=1.0)
    harness.run(one_shot(), auto_resubmit=False, budget_usd=1.0)
    assert len(provider.submits) == 1
    provider.script = lambda _request: Outcome(cost_usd=1.0)
    # the same episode, capped below what the held take needs: nothing is sent
    with pytest.raises(BudgetExhaustedError):
        harness.run(one_shot(), budget_usd=0.5, resubmit_unknown=True)
    assert len(provider.submits) == 1
    assert only_take(harness).takes[0].state == TakeState.UNKNOWN
    assert harness.backend.read_ledger(PROJECT, EPISODE) == []


def test_provider_that_cannot_find_leaves_an_ambiguous_take_unknown(tmp_path):
    from recoil_core.testing.doubles import make_plugin, scripted_provider_spec

    provider = ScriptedProvider(
        Outcome(submit_error=ProviderUnavailable("timeout"), create_despite_error=True)
    )
    spec = scripted_provider_spec(provider, name="blind", can_find_by_request=False)
    harness = RunHarness(tmp_path, extra_plugins=[("blind-plugin", make_plugin(providers=[spec]))])
    harness.run(one_shot(), provider="blind")
    assert provider.finds == 0 and provider.created == 1
    assert only_take(harness).takes[0].state == TakeState.UNKNOWN


def test_rejected_create_fails_the_take_without_charge_and_releases_reservation(tmp_path):
    provider = ScriptedProvider(
        Outcome(
            submit_error=ProviderRejected(
                "prompt refused", code="InputTextSensitiveContentDetected"
            )
        )
    )
    harness = RunHarness(tmp_path, provider=provider, estimate=2.0)
    runner = harness.runner(one_shot(), budget_usd=5.0)
    report = asyncio.run(runner.run())
    take = only_take(harness).takes[0]
    assert take.state == TakeState.FAILED
    assert "InputTextSensitiveContentDetected" in take.error
    assert harness.backend.read_ledger(PROJECT, EPISODE) == []
    assert runner.guard.reserved == 0 and runner.guard.spent == 0
    assert not report.complete


def test_failed_take_is_retried_with_a_new_take_up_to_max_takes(tmp_path):
    outcomes = iter(
        [
            Outcome(state="failed", error_code="OutputVideoSensitiveContentDetected"),
            Outcome(cost_usd=1.0),
        ]
    )
    provider = ScriptedProvider(lambda _request: next(outcomes))
    harness = RunHarness(tmp_path, provider=provider)
    assert harness.run(one_shot(), max_takes=2).complete
    beat = only_take(harness)
    assert [t.state for t in beat.takes] == [TakeState.FAILED, TakeState.SUCCEEDED]
    assert beat.primary_take_id == beat.takes[1].take_id
    assert provider.created == 2
    assert {r.seed for r in provider.submits} == {
        s.seed for t in beat.takes for s in t.workflow.steps
    }
    assert len({r.seed for r in provider.submits}) == 2, "every take step has a seed of its own"


def test_a_create_the_provider_gave_up_on_for_rate_limits_uses_no_attempt(tmp_path):
    """The provider owns retries: its RateLimited is its last word. Nothing was made, so
    the kernel does not retry, the take uses no attempt, and the next run creates once."""
    calls = {"n": 0}

    def script(_request):
        calls["n"] += 1
        if calls["n"] == 1:
            return Outcome(submit_error=RateLimited("slow down", retry_after=0.0))
        return Outcome()

    provider = ScriptedProvider(script)
    harness = RunHarness(tmp_path, provider=provider)
    first = harness.run(one_shot())
    assert not first.complete and len(provider.submits) == 1 and provider.created == 0
    assert [t.state for t in only_take(harness).takes] == [TakeState.CANCELLED]
    assert harness.run(one_shot()).complete, "max_takes=1: the refused take used nothing"
    assert len(provider.submits) == 2 and provider.created == 1 and provider.finds == 0


def test_job_timeout_cancels_a_job_the_provider_can_still_cancel(tmp_path):
    provider = ScriptedProvider(Outcome(polls_until_final=10**9, cost_usd=9.0))
    harness = RunHarness(
        tmp_path, provider=provider, estimate=1.0, cancellable_states=("queued", "running")
    )
    runner = harness.runner(one_shot(), budget_usd=10.0, job_timeout_s=1e-6)
    asyncio.run(runner.run())
    take = only_take(harness).takes[0]
    assert take.state == TakeState.FAILED
    assert take.workflow.steps[0].state == StepState.CANCELLED
    assert provider.cancelled == ["job-1"]
    assert harness.backend.read_ledger(PROJECT, EPISODE) == []
    assert runner.guard.reserved == 0


def test_job_outliving_its_timeout_stays_owed_and_is_charged_when_followed(tmp_path):
    """A job the provider cannot cancel bills when it finishes: the take keeps it, holds
    its estimate, and the next run follows it to the end, charges it and keeps the video."""
    provider = ScriptedProvider(Outcome(polls_until_final=10**9, cost_usd=0.9))
    harness = RunHarness(tmp_path, provider=provider, estimate=1.0)
    runner = harness.runner(one_shot(), budget_usd=10.0, job_timeout_s=1e-6)
    report = asyncio.run(runner.run())

    take = only_take(harness).takes[0]
    assert provider.cancelled == [], "nothing is cancelled that the provider cannot cancel"
    assert take.state == TakeState.SUBMITTED and "billed when it finishes" in take.attention
    assert runner.guard.reserved == pytest.approx(1.0), "its estimate stays held"
    assert harness.backend.read_ledger(PROJECT, EPISODE) == [] and not report.complete

    request, _ = provider.jobs["job-1"]
    provider.jobs["job-1"] = (request, Outcome(cost_usd=0.9))  # it finishes at the provider
    again = harness.run(one_shot(), budget_usd=10.0)
    assert again.complete and provider.created == 1
    take = only_take(harness).takes[0]
    assert take.state == TakeState.SUCCEEDED and take.render_path
    ledger = harness.backend.read_ledger(PROJECT, EPISODE)
    assert [(e.job_id, e.amount_usd) for e in ledger] == [("job-1", 0.9)]


def test_task_purged_at_provider_is_terminal_and_not_recreated(tmp_path):
    class Forgetful(ScriptedProvider):
        async def poll(self, job_id: str) -> JobStatus:
            raise TaskNotFound(f"task {job_id} not found", code="task_not_found")

    provider = Forgetful()
    harness = RunHarness(tmp_path, provider=provider)
    harness.run(one_shot(), max_takes=1)
    take = only_take(harness).takes[0]
    assert take.state == TakeState.FAILED and "task_not_found" in take.error
    harness.run(one_shot(), max_takes=1)
    assert provider.created == 1


def test_unknown_modality_runner_is_refused_in_preflight_before_any_reservation(tmp_path):
    harness = RunHarness(tmp_path, runners=[], plugins=("filesystem", "grouping", "coverage"))
    from recoil_core.errors import PreflightError

    with pytest.raises(PreflightError) as info:
        harness.run(one_shot(), budget_usd=1.0)
    assert "no modality runner for 'video_i2v'" in str(info.value)
    assert harness.provider.submits == []
    assert harness.backend.list_scenes(PROJECT, EPISODE) == [], "a refused run writes no scene"


def test_preflight_gate_and_provider_check_problems_are_all_reported(tmp_path):
    from recoil_core.errors import PreflightError
    from recoil_core.interfaces import PreflightGate
    from recoil_core.testing.doubles import make_plugin, scripted_provider_spec

    seen = []

    def gate(ctx):
        seen.append((ctx.project, ctx.episode, [s.scene_id for s in ctx.scenes]))
        return ["storyboard missing for EP001_SH01"]

    keyless = scripted_provider_spec(
        ScriptedProvider(), name="keyless", check=lambda ctx: ["KEY is not set"]
    )
    harness = RunHarness(
        tmp_path,
        extra_plugins=[
            ("gates", make_plugin(gates=[PreflightGate("boards", gate)], providers=[keyless]))
        ],
    )
    with pytest.raises(PreflightError) as info:
        harness.run(one_shot(), provider="keyless")
    message = str(info.value)
    assert "boards: storyboard missing for EP001_SH01" in message
    assert "provider keyless: KEY is not set" in message
    assert seen == [(PROJECT, EPISODE, ["BATCH_001"])]


def test_observers_hear_each_take_state_in_order_once_persisted(tmp_path):
    from recoil_core.testing.doubles import make_plugin

    heard: list[tuple[str | None, str]] = []
    scenes: list[str] = []

    def on_take(event):
        persisted = harness.backend.load_scene(PROJECT, EPISODE, event.scene_id)
        if event.take.state == TakeState.RESERVED:  # announced before the take's first write
            assert persisted is None
        else:
            stored = persisted.beat(event.beat_id).take(event.take.take_id).state
            assert stored == event.take.state, "observers hear of a state once it is persisted"
        heard.append((event.previous_state, event.take.state.value))

    plugin = make_plugin(on_take_event=on_take, on_scene_event=lambda e: scenes.append(e.kind))
    harness = RunHarness(tmp_path, extra_plugins=[("observer", plugin)])
    harness.run(one_shot())
    assert heard == [
        ("planned", "reserved"),
        ("reserved", "submitting"),
        ("submitting", "submitted"),
        ("submitted", "succeeded"),
    ]
    assert scenes == ["created", "finished"]


def test_a_new_scenes_first_save_is_urgent_like_every_submitting_save(tmp_path):
    """A new take is first written as ``submitting`` with its provider slot held; in a new
    scene that write creates the scene, and it too goes ahead of writes already queued."""
    from recoil_core.budget import BudgetGuard
    from recoil_core.persistence.filesystem import FilesystemBackend
    from recoil_core.runner.accounting import Accountant
    from recoil_core.runner.dispatch import DispatchOptions, SceneSession, TakeExecutor
    from recoil_core.runner.planning import derive_scenes
    from recoil_core.runner.providers import ProviderPool

    order: list[str] = []

    class Backend(FilesystemBackend):
        def create_scene(self, project, episode, scene):
            order.append("create")
            return super().create_scene(project, episode, scene)

    harness = RunHarness(tmp_path)
    backend = Backend(harness.projects_root)
    plan = one_shot()
    guard = BudgetGuard(None)
    executor = TakeExecutor(
        backend=backend,
        registry=harness.registry,
        pool=ProviderPool(harness.registry, {}, {}),
        guard=guard,
        accountant=Accountant(backend, guard, PROJECT, EPISODE),
        plan=plan,
        options=DispatchOptions(
            project=PROJECT,
            episode=EPISODE,
            video_provider="scripted",
            image_provider=None,
            renders_dir=tmp_path / "renders",
        ),
    )
    (scene,) = derive_scenes(plan, harness.registry.strategy("solo"))
    session = SceneSession(scene, 0, needs_create=True)
    running, release = threading.Event(), threading.Event()

    def blocker() -> None:  # holds the writer so that the next writes queue up
        running.set()
        release.wait(timeout=30)

    async def main() -> None:
        held = asyncio.ensure_future(executor.write(blocker))
        while not running.is_set():
            await asyncio.sleep(0)
        queued = asyncio.ensure_future(executor.write(order.append, "queued earlier"))
        first_save = asyncio.ensure_future(executor.save(session, urgent=True))
        await asyncio.sleep(0)  # both are queued behind the blocker now
        release.set()
        await asyncio.gather(held, queued, first_save)

    try:
        asyncio.run(asyncio.wait_for(main(), 30))
    finally:
        executor.close()
    assert order == ["create", "queued earlier"]
    assert backend.load_scene(PROJECT, EPISODE, scene.scene_id) is not None


class _Counting(ScriptedProvider):
    """Counts jobs between create and download, to see how many run at once.

    A job keeps running until ``hold`` jobs are in flight together (or every job was
    created), so the most in flight is exactly what the runner allows, whatever the
    scheduling of its I/O threads.
    """

    def __init__(self, hold: int, total: int) -> None:
        super().__init__()
        self.hold, self.total = hold, total
        self.in_flight = 0
        self.most = 0

    async def submit(self, request):
        job_id = await super().submit(request)
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        return job_id

    async def poll(self, job_id):
        if self.most < self.hold and self.created < self.total:
            return JobStatus(job_id=job_id, state="running")
        return await super().poll(job_id)

    async def download(self, status, dest):
        self.in_flight -= 1
        await super().download(status, dest)


@pytest.mark.parametrize(("provider_limit", "expected_most"), [(1, 1), (3, 3)])
def test_provider_concurrency_limit_caps_jobs_in_flight_below_global_concurrency(
    tmp_path, provider_limit, expected_most
):
    provider = _Counting(hold=expected_most, total=6)
    harness = RunHarness(tmp_path, provider=provider, provider_concurrency=provider_limit)
    shots = [canonical_shot(f"EP001_SH{i:02d}", location_id=f"LOC_{i}") for i in range(1, 7)]
    plan = canonical_plan(shots, project=PROJECT, episode=EPISODE)
    assert harness.run(plan, concurrency=6).complete
    assert provider.created == 6
    assert provider.most == expected_most


class _Downloads(ScriptedProvider):
    """Logs creates and downloads. With ``overlap``, job 1's download goes on only once
    job 2 was created, which a single slot allows only if the download does not hold it."""

    def __init__(self, overlap: bool) -> None:
        super().__init__()
        self.overlap = overlap
        self.log: list[str] = []
        self.second_created = asyncio.Event()

    async def submit(self, request):
        job_id = await super().submit(request)
        self.log.append(f"create {job_id}")
        if self.created == 2:
            self.second_created.set()
        return job_id

    async def download(self, status, dest):
        if self.overlap and status.job_id == "job-1":
            await asyncio.wait_for(self.second_created.wait(), 30)  # held slot: fails here
        await super().download(status, dest)
        self.log.append(f"downloaded {status.job_id}")


@pytest.mark.parametrize("download_in_slot", [True, False])
def test_a_download_holds_the_provider_slot_unless_the_provider_says_it_need_not(
    tmp_path, download_in_slot
):
    provider = _Downloads(overlap=not download_in_slot)
    harness = RunHarness(
        tmp_path, provider=provider, provider_concurrency=1, download_in_slot=download_in_slot
    )
    shots = [canonical_shot(f"EP001_SH{i:02d}", location_id=f"LOC_{i}") for i in (1, 2)]
    plan = canonical_plan(shots, project=PROJECT, episode=EPISODE)
    assert harness.run(plan, concurrency=4).complete
    if download_in_slot:  # one slot: job 2 is created only after job 1's download
        assert provider.log == [
            "create job-1",
            "downloaded job-1",
            "create job-2",
            "downloaded job-2",
        ]
    else:  # the slot was free once job 1 was final
        assert provider.log.index("create job-2") < provider.log.index("downloaded job-1")


def test_run_concurrency_caps_jobs_at_the_provider_though_more_takes_are_in_flight(tmp_path):
    """Concurrency 4 runs eight takes (as many more, to save state around the jobs) but
    never more than four jobs at the provider at once."""
    provider = _Counting(hold=4, total=10)
    harness = RunHarness(tmp_path, provider=provider, provider_concurrency=10)
    shots = [canonical_shot(f"EP001_SH{i:02d}", location_id=f"LOC_{i}") for i in range(1, 11)]
    plan = canonical_plan(shots, project=PROJECT, episode=EPISODE)
    assert harness.run(plan, concurrency=4).complete
    assert provider.created == 10
    assert provider.most == 4


class _Reserving(ScriptedProvider):
    """Keeps every job running until ``hold`` jobs are at the provider and have been polled
    ``polls`` times more, sampling meanwhile the money the run has reserved (``guard``: the
    run's BudgetGuard, set before the run starts). While they are held no job is final, so
    every reservation is a slot's or a waiting take's."""

    guard = None

    def __init__(self, hold: int, polls: int) -> None:
        super().__init__()
        self.hold, self.hold_for = hold, polls
        self.held_polls = 0
        self.reserved_while_held: list[float] = []

    async def poll(self, job_id):
        if self.created < self.hold or self.held_polls < self.hold_for:
            if self.created >= self.hold:
                self.held_polls += 1
                self.reserved_while_held.append(self.guard.reserved)
            return JobStatus(job_id=job_id, state="running")
        return await super().poll(job_id)


def test_takes_waiting_for_a_slot_hold_money_for_a_quarter_of_the_concurrency_at_most(tmp_path):
    """Concurrency 8 runs sixteen workers, so that every slot a wave frees has a take ready,
    but only two new takes (a quarter) may hold a reservation with no slot yet: while eight
    jobs run, the money set aside is that of 8 + 2 takes, not 16."""
    provider = _Reserving(hold=8, polls=40)
    harness = RunHarness(tmp_path, provider=provider, estimate=1.0)
    shots = [canonical_shot(f"EP001_SH{i:02d}", location_id=f"LOC_{i}") for i in range(1, 25)]
    plan = canonical_plan(shots, project=PROJECT, episode=EPISODE)
    runner = harness.runner(plan, concurrency=8)
    provider.guard = runner.guard

    assert asyncio.run(runner.run()).complete and provider.created == 24
    assert set(provider.reserved_while_held) == {10.0}


def test_a_refused_key_stops_every_create_and_uses_no_attempt(tmp_path):
    from recoil_core.errors import AuthenticationFailed
    from recoil_core.testing.plans import canonical_plan, canonical_shot

    refused = Outcome(submit_error=AuthenticationFailed("401: key refused", code="auth"))
    provider = ScriptedProvider(refused)
    harness = RunHarness(tmp_path, provider=provider)
    plan = canonical_plan(
        [canonical_shot(f"EP001_SH{i:02d}", i, location_id=f"L{i}") for i in range(1, 21)],
        project=PROJECT,
        episode=EPISODE,
    )
    with pytest.raises(AuthenticationFailed):
        harness.run(plan, concurrency=16)
    assert len(provider.submits) == 1, "no create leaves after the first refusal"

    provider.script = lambda _request: Outcome(cost_usd=0.1)
    report = harness.run(plan, concurrency=16, max_takes=1)
    assert report.complete and provider.created == 20


def test_a_budget_halt_lists_only_shots_whose_renders_landed_in_this_run(tmp_path):
    from recoil_core.testing.plans import canonical_plan, canonical_shot

    provider = ScriptedProvider(Outcome(polls_until_final=10**9, cost_usd=1.0))
    harness = RunHarness(tmp_path, provider=provider, estimate=1.0)
    plan = canonical_plan(
        [canonical_shot(f"EP001_SH{i:02d}", i, location_id=f"L{i}") for i in range(1, 6)],
        project=PROJECT,
        episode=EPISODE,
    )
    with pytest.raises(BudgetExhaustedError) as started_only:
        harness.run(plan, budget_usd=2.5, job_timeout_s=1e-6, concurrency=1)
    assert provider.created == 2 and started_only.value.rendered_shot_ids == []

    for job_id, (request, _) in list(provider.jobs.items()):
        provider.jobs[job_id] = (request, Outcome(cost_usd=1.0))  # they finish
    with pytest.raises(BudgetExhaustedError) as followed:
        harness.run(plan, budget_usd=2.5, concurrency=1)
    assert len(followed.value.rendered_shot_ids) == 2 and provider.created == 2


def test_a_key_refused_on_a_search_stops_the_run_as_a_refused_key(tmp_path):
    """The search for a lost create is refused (401): the run stops as a refused key
    (exit 9 at the CLI), and the take is not sent to a person as if Ark had no task."""
    from recoil_core.errors import AuthenticationFailed

    provider = ScriptedProvider(
        Outcome(submit_error=ProviderUnavailable("reset"), create_despite_error=True)
    )

    async def refused(_request):
        raise AuthenticationFailed("401: key refused", code="auth")

    provider.find = refused
    harness = RunHarness(tmp_path, provider=provider)
    with pytest.raises(AuthenticationFailed):
        harness.run(one_shot())
    take = only_take(harness).takes[0]
    assert take.state == TakeState.UNKNOWN and not take.attention
    assert len(provider.submits) == 1

    provider.find = ScriptedProvider.find.__get__(provider)  # the key is fixed
    assert harness.run(one_shot()).complete and provider.created == 1


def test_a_provider_bug_is_a_clean_error_naming_it_and_its_job_stays_owned(tmp_path):
    from recoil_core.errors import PluginError

    provider = ScriptedProvider(Outcome(cost_usd=0.2))
    harness = RunHarness(tmp_path, provider=provider)
    poll = provider.poll

    async def broken_poll(job_id):
        raise KeyError("status")

    provider.poll = broken_poll
    with pytest.raises(PluginError, match=r"provider 'scripted'.*KeyError"):
        harness.run(one_shot())
    assert only_take(harness).takes[0].state == TakeState.SUBMITTED

    provider.poll = poll  # the plugin is fixed
    assert harness.run(one_shot()).complete and provider.created == 1


def test_a_provider_bug_on_a_create_is_a_lost_create_never_a_second_job(tmp_path):
    provider = ScriptedProvider(Outcome(cost_usd=0.2))
    submit = provider.submit
    calls = {"n": 0}

    async def flaky_submit(request):
        calls["n"] += 1
        job_id = await submit(request)
        if calls["n"] == 1:
            raise RuntimeError("the client library tripped over the answer")
        return job_id

    provider.submit = flaky_submit
    harness = RunHarness(tmp_path, provider=provider)
    assert harness.run(one_shot()).complete
    assert provider.created == 1 and provider.finds == 1


@pytest.mark.parametrize("where", ["gate", "estimator"])
def test_a_gate_or_estimator_bug_is_a_clean_error_naming_it(tmp_path, where):
    from recoil_core.errors import PluginError
    from recoil_core.interfaces import CostEstimator, PreflightGate
    from recoil_core.testing.doubles import make_plugin, scripted_provider_spec

    def boom(*_args):
        raise ValueError("boom")

    provider = ScriptedProvider()
    plugin = (
        make_plugin(gates=[PreflightGate(name="picky", check=boom)])
        if where == "gate"
        else make_plugin(
            providers=[scripted_provider_spec(provider, name="priced")],
            estimators=[CostEstimator(provider="priced", estimate=boom)],
        )
    )
    harness = RunHarness(tmp_path, provider=provider, extra_plugins=[("buggy", plugin)])
    with pytest.raises(PluginError, match="ValueError: boom"):
        harness.run(one_shot(), provider="scripted" if where == "gate" else "priced")
    assert provider.submits == []
