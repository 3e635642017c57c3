"""What recoil-seeddance declares each Seedance model renders (read by the kernel before
anything is reserved): the durations Ark takes, references, frames with references."""

from __future__ import annotations

from recoil_seeddance.models import FRIENDLY_MODELS, model_info
from recoil_seeddance.plugin import recoil_providers

from recoil_core.api import Durations


def test_every_served_model_declares_capabilities() -> None:
    (spec,) = recoil_providers()

    assert spec.models
    assert set(spec.models) == set(spec.model_capabilities)
    assert set(FRIENDLY_MODELS) <= set(spec.models)


def test_declared_durations_are_the_ones_the_request_sends() -> None:
    (spec,) = recoil_providers()

    for name, caps in spec.model_capabilities.items():
        info = model_info(name)
        assert caps.durations == Durations.range(info.min_duration, info.max_duration), name


def test_seedance_2_takes_nine_references_and_never_with_frames() -> None:
    (spec,) = recoil_providers()
    v2 = spec.model_capabilities["seeddance-2.0"]
    v15 = spec.model_capabilities["seeddance-1.5-pro"]

    assert v2.durations is not None and (v2.durations.min_s, v2.durations.max_s) == (4, 15)
    assert v2.max_reference_images == 9 and v2.frames_with_references is False
    assert v15.frames_with_references is True


def test_a_running_task_cannot_be_cancelled_so_no_running_cancel_is_billed() -> None:
    (spec,) = recoil_providers()

    assert spec.cancellable_states == frozenset({"queued"})
    assert spec.cancel_running_billed is False
