"""The conformance suite every provider distribution runs against its own fake service.

It drives the provider through the real episode runner (the kernel's take state machine,
its budget and ledger), never through private methods, and compares what the ledger says
with what the fake service billed, job by job. It needs recoil-core and the provider under
test alone: the runs group shot by shot and build the standard video workflow with the
in-process :class:`~recoil_core.testing.doubles.ShotPerUnitStrategy` and
:class:`~recoil_core.testing.doubles.StandardVideoRunner`, so a provider distribution
runs it with only its declared dependencies installed.

Subclass :class:`ProviderConformance` in a test module under a ``Test*`` name and provide
one fixture, ``provider_under_test``, returning a :class:`ProviderUnderTest`: your spec
and estimator (read from your plugin module), the environment your factory reads (the
fake's URL and key), the model name shots ask for, and a :class:`ServiceControls` that
drives your fake::

    import pytest
    from recoil_core.testing.providers import (
        ProviderConformance, ProviderUnderTest, ServiceControls)
    from recoil_mine import plugin
    from recoil_mine.testing.fake import FakeMine

    class MineControls(ServiceControls):
        def __init__(self, fake: FakeMine) -> None:
            self.fake = fake
        def billed_usd(self):  # required: what the fake billed, USD by job id
            return self.fake.bill()
        def creates(self):  # required: jobs it made, answered or not
            return self.fake.creates_total
        def fail_jobs(self, *, moderated):  # optional: each knob you can turn
            self.fake.set(outcome="moderated" if moderated else "failed")

    class TestMineConformance(ProviderConformance):
        @pytest.fixture
        def provider_under_test(self, fake_mine):
            return ProviderUnderTest.from_plugin(
                plugin, "mine",
                env={"MINE_API_KEY": fake_mine.api_key, "MINE_BASE_URL": fake_mine.base_url},
                service=MineControls(fake_mine), model="mine-video-1", duration_s=5.0,
                secrets=(fake_mine.api_key,))

Which tests apply is decided from what the spec declares (``can_find_by_request``,
``cancellable_states``, ``output_retention_s``) and from which :class:`ServiceControls`
methods the subclass overrides: a test whose knob is not provided, or whose behaviour
the spec does not declare, is skipped with the reason, never passed without checking.
A test may also be switched off by name in ``ProviderUnderTest.skip`` with a reason.

What it checks: create, poll and the final states; a failed job and moderation (input
refused at create, output refused after generation); 429 with Retry-After on create and
5xx while polling, retried by the provider alone; a create whose answer was lost (the
job is found by ``find``, not paid twice; without ``find``, the take waits for a person);
cancel semantics as declared (a job in a cancellable state is cancelled at its timeout
and costs nothing; any other job is never cancelled and its bill is followed); output
that expired before download, whether the poll sees it gone, it is deleted between the
poll and the download (the provider's ``download`` raises
:class:`~recoil_core.errors.OutputExpired`) or a take is resumed after the retention (a
billed take with no render is ``failed_but_billed`` with the reason, charged its bill);
the ledger equals the fake's bill by job id; the secrets appear in no file and no log
line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest

from recoil_core.contracts.provider import (
    CostEstimator,
    JobStatus,
    Provider,
    ProviderContext,
    ProviderSpec,
    SubmitRequest,
)
from recoil_core.errors import ProviderError, ProviderUnavailable
from recoil_core.model import CanonicalPlan, ChargeKind, Scene, StepState, Take, TakeState
from recoil_core.runner import EpisodeRunner, RunOptions, RunReport
from recoil_core.testing.doubles import ShotPerUnitStrategy, StandardVideoRunner, make_plugin
from recoil_core.testing.harness import RunHarness
from recoil_core.testing.plans import canonical_plan, canonical_shot

__all__ = [
    "BASE_PLUGINS",
    "EPISODE",
    "PROJECT",
    "STRATEGY",
    "ProviderConformance",
    "ProviderUnderTest",
    "ServiceControls",
    "Unsupported",
]

PROJECT = "p"
"""The project the conformance runs write to."""
EPISODE = "EP001"
"""The episode the conformance runs write to."""
BASE_PLUGINS = ("filesystem",)
"""Installed plugins every conformance run loads: the filesystem backend built into
recoil-core. The grouping strategy (:data:`STRATEGY`) and the ``video_i2v`` runner that
builds the steps your provider serves are the suite's own, registered in-process."""
STRATEGY = ShotPerUnitStrategy()
"""How the runs group: every shot its own ``video_i2v`` unit (``solo`` identity)."""
UNDER_TEST = "provider-under-test"
"""The name the suite registers the provider's spec and estimator under."""
JOB_TIMEOUT_S = 0.3
"""The job timeout of the cancel tests: jobs held past it meet the runner's cancel rule."""
POLL_S = 0.02


