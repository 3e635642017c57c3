"""The animatic previs stands in for the paid provider: it mirrors the models other
providers declare, declares its own ``previs`` model, and fills a clip longer than its
shots (rounded up to what the paid model delivers) with a tail card."""

from __future__ import annotations

from recoil_animatic import job
from recoil_animatic.job import TAIL_CARD, build_job
from recoil_animatic.plugin import MAX_DURATION_S, PREVIS_MODEL, recoil_providers

from recoil_core.api import SubmitRequest


def test_it_mirrors_models_and_declares_its_own() -> None:
    (spec,) = recoil_providers()

    assert spec.mirrors_models is True
    assert set(spec.model_capabilities) == {PREVIS_MODEL}
    durations = spec.model_capabilities[PREVIS_MODEL].durations
    assert durations is not None and durations.max_s == MAX_DURATION_S == job.MAX_DURATION_S


def _request(duration_s: float) -> SubmitRequest:
    return SubmitRequest(
        take_id="t",
        step_id="video",
        modality="video_t2v",
        model="seeddance-2.0",
        payload={
            "duration_s": duration_s,
            "segments": [
                {"shot_id": "EP001_SH01", "duration_s": 1.5},
                {"shot_id": "EP001_SH02", "duration_s": 1.0},
            ],
        },
        seed=1,
    )


def test_a_clip_longer_than_its_shots_keeps_their_timing_and_adds_a_tail_card() -> None:
    rendered = build_job(_request(4.0))

    assert [(c.shot_id, c.duration_s) for c in rendered.cards] == [
        ("EP001_SH01", 1.5),
        ("EP001_SH02", 1.0),
        (TAIL_CARD, 1.5),
    ]
    assert sum(rendered.frame_counts()) == 48


def test_a_clip_as_long_as_its_shots_has_no_tail_card() -> None:
    rendered = build_job(_request(2.5))

    assert [c.shot_id for c in rendered.cards] == ["EP001_SH01", "EP001_SH02"]
