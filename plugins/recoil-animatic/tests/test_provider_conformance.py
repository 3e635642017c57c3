"""The animatic provider passes the provider conformance suite.

It renders locally and free: there is no service to refuse, rate-limit, hold or expire
anything, and no key, so those tests skip and say so. A lost create is simulated by the
suite in-process (the job is rendered, its answer dropped), which ``find`` must adopt.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
from recoil_animatic import plugin

from recoil_core.testing.providers import (
    ProviderConformance,
    ProviderUnderTest,
    ServiceControls,
)


class AnimaticControls(ServiceControls):
    """The animatic's "service" is its job cache: each job is a ``<cache>/anim-*.json``."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache

    def billed_usd(self) -> Mapping[str, float]:
        return {}  # rendered locally: nothing is ever billed

    def creates(self) -> int:
        return len(list(self.cache.glob("anim-*.json")))


class TestAnimaticConformance(ProviderConformance):
    @pytest.fixture
    def provider_under_test(self, tmp_path: Path) -> ProviderUnderTest:
        cache = tmp_path / "animatic-cache"
        return ProviderUnderTest.from_plugin(
            plugin,
            "animatic",
            env={"RECOIL_ANIMATIC_CACHE": str(cache)},
            service=AnimaticControls(cache),
            model="seeddance-2.0",
            duration_s=2.0,
        )
