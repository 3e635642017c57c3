"""fal over the fake fal queue API passes the provider conformance suite."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from recoil_fal import plugin
from recoil_fal.testing.fake_fal import MEDIA_RETENTION_S, FakeFalServer

from recoil_core.testing.providers import (
    ProviderConformance,
    ProviderUnderTest,
    ServiceControls,
)


class FalControls(ServiceControls):
    """The suite's knobs, turned on the fake fal's knobs and faults."""

    def __init__(self, fal: FakeFalServer) -> None:
        self.fal = fal

    def billed_usd(self) -> Mapping[str, float]:
        # the provider's job id is "<endpoint>|<seconds>|<request id>"
        by_request = self.fal.billed_usd()
        return {
            f"{r.endpoint}|{r.seconds}|{r.id}": by_request[r.id]
            for r in self.fal.requests()
            if r.id in by_request
        }

    def creates(self) -> int:
        return self.fal.creates_total

    def fail_jobs(self, *, moderated: bool) -> None:
        self.fal.set(outcome="moderated" if moderated else "fail")

    def refuse_create_as_moderated(self) -> None:
        self.fal.inject("submit", status_code=422, error_type="content_policy_violation")

    def rate_limit_creates(self, times: int, retry_after_s: float) -> None:
        self.fal.inject("submit", status_code=429, times=times, retry_after=retry_after_s)

    def fail_polls(self, times: int, status: int, retry_after_s: float | None) -> None:
        self.fal.inject("status", status_code=status, times=times, retry_after=retry_after_s)

    def lose_create_answer(self) -> None:
        self.fal.inject("submit", "drop")

    def hold_jobs(self, state: str) -> None:
        self.fal.set(hold=state)

    def release_jobs(self) -> None:
        self.fal.set(hold=None)

    def expire_outputs(self) -> None:
        self.fal.set(expire_outputs=True)

    def pass_retention(self) -> None:
        self.fal.pass_time(MEDIA_RETENTION_S + 60)


class TestFalConformance(ProviderConformance):
    @pytest.fixture
    def provider_under_test(
        self, fake_fal: FakeFalServer, monkeypatch: pytest.MonkeyPatch
    ) -> ProviderUnderTest:
        # the fake lists a request once it is finished: search a lost create again soon
        monkeypatch.setenv("RECOIL_FAL_FIND_CONSISTENCY_S", "0.05")
        return ProviderUnderTest.from_plugin(
            plugin,
            "fal",
            env={
                "FAL_KEY": fake_fal.api_key,
                "FAL_QUEUE_URL": fake_fal.base_url,
                "FAL_API_URL": fake_fal.base_url,
            },
            service=FalControls(fake_fal),
            model="kling-2.1",
            duration_s=5.0,
            secrets=(fake_fal.api_key,),
        )