class Unsupported(NotImplementedError):
    """Raised by a :class:`ServiceControls` method the fake cannot do: the test skips."""


class ServiceControls:
    """What the suite asks of your fake service. Override what your fake can do.

    :meth:`billed_usd` and :meth:`creates` are required. Every other method is a knob: the
    default raises :class:`Unsupported`, and the tests that need it are skipped with the
    knob's name as the reason. Knobs affect the jobs created after they are turned.
    """

    def billed_usd(self) -> Mapping[str, float]:
        """What the service billed, USD by job id (the id your ``submit`` returns); jobs
        that billed nothing may be left out."""
        raise NotImplementedError("ServiceControls.billed_usd is required")

    def creates(self) -> int:
        """How many jobs the service made, counting those whose create answer was lost."""
        raise NotImplementedError("ServiceControls.creates is required")

    def shot_prompt(self) -> str | None:
        """The prompt of the test shots, read when an episode first runs (after the knobs
        of its test were turned): a fake that picks outcomes by prompt markers returns
        them here. ``None``: the runner describes the shot."""
        return None

    def fail_jobs(self, *, moderated: bool) -> None:
        """Jobs end failed from now on: refused by output moderation when ``moderated``,
        else a plain generation failure. Billed or not as the real service bills them."""
        raise Unsupported("fail_jobs")

    def refuse_create_as_moderated(self) -> None:
        """The next create is refused by input moderation; nothing is made."""
        raise Unsupported("refuse_create_as_moderated")

    def rate_limit_creates(self, times: int, retry_after_s: float) -> None:
        """The next ``times`` creates answer 429 with ``Retry-After: retry_after_s``, before
        anything is made."""
        raise Unsupported("rate_limit_creates")

    def fail_polls(self, times: int, status: int, retry_after_s: float | None) -> None:
        """The next ``times`` status requests answer ``status`` (a 5xx), with a
        ``Retry-After`` header when ``retry_after_s`` is given."""
        raise Unsupported("fail_polls")

    def lose_create_answer(self) -> None:
        """The next create is made, then its connection drops before the answer is sent.

        Not overridden: the suite loses the answer in-process instead (the provider's
        real ``submit`` runs and makes the job; the runner is told the create failed
        ambiguously), which still tests ``find`` but not your error mapping."""
        raise Unsupported("lose_create_answer")

    def hold_jobs(self, state: str) -> None:
        """Jobs stay in ``state`` (``queued`` or ``running``) until :meth:`release_jobs`."""
        raise Unsupported(f"hold_jobs({state!r})")

    def release_jobs(self) -> None:
        """Held jobs go on (and finish at the next look)."""
        raise Unsupported("release_jobs")

    def expire_outputs(self) -> None:
        """Jobs that finish from now on lose their output (result and media) before anyone
        can download it, as after the service's retention time."""
        raise Unsupported("expire_outputs")

    def pass_retention(self) -> None:
        """As if the service's retention time passed now: every job that has finished
        loses its output (result, media, signed URLs) the way the real service deletes it,
        while its bill stands. A fake with a clock moves it (or ages its jobs) by more than
        the longest time it keeps any part of an output."""
        raise Unsupported("pass_retention")


