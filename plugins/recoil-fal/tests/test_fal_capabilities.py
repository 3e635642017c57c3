"""What recoil-fal declares each model renders: the durations its inputs take (a unit
longer than the longest is refused by the kernel, never clamped)."""

from __future__ import annotations

from recoil_fal.models import MODELS
from recoil_fal.plugin import recoil_providers

from recoil_core.api import Durations


def test_every_served_model_declares_capabilities() -> None:
    (spec,) = recoil_providers()

    assert spec.models and set(spec.models) == set(spec.model_capabilities)


def test_declared_capabilities_are_the_models_input_mapping() -> None:
    (spec,) = recoil_providers()

    for name, model in MODELS.items():
        caps = spec.model_capabilities[name]
        assert caps.durations == Durations.of(*model.durations)
        assert caps.aspect_ratios == model.aspect_ratios
        assert caps.resolutions == model.resolutions
        assert caps.max_reference_images == 0


def test_a_running_cancel_is_billed() -> None:
    (spec,) = recoil_providers()

    assert spec.cancellable_states == frozenset({"queued"})
    assert spec.cancel_running_billed is True
