"""Provider faults through the real runner and the real Seedance provider, against the
fake Ark server's fault knobs: every fault ends in the right take state and the right
ledger entry, with at most one create per take and the ledger equal to what Ark billed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ark_money import (
    PLUGINS,
    SENTINEL_KEY,
    check_money,
    filesystem,
    persisted_scenes,
    run_episode,
    small_plan,
)
from recoil_seeddance.estimate import estimate_step_usd
from recoil_seeddance.provider import ArkProvider
from recoil_seeddance.testing.doubles import create_times_out
from recoil_seeddance.testing.fake_ark import FakeArkServer

from recoil_core.interfaces import (
    CostEstimator,
    ProviderContext,
    ProviderLimits,
    ProviderSpec,
)
from recoil_core.model import ChargeKind, StepState, Take, TakeState
from recoil_core.persistence.protocol import PersistenceBackend
from recoil_core.registry import Registry, build_registry
from recoil_core.runner import RunReport
from recoil_core.settings import PluginSelection
from recoil_core.testing.doubles import make_plugin

PROJECT, EPISODE = "p", "EP001"
LATE_ANSWER = "ark-late-answer"
"""The real ArkProvider whose first create times out once the fake Ark has made the task."""


def late_answer_plugin(ark: FakeArkServer) -> object:
    late = [1]  # the first create of the test has its answer lost; later clients answer

    def factory(ctx: ProviderContext) -> ArkProvider:
        times, late[0] = late[0], 0
        return ArkProvider(
            api_key=ctx.env["ARK_API_KEY"],
            client=create_times_out(ark, times=times),
            base_url=ctx.env["ARK_BASE_URL"],
        )

    spec = ProviderSpec(
        name=LATE_ANSWER,
        modalities=frozenset({"video_i2v", "r2v_multi", "video_t2v"}),
        factory=factory,
        limits=ProviderLimits(concurrency=4, poll_interval_s=0.0),
        can_find_by_request=True,
        cancellable_states=frozenset({"queued"}),  # as Ark: a running task bills
    )
    return make_plugin(providers=[spec], estimators=[CostEstimator(LATE_ANSWER, estimate_step_usd)])


@pytest.fixture(scope="module")
def registry() -> Registry:
    return build_registry(PluginSelection(load_only=PLUGINS))


@pytest.fixture
def ark() -> Iterator[FakeArkServer]:
    with FakeArkServer(api_key=SENTINEL_KEY) as server:
        yield server


@pytest.fixture
def backend(tmp_path: Path, registry: Registry) -> PersistenceBackend:
    return filesystem(registry, tmp_path / "projects")


def env_of(ark: FakeArkServer) -> dict[str, str]:
    return {"ARK_API_KEY": ark.api_key, "ARK_BASE_URL": ark.base_url}


def run_one(
    ark: FakeArkServer, registry: Registry, backend: PersistenceBackend, **options: object
) -> tuple[RunReport, Take]:
    env = {"ARK_API_KEY": ark.api_key, "ARK_BASE_URL": ark.base_url}
    report = run_episode(small_plan(1), registry, backend, env, **options)
    ((take,),) = [
        beat.takes for s in persisted_scenes(backend, PROJECT, EPISODE) for beat in s.beats
    ]
    return report, take


def ledger_kinds(backend: PersistenceBackend) -> list[ChargeKind]:
    return [entry.kind for entry in backend.read_ledger(PROJECT, EPISODE)]


def test_429_burst_on_create_waits_and_creates_once(ark, registry, backend) -> None:
    ark.inject("create", "status", status_code=429, times=3, retry_after=0)

    report, take = run_one(ark, registry, backend)

    assert report.complete and take.state == TakeState.SUCCEEDED
    assert ark.stats()["requests"]["create"] == 4
    assert ledger_kinds(backend) == [ChargeKind.SUCCEEDED]
    assert check_money(ark, backend, PROJECT, EPISODE).creates == 1


def test_429_that_outlasts_the_providers_retries_is_tried_by_one_layer_only(
    ark, registry, backend
) -> None:
    """The provider retries a 429 create (5 attempts); the kernel adds none on top, and
    the take, refused before anything was made, uses no attempt: the next run creates."""
    ark.inject("create", "status", status_code=429, times=5, retry_after=0)

    report, take = run_one(ark, registry, backend)

    assert not report.complete and take.state == TakeState.CANCELLED
    assert ark.stats()["requests"]["create"] == 5 and ark.creates_total == 0
    again = run_episode(small_plan(1), registry, backend, env_of(ark))
    assert again.complete and ark.stats()["requests"]["create"] == 6
    assert check_money(ark, backend, PROJECT, EPISODE).creates == 1


@pytest.mark.parametrize(
    ("kind", "status_code"),
    [("status", 500), ("status", 503), ("drop", 0), ("malformed", 0)],
    ids=["500-after-create", "503-after-create", "connection-dropped", "malformed-json"],
)
def test_ambiguous_create_is_found_in_the_task_list_not_repeated(
    ark, registry, backend, kind: str, status_code: int
) -> None:
    ark.inject("create", kind, status_code=status_code or 500)  # type: ignore[arg-type]

    report, take = run_one(ark, registry, backend)

    assert report.complete and take.state == TakeState.SUCCEEDED
    stats = ark.stats()
    assert stats["creates_total"] == 1 and stats["requests"]["create"] == 1
    assert stats["requests"]["list"] >= 1
    assert take.workflow.steps[0].job_id == next(iter(stats["tasks"]))
    assert ledger_kinds(backend) == [ChargeKind.SUCCEEDED]
    check_money(ark, backend, PROJECT, EPISODE)


def test_create_that_times_out_is_found_in_the_task_list_not_repeated(ark, backend) -> None:
    registry = build_registry(
        PluginSelection(load_only=(*PLUGINS, "late-answer")),
        extra=[("late-answer", late_answer_plugin(ark))],
    )

    report, take = run_one(ark, registry, backend, provider=LATE_ANSWER)

    assert report.complete and take.state == TakeState.SUCCEEDED
    stats = ark.stats()
    assert stats["creates_total"] == 1 and stats["requests"]["create"] == 1
    assert stats["requests"]["list"] >= 1  # found by searching, not by a second create
    check_money(ark, backend, PROJECT, EPISODE)


def test_5xx_and_malformed_answers_while_polling_are_retried(ark, registry, backend) -> None:
    ark.set(polls_to_finish=3)
    ark.inject("get", "status", status_code=500, times=1)
    ark.inject("get", "malformed", times=1)

    report, take = run_one(ark, registry, backend)

    assert report.complete and take.state == TakeState.SUCCEEDED
    assert ledger_kinds(backend) == [ChargeKind.SUCCEEDED]
    assert check_money(ark, backend, PROJECT, EPISODE).creates == 1


def test_output_moderation_fails_the_take_without_a_charge(ark, registry, backend) -> None:
    ark.set(output_moderation=True)

    report, take = run_one(ark, registry, backend)

    assert not report.complete and take.state == TakeState.FAILED
    assert "OutputVideoSensitiveContentDetected" in (take.error or "")
    assert backend.read_ledger(PROJECT, EPISODE) == []
    assert take.render_path is None
    check_money(ark, backend, PROJECT, EPISODE)


def test_billed_output_moderation_is_failed_but_billed_with_its_charge(
    ark, registry, backend
) -> None:
    ark.set(output_moderation=True, moderation_billed=True)

    report, take = run_one(ark, registry, backend)

    assert not report.complete and take.state == TakeState.FAILED_BUT_BILLED
    assert ledger_kinds(backend) == [ChargeKind.FAILED_BUT_BILLED]
    counts = check_money(ark, backend, PROJECT, EPISODE)
    assert counts.ledger_usd > 0 and take.cost_usd == pytest.approx(counts.billed_usd)


def test_input_moderation_at_create_fails_the_take_with_nothing_created(
    ark, registry, backend
) -> None:
    ark.inject("create", "status", status_code=400, code="InputTextSensitiveContentDetected")

    report, take = run_one(ark, registry, backend)

    assert take.state == TakeState.FAILED and "Sensitive" in (take.error or "")
    assert ark.creates_total == 0 and backend.read_ledger(PROJECT, EPISODE) == []
    assert not report.complete


def test_expired_media_url_is_refreshed_from_the_task(ark, registry, backend) -> None:
    ark.set(expired_media_urls=1)

    report, take = run_one(ark, registry, backend)

    assert report.complete and take.state == TakeState.SUCCEEDED
    assert ark.stats()["requests"]["media"] == 2
    assert Path(take.render_path or "").stat().st_size > 0
    check_money(ark, backend, PROJECT, EPISODE)


def test_media_that_stays_unavailable_leaves_the_take_to_resume_and_is_charged_once(
    ark, registry, backend
) -> None:
    ark.set(expired_media_urls=10)

    report, take = run_one(ark, registry, backend)

    assert take.state == TakeState.SUBMITTED and take.attention
    assert backend.read_ledger(PROJECT, EPISODE) == []  # charged with the render, not before
    ark.set(expired_media_urls=0)

    report, take = run_one(ark, registry, backend)

    assert report.complete and take.state == TakeState.SUCCEEDED
    assert ledger_kinds(backend) == [ChargeKind.SUCCEEDED]
    assert check_money(ark, backend, PROJECT, EPISODE).creates == 1


def test_job_still_queued_at_its_timeout_is_cancelled_and_costs_nothing(
    ark, registry, backend
) -> None:
    ark.set(hold_queued=True)

    report, take = run_one(ark, registry, backend, job_timeout_s=0.3, poll_interval_s=0.02)

    assert not report.complete and take.state == TakeState.FAILED
    job_id = take.workflow.steps[0].job_id
    assert take.workflow.steps[0].state == StepState.CANCELLED
    assert ark.stats()["tasks"] == {job_id: "cancelled"}
    assert backend.read_ledger(PROJECT, EPISODE) == []
    check_money(ark, backend, PROJECT, EPISODE)


def test_job_running_at_its_timeout_is_never_cancelled_and_its_bill_is_followed(
    ark, registry, backend
) -> None:
    """Ark refuses to cancel a running task and bills it when it finishes: the take keeps
    the job, and the next run charges what Ark billed and keeps the video."""
    ark.set(never_finish=True)

    report, take = run_one(ark, registry, backend, job_timeout_s=0.3, poll_interval_s=0.02)

    job_id = take.workflow.steps[0].job_id
    assert not report.complete and take.state == TakeState.SUBMITTED
    assert "billed when it finishes" in (take.attention or "")
    stats = ark.stats()
    assert stats["tasks"] == {job_id: "running"} and stats.get("cancels_refused", 0) == 0
    assert backend.read_ledger(PROJECT, EPISODE) == []

    ark.set(never_finish=False)
    again, take = run_one(ark, registry, backend)

    assert again.complete and take.state == TakeState.SUCCEEDED
    assert [e.job_id for e in backend.read_ledger(PROJECT, EPISODE)] == [job_id]
    counts = check_money(ark, backend, PROJECT, EPISODE)
    assert counts.creates == 1 and counts.succeeded == 1