@attrs.frozen
class ProviderUnderTest:
    """What a conformance subclass hands the suite (the ``provider_under_test`` fixture)."""

    spec: ProviderSpec
    """The provider's spec as the plugin declares it (the suite wraps its factory only to
    watch calls)."""
    estimator: CostEstimator
    """The provider's cost estimator."""
    env: Mapping[str, str]
    """The environment the factory reads (``ProviderContext.env``): the fake's URL, a key."""
    service: ServiceControls
    """Drives and reads the fake service."""
    model: str
    """The model name the test shots ask for (a name the spec serves)."""
    duration_s: float = 5.0
    """Each test shot's duration: one the model renders as it is."""
    aspect_ratio: str = "16:9"
    secrets: Sequence[str] = ()
    """Values that must never be written (API keys); empty: the secret test is skipped."""
    plugins: Sequence[str] = BASE_PLUGINS
    """Installed plugins loaded for the runs, besides the provider under test and the
    suite's strategy and runner (so none that registers a ``video_i2v`` runner)."""
    skip: Mapping[str, str] = attrs.field(factory=dict)
    """Tests to skip, by name, with the reason (for a behaviour your fake cannot show)."""

    @classmethod
    def from_plugin(cls, plugin: Any, name: str, **fields: Any) -> ProviderUnderTest:
        """Read the spec and estimator named ``name`` from a plugin module's hooks."""
        specs = [s for s in plugin.recoil_providers() if s.name == name]
        estimators = [e for e in plugin.recoil_cost_estimators() if e.provider == name]
        if len(specs) != 1 or len(estimators) != 1:
            raise ValueError(f"{plugin!r} declares no single provider and estimator {name!r}")
        return cls(spec=specs[0], estimator=estimators[0], **fields)


@attrs.define
class CallLog:
    """What the runner asked of the provider, across every run of one test."""

    submits: int = 0
    cancels: list[str] = attrs.field(factory=list)
    finds: int = 0
    lose_answers: int = 0
    """Creates whose answer the suite loses in-process (their job is made)."""
    downloads: int = 0
    expire_before_download: bool = False
    """The next download first lets the service's retention pass
    (:meth:`ServiceControls.pass_retention`)."""
    stop_before_download: int = 0
    """Downloads the suite stops in-process before they start, as a run killed there."""
    remembered: list[str] = attrs.field(factory=list)
    """Jobs the kernel told the provider the request of (``remember``) before polling."""
    service: ServiceControls | None = None


class _Watched:
    """The provider under test, forwarding every call; counts calls and can lose answers."""

    def __init__(self, inner: Provider, calls: CallLog) -> None:
        self._inner = inner
        self._calls = calls

    async def submit(self, request: SubmitRequest) -> str:
        self._calls.submits += 1
        job_id = await self._inner.submit(request)
        if self._calls.lose_answers > 0:
            self._calls.lose_answers -= 1
            raise ProviderUnavailable(
                "conformance: the create's answer was lost", code="ambiguous_create"
            )
        return job_id

    async def poll(self, job_id: str) -> JobStatus:
        return await self._inner.poll(job_id)

    def remember(self, job_id: str, request: SubmitRequest) -> None:
        self._calls.remembered.append(job_id)
        remember = getattr(self._inner, "remember", None)
        if remember is not None:
            remember(job_id, request)

    async def find(self, request: SubmitRequest) -> str | None:
        self._calls.finds += 1
        return await self._inner.find(request)

    async def download(self, status: JobStatus, dest: Path) -> None:
        self._calls.downloads += 1
        if self._calls.stop_before_download > 0:
            self._calls.stop_before_download -= 1
            raise ProviderUnavailable("conformance: the run stopped before the download")
        if self._calls.expire_before_download and self._calls.service is not None:
            self._calls.expire_before_download = False
            self._calls.service.pass_retention()
        await self._inner.download(status, dest)

    async def cancel(self, job_id: str) -> None:
        self._calls.cancels.append(job_id)
        await self._inner.cancel(job_id)

    async def aclose(self) -> None:
        await self._inner.aclose()


