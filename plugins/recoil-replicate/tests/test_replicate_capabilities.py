"""What recoil-replicate declares: each official model's durations by every name a plan
may use for it; versioned models (any other name) declare nothing."""

from __future__ import annotations

from recoil_replicate.models import FRIENDLY, OFFICIAL
from recoil_replicate.plugin import recoil_providers

from recoil_core.api import Durations


def test_every_official_model_name_declares_capabilities() -> None:
    (spec,) = recoil_providers()

    assert set(spec.model_capabilities) == set(OFFICIAL) | set(FRIENDLY)
    assert not spec.models  # versioned owner/name:version models are served too
    for name, ref in FRIENDLY.items():
        assert spec.model_capabilities[name] == spec.model_capabilities[ref]
        assert spec.model_capabilities[ref].durations == Durations.of(*OFFICIAL[ref].durations)


def test_a_running_cancel_is_billed_and_outputs_last_an_hour() -> None:
    (spec,) = recoil_providers()

    assert spec.cancel_running_billed is True
    assert spec.output_retention_s == 3600.0
