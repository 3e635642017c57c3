"""Seedance over the fake Ark task API passes the provider conformance suite."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest
from recoil_seeddance import plugin
from recoil_seeddance.models import model_info
from recoil_seeddance.pricing import price_table
from recoil_seeddance.testing.fake_ark import MEDIA_RETENTION_S, FakeArkServer

from recoil_core.testing.providers import (
    ProviderConformance,
    ProviderUnderTest,
    ServiceControls,
)

KEY = "ark-conformance-secret-4f1c2e"


class ArkControls(ServiceControls):
    """The suite's knobs, turned on the fake Ark's own knobs, faults and prompt markers."""

    def __init__(self, ark: FakeArkServer) -> None:
        self.ark = ark
        self.prompt: str | None = None

    def billed_usd(self) -> Mapping[str, float]:
        table = price_table()
        billed = {}
        for task_id, tokens in self.ark.stats()["tokens_by_task"].items():
            task = self.ark.task(task_id)
            info = model_info(task["model"])
            audio = task.get("generate_audio") if info.supports_audio else None
            price = table.usd_per_mtok(
                info.family,
                resolution=task.get("resolution"),
                generate_audio=audio if isinstance(audio, bool) else None,
            )
            billed[task_id] = table.cost_usd(tokens, price)
        return billed

    def creates(self) -> int:
        return self.ark.creates_total

    def shot_prompt(self) -> str | None:
        return self.prompt

    def fail_jobs(self, *, moderated: bool) -> None:
        if moderated:
            self.ark.set(output_moderation=True)
        else:
            self.prompt = "a street at dawn [[fail]]"

    def refuse_create_as_moderated(self) -> None:
        self.ark.inject(
            "create", "status", status_code=400, code="InputTextSensitiveContentDetected"
        )

    def rate_limit_creates(self, times: int, retry_after_s: float) -> None:
        self.ark.inject("create", "status", status_code=429, times=times, retry_after=retry_after_s)

    def fail_polls(self, times: int, status: int, retry_after_s: float | None) -> None:
        self.ark.inject("get", "status", status_code=status, times=times, retry_after=retry_after_s)

    def lose_create_answer(self) -> None:
        self.ark.inject("create", "drop")

    def hold_jobs(self, state: str) -> None:
        self.ark.set(**({"hold_queued": True} if state == "queued" else {"never_finish": True}))

    def release_jobs(self) -> None:
        self.ark.set(hold_queued=False, never_finish=False)

    def pass_retention(self) -> None:
        self.ark.pass_time(MEDIA_RETENTION_S + 60)


@pytest.fixture
def ark() -> Iterator[FakeArkServer]:
    with FakeArkServer(api_key=KEY) as server:
        yield server


class TestSeedanceConformance(ProviderConformance):
    @pytest.fixture
    def provider_under_test(
        self, ark: FakeArkServer, monkeypatch: pytest.MonkeyPatch
    ) -> ProviderUnderTest:
        # the fake's task list is consistent at once: search a lost create again soon
        monkeypatch.setenv("RECOIL_SEEDDANCE_FIND_CONSISTENCY_S", "0.05")
        return ProviderUnderTest.from_plugin(
            plugin,
            "seeddance",
            env={"ARK_API_KEY": ark.api_key, "ARK_BASE_URL": ark.base_url},
            service=ArkControls(ark),
            model="seeddance-2.0",
            duration_s=5.0,
            secrets=(KEY,),
        )
