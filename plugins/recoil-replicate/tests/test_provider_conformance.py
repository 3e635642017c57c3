"""The replicate provider passes recoil-core's provider conformance suite against the fake
Replicate API, for an official model (billed per output second) and a versioned one
(billed per second of hardware time, failures included)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest
from recoil_replicate import plugin
from recoil_replicate.testing.fake_replicate import RETENTION_S, FakeReplicateServer

from recoil_core.testing.providers import ProviderConformance, ProviderUnderTest, ServiceControls

VERSIONED_REF = "fake-owner/short-clip"


class ReplicateControls(ServiceControls):
    def __init__(self, fake: FakeReplicateServer) -> None:
        self.fake = fake

    def billed_usd(self) -> Mapping[str, float]:
        return dict(self.fake.stats()["billed_usd_by_prediction"])

    def creates(self) -> int:
        return int(self.fake.stats()["creates_total"])

    def fail_jobs(self, *, moderated: bool) -> None:
        self.fake.set(outcome="moderate" if moderated else "fail")

    def rate_limit_creates(self, times: int, retry_after_s: float) -> None:
        self.fake.inject(
            "create", "status", times=times, status_code=429, retry_after=retry_after_s
        )

    def fail_polls(self, times: int, status: int, retry_after_s: float | None) -> None:
        self.fake.inject(
            "get", "status", times=times, status_code=status, retry_after=retry_after_s
        )

    def lose_create_answer(self) -> None:
        self.fake.inject("create", "drop")

    def hold_jobs(self, state: str) -> None:
        self.fake.set(**{"hold_starting" if state == "queued" else "never_finish": True})

    def release_jobs(self) -> None:
        self.fake.set(hold_starting=False, never_finish=False)

    def expire_outputs(self) -> None:
        self.fake.set(retention_s=0.0)

    def pass_retention(self) -> None:
        self.fake.pass_time(RETENTION_S + 60)

    # refuse_create_as_moderated is not offered: Replicate reports moderation as a failed
    # prediction (E005, "flagged as sensitive"), not as a refused create.


def _under_test(
    fake: FakeReplicateServer, model: str, extra_env: Mapping[str, str] = {}
) -> ProviderUnderTest:
    return ProviderUnderTest.from_plugin(
        plugin,
        "replicate",
        env={
            "REPLICATE_API_TOKEN": fake.api_token,
            "REPLICATE_API_BASE": fake.base_url,
            "RECOIL_HTTP_TRANSPORT": "httpx",
            **extra_env,
        },
        service=ReplicateControls(fake),
        model=model,
        duration_s=5.0,
        secrets=(fake.api_token,),
    )


class TestOfficialModelConformance(ProviderConformance):
    """An official model bills its output seconds at its resolution, both only in the
    prediction's input, which Replicate removes after an hour: a run resumed later prices
    the job from the request the kernel hands ``remember`` (the resumed-take case)."""

    @pytest.fixture
    def provider_under_test(self, fake_replicate: FakeReplicateServer) -> ProviderUnderTest:
        return _under_test(fake_replicate, "seedance-1-pro")


class TestVersionedModelConformance(ProviderConformance):
    """A versioned model's hardware is not on its predictions: the studio declares it in
    its price file (RECOIL_REPLICATE_PRICES), as it would for its own models."""

    @pytest.fixture
    def provider_under_test(
        self,
        fake_replicate: FakeReplicateServer,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> ProviderUnderTest:
        version = fake_replicate.add_version(VERSIONED_REF, hardware="gpu-l40s", predict_s=90.0)
        prices = tmp_path / "replicate-prices.json"
        prices.write_text(
            json.dumps(
                {
                    "as_of": "2026-12-01",
                    "versioned": {
                        VERSIONED_REF: {"hardware": "gpu-l40s", "estimate_predict_s": 120}
                    },
                }
            )
        )
        # the estimator reads the process environment, the provider its ProviderContext
        monkeypatch.setenv("RECOIL_REPLICATE_PRICES", str(prices))
        return _under_test(
            fake_replicate,
            f"{VERSIONED_REF}:{version}",
            {"RECOIL_REPLICATE_PRICES": str(prices)},
        )