class Episode:
    """Runs of one small plan against the provider under test, in one projects root."""

    def __init__(self, root: Path, put: ProviderUnderTest, *, shots: int = 1) -> None:
        self.put = put
        self.calls = CallLog(service=put.service)
        inner_factory = put.spec.factory

        def factory(ctx: ProviderContext) -> Provider:
            return _Watched(inner_factory(ctx), self.calls)

        spec = attrs.evolve(put.spec, factory=factory)
        plugin = make_plugin(providers=[spec], estimators=[put.estimator])
        self.harness = RunHarness(
            root,
            strategies=[STRATEGY],
            runners=[StandardVideoRunner(STRATEGY.modality)],
            plugins=tuple(put.plugins),
            extra_plugins=[(UNDER_TEST, plugin)],
        )
        self.renders_root = root / "renders"
        self.shots = shots
        self._plan: CanonicalPlan | None = None

    @property
    def plan(self) -> CanonicalPlan:
        """The plan every run of this episode renders (built at the first run)."""
        if self._plan is None:
            prompt = self.put.service.shot_prompt()
            self._plan = canonical_plan(
                [
                    canonical_shot(
                        f"EP001_SH{i:02d}",
                        i,
                        location_id=f"LOC_{i}",
                        duration_s=self.put.duration_s,
                        video_model=self.put.model,
                        aspect_ratio=self.put.aspect_ratio,
                        prompt=prompt or "",
                    )
                    for i in range(1, self.shots + 1)
                ],
                project=PROJECT,
                episode=EPISODE,
            )
        return self._plan

    def run(self, **options: Any) -> RunReport:
        """One ``recoil run`` of the plan through the real runner; ``options`` are RunOptions."""
        options.setdefault("provider", self.put.spec.name)
        options.setdefault("strategy", STRATEGY.name)
        options.setdefault("poll_interval_s", 0.0)
        options.setdefault("budget_usd", 1000.0)
        runner = EpisodeRunner(
            self.plan,
            registry=self.harness.registry,
            backend=self.harness.backend,
            options=RunOptions(**options),
            env=self.put.env,
            renders_root=self.renders_root,
        )
        return asyncio.run(runner.run())

    def scenes(self) -> list[Scene]:
        backend = self.harness.backend
        found = []
        for scene_id in backend.list_scenes(PROJECT, EPISODE):
            scene = backend.load_scene(PROJECT, EPISODE, scene_id)
            if scene is not None:
                found.append(scene)
        return found

    def takes(self) -> list[Take]:
        return [take for s in self.scenes() for beat in s.beats for take in beat.takes]

    def take(self) -> Take:
        (take,) = self.takes()
        return take

    def ledger_by_job(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for entry in self.harness.backend.read_ledger(PROJECT, EPISODE):
            assert entry.job_id is not None, f"ledger entry {entry.entry_id} names no job"
            totals[entry.job_id] = totals.get(entry.job_id, 0.0) + entry.amount_usd
        return totals

    def ledger_kinds(self) -> list[ChargeKind]:
        return [e.kind for e in self.harness.backend.read_ledger(PROJECT, EPISODE)]

    def job_ids(self) -> list[str]:
        return [s.job_id for t in self.takes() for s in t.workflow.steps if s.job_id]

    def assert_money(self, *, unadopted: int = 0) -> None:
        """Nobody paid twice and the ledger equals the fake's bill, job by job.

        Every job the service made belongs to one take step (but ``unadopted`` jobs whose
        create answer was lost and that wait for a person), no step's job is another's,
        every succeeded take has its render, and the ledger's total per job id equals what
        the service billed for that job (0 where it billed nothing)."""
        service = self.put.service
        jobs = self.job_ids()
        assert len(jobs) == len(set(jobs)), f"a job in two take steps: {jobs}"
        assert service.creates() == len(jobs) + unadopted, (
            f"the service made {service.creates()} job(s); the takes know {len(jobs)}: "
            "a create was paid twice or a job was lost"
        )
        entries = self.harness.backend.read_ledger(PROJECT, EPISODE)
        ids = [e.entry_id for e in entries]
        assert len(ids) == len(set(ids)), "a charge was recorded twice"
        billed = {k: v for k, v in service.billed_usd().items() if v}
        assert set(billed) <= set(jobs), f"billed jobs no take knows: {set(billed) - set(jobs)}"
        ledger = self.ledger_by_job()
        for job_id in set(billed) | set(ledger):
            assert ledger.get(job_id, 0.0) == pytest.approx(billed.get(job_id, 0.0), abs=1e-9), (
                f"job {job_id}: ledger {ledger.get(job_id, 0.0)} USD, service billed "
                f"{billed.get(job_id, 0.0)} USD"
            )
        for take in self.takes():
            if take.state == TakeState.SUCCEEDED:
                render = Path(take.render_path or "")
                assert render.is_file() and render.stat().st_size > 0, (
                    f"{take.take_id} succeeded without its render"
                )


def _knob(put: ProviderUnderTest, turn: Callable[[], None]) -> None:
    """Turn a knob of the fake, skipping the test when the fake does not have it."""
    try:
        turn()
    except Unsupported as exc:
        pytest.skip(f"{type(put.service).__name__} does not provide {exc}")


class ProviderConformance:
    """The provider conformance tests; subclass it and provide ``provider_under_test``.

    See the module docstring for an example. Each test runs the real episode runner
    against your fake service in a fresh ``tmp_path``.
    """

    @pytest.fixture
    def provider_under_test(self) -> ProviderUnderTest:
        """Override: your :class:`ProviderUnderTest`, built against a running fake."""
        raise NotImplementedError("override the provider_under_test fixture")

    @pytest.fixture
    def put(
        self, provider_under_test: ProviderUnderTest, request: pytest.FixtureRequest
    ) -> ProviderUnderTest:
        """``provider_under_test``, or a skip when its ``skip`` names the running test."""
        name = request.node.originalname
        if name in provider_under_test.skip:
            pytest.skip(provider_under_test.skip[name])
        return provider_under_test

    @pytest.fixture
    def episode(self, tmp_path: Path, put: ProviderUnderTest) -> Episode:
        """One-shot runs of the provider under test in ``tmp_path``."""
        return Episode(tmp_path, put)

    # ------------------------------------------------------------------ final states

    def test_jobs_are_created_polled_downloaded_and_charged_what_the_service_billed(
        self, tmp_path: Path, put: ProviderUnderTest
    ) -> None:
        episode = Episode(tmp_path, put, shots=2)

        report = episode.run()

        assert report.complete, report.attention
        takes = episode.takes()
        assert [t.state for t in takes] == [TakeState.SUCCEEDED] * 2
        jobs = episode.job_ids()
        assert len(jobs) >= 2 and episode.ledger_kinds() == [ChargeKind.SUCCEEDED] * len(jobs)
        episode.assert_money()

    def test_a_second_run_of_a_finished_episode_creates_and_charges_nothing(
        self, episode: Episode, put: ProviderUnderTest
    ) -> None:
        episode.run()
        ledger, creates = episode.ledger_by_job(), put.service.creates()

        again = episode.run()

        assert again.complete and put.service.creates() == creates
        assert episode.ledger_by_job() == ledger
        episode.assert_money()

    def test_a_failed_job_fails_its_take_and_is_charged_only_what_was_billed(
        self, episode: Episode, put: ProviderUnderTest
    ) -> None:
        _knob(put, lambda: put.service.fail_jobs(moderated=False))

        report = episode.run()

        take = episode.take()
        assert not report.complete
        assert take.state in (TakeState.FAILED, TakeState.FAILED_BUT_BILLED)
        assert take.render_path is None and take.error
        billed = sum(put.service.billed_usd().values())
        if billed:
            assert put.spec.bills_failures, "a failed job was billed: declare bills_failures"
            assert take.state == TakeState.FAILED_BUT_BILLED
        else:
            assert take.state == TakeState.FAILED and episode.ledger_kinds() == []
        episode.assert_money()

    def test_output_moderation_fails_the_take_with_what_was_billed(
        self, episode: Episode, put: ProviderUnderTest
    ) -> None:
        _knob(put, lambda: put.service.fail_jobs(moderated=True))

        report = episode.run()

        take = episode.take()
        assert not report.complete and take.render_path is None
        billed = sum(put.service.billed_usd().values())
        expected = TakeState.FAILED_BUT_BILLED if billed else TakeState.FAILED
        assert take.state == expected and take.error
        episode.assert_money()

    def test_input_moderation_at_create_fails_the_take_with_nothing_made(
        self, episode: Episode, put: ProviderUnderTest
    ) -> None:
        _knob(put, put.service.refuse_create_as_moderated)

        report = episode.run()

        take = episode.take()
        assert not report.complete and take.state == TakeState.FAILED and take.error
        assert put.service.creates() == 0 and episode.ledger_kinds() == []
        assert episode.calls.finds == 0, "a refused create is not a lost one"
        episode.assert_money()

    # ------------------------------------------------------------------ transport faults

    def test_429_on_create_is_retried_by_the_provider_honouring_retry_after(
        self, episode: Episode, put: ProviderUnderTest
    ) -> None:
        _knob(put, lambda: put.service.rate_limit_creates(2, 0.0))

        report = episode.run()

        assert report.complete, report.attention
        assert episode.take().state == TakeState.SUCCEEDED
        assert episode.calls.submits == len(episode.job_ids()), "the kernel retried a create"
        episode.assert_money()

    def test_5xx_while_polling_is_retried_by_the_provider(
        self, episode: Episode, put: ProviderUnderTest
    ) -> None:
        _knob(put, lambda: put.service.fail_polls(2, 503, 0.0))

        report = episode.run()

        assert report.complete, report.attention
        assert episode.take().state == TakeState.SUCCEEDED
        episode.assert_money()

    def test_a_create_whose_answer_was_lost_is_never_paid_twice(
        self, episode: Episode, put: ProviderUnderTest
    ) -> None:
        """With ``can_find_by_request``, ``find`` adopts the job (the take succeeds with one
        create); without it, the take waits for a person and nothing is sent again."""
        try:
            put.service.lose_create_answer()
        except Unsupported:
            episode.calls.lose_answers = 1  # the job is made; its answer lost in-process

        first = episode.run()
        second = episode.run() if not first.complete else first

        take = episode.take()
        if put.spec.can_find_by_request:
            assert episode.calls.finds >= 1
            assert second.complete and take.state == TakeState.SUCCEEDED, take.attention
            assert set(episode.ledger_kinds()) == {ChargeKind.SUCCEEDED}
        else:
            assert not second.complete and take.attention
            assert take.state not in (TakeState.SUCCEEDED, TakeState.FAILED)
            assert episode.ledger_kinds() == []
        episode.assert_money(unadopted=0 if put.spec.can_find_by_request else 1)

    # ------------------------------------------------------------------ cancel

    @pytest.mark.parametrize("state", ["queued", "running"])
    def test_a_job_past_its_timeout_is_cancelled_only_where_declared_cancellable(
        self, episode: Episode, put: ProviderUnderTest, state: str
    ) -> None:
        _knob(put, lambda: put.service.hold_jobs(state))

        report = episode.run(job_timeout_s=JOB_TIMEOUT_S, poll_interval_s=POLL_S)

        take = episode.take()
        assert not report.complete
        if state in put.spec.cancellable_states:
            assert episode.calls.cancels, f"a {state} job past its timeout was not cancelled"
            assert take.state == TakeState.FAILED
            assert take.workflow.steps[0].state == StepState.CANCELLED
            assert episode.ledger_kinds() == [] and not any(put.service.billed_usd().values())
        else:
            assert episode.calls.cancels == [], f"a {state} job was cancelled: not declared"
            assert take.state == TakeState.SUBMITTED and take.attention
            assert episode.ledger_kinds() == []
            _knob(put, put.service.release_jobs)
            again = episode.run(poll_interval_s=POLL_S)
            assert again.complete and episode.take().state == TakeState.SUCCEEDED
        episode.assert_money()

    @pytest.mark.parametrize("state", ["queued", "running"])
    def test_cancel_does_what_the_spec_declares(
        self, tmp_path: Path, put: ProviderUnderTest, state: str
    ) -> None:
        """A cancel in a declared cancellable state ends the job unbilled; in any other
        state the provider may send it, but the job goes on and reports its real bill."""
        _knob(put, lambda: put.service.hold_jobs(state))
        prompt = put.service.shot_prompt() or "a quiet street at dawn"
        request = SubmitRequest(
            take_id="SH01_take_0",
            step_id="video",
            modality="video_t2v",
            model=put.model,
            payload={
                "prompt": prompt,
                "duration_s": put.duration_s,
                "aspect_ratio": put.aspect_ratio,
                "segments": [{"prompt": prompt}],
            },
            seed=7,
            request_key="conformance-cancel-key",
        )

        async def scenario() -> JobStatus:
            provider = put.spec.factory(ProviderContext(env=put.env))
            try:
                job_id = await provider.submit(request)
                status = await provider.poll(job_id)
                assert status.state == state, f"held {state}, polled {status.state}"
                try:
                    await provider.cancel(job_id)
                except ProviderError:
                    assert state not in put.spec.cancellable_states, "a declared cancel failed"
                if state not in put.spec.cancellable_states:
                    put.service.release_jobs()
                for _ in range(50):
                    status = await provider.poll(job_id)
                    if status.is_final:
                        return status
                raise AssertionError(f"job {job_id} never ended after the cancel")
            finally:
                await provider.aclose()

        status = asyncio.run(scenario())

        billed = sum(put.service.billed_usd().values())
        assert status.cost_usd == pytest.approx(billed, abs=1e-9)
        if state in put.spec.cancellable_states:
            assert status.state == "cancelled" and billed == 0
        elif billed == 0:
            assert status.state != "succeeded", "a job that went on was not billed"

    # ------------------------------------------------------------------ outputs

    def test_output_gone_before_download_is_failed_but_billed_with_the_reason(
        self, episode: Episode, put: ProviderUnderTest
    ) -> None:
        if put.spec.output_retention_s is None:
            pytest.skip(f"{put.spec.name} declares no output retention (output_retention_s)")
        _knob(put, put.service.expire_outputs)

        reports = [episode.run()]
        if episode.take().state == TakeState.SUBMITTED:  # the next run settles it
            reports.append(episode.run())

        take = episode.take()
        assert take.state == TakeState.FAILED_BUT_BILLED, take.attention
        assert "expired" in (take.error or "").lower()
        assert take.render_path is None
        assert episode.ledger_kinds() == [ChargeKind.FAILED_BUT_BILLED]
        episode.assert_money()

    def test_output_deleted_between_poll_and_download_is_failed_but_billed_at_once(
        self, episode: Episode, put: ProviderUnderTest
    ) -> None:
        """The service deletes the output after the poll saw it finished: the provider's
        download raises OutputExpired, and in the same run the take is failed_but_billed
        with the reason, charged the bill, with nothing sent or downloaded again."""
        if put.spec.output_retention_s is None:
            pytest.skip(f"{put.spec.name} declares no output retention (output_retention_s)")
        _knob(put, put.service.pass_retention)  # nothing finished yet: a probe of the knob
        episode.calls.expire_before_download = True

        report = episode.run()

        take = episode.take()
        assert not report.complete
        assert take.state == TakeState.FAILED_BUT_BILLED, take.attention
        (job_id,) = episode.job_ids()
        error = take.error or ""
        assert "output expired before download" in error and job_id in error
        assert put.spec.name in error
        assert take.render_path is None and not list(episode.renders_root.rglob("*.part"))
        assert episode.ledger_kinds() == [ChargeKind.FAILED_BUT_BILLED]
        assert episode.calls.downloads == 1 and episode.calls.submits == 1
        assert sum(episode.ledger_by_job().values()) > 0
        episode.assert_money()
        again = episode.run()
        assert episode.calls.downloads == 1 and put.service.creates() == 1
        assert not again.complete and episode.ledger_kinds() == [ChargeKind.FAILED_BUT_BILLED]

    def test_a_take_resumed_after_its_output_was_deleted_is_failed_but_billed(
        self, episode: Episode, put: ProviderUnderTest
    ) -> None:
        """A run stopped after the job finished and before its download; the next run comes
        after the retention: the take is failed_but_billed with the reason, never sent
        again, and charged exactly what the service billed."""
        if put.spec.output_retention_s is None:
            pytest.skip(f"{put.spec.name} declares no output retention (output_retention_s)")
        _knob(put, put.service.pass_retention)
        episode.calls.stop_before_download = 1

        first = episode.run()
        assert not first.complete and episode.take().state == TakeState.SUBMITTED
        assert episode.ledger_kinds() == []
        put.service.pass_retention()
        episode.run()

        take = episode.take()
        assert take.state == TakeState.FAILED_BUT_BILLED, take.attention
        (job_id,) = episode.job_ids()
        assert "output expired before download" in (take.error or "")
        assert job_id in (take.error or "")
        assert episode.calls.submits == 1 and put.service.creates() == 1
        # the resumed run told the provider what the job was created from before polling
        assert episode.calls.remembered.count(job_id) >= 2
        assert episode.ledger_kinds() == [ChargeKind.FAILED_BUT_BILLED]
        episode.assert_money()

    # ------------------------------------------------------------------ secrets

    def test_secrets_are_never_written_to_a_file_or_a_log(
        self,
        tmp_path: Path,
        put: ProviderUnderTest,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        secrets = [s for s in put.secrets if s]
        if not secrets:
            pytest.skip(f"{put.spec.name} declares no secret to look for")
        caplog.set_level(logging.DEBUG)
        episode = Episode(tmp_path / "run", put, shots=2)
        episode.run()
        try:  # a failure path too: errors and attention notes are written
            put.service.fail_jobs(moderated=False)
        except Unsupported:
            pass
        else:
            Episode(tmp_path / "failed", put).run()

        written = list(_files(tmp_path))
        assert written, "the runs wrote nothing to scan"
        for path in written:
            data = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in data, f"a secret is written in {path}"
        for secret in secrets:
            assert secret not in caplog.text, "a secret is in a log line"


def _files(root: Path) -> Iterator[Path]:
    yield from (p for p in root.rglob("*") if p.is_file())
