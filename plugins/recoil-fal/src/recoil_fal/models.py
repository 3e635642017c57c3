"""The fal video models this provider serves: endpoint ids, input mapping, durations.

Plans name models by friendly name (``kling-2.1``); each maps to a fal endpoint for
text-to-video and one for image-to-video, and declares the durations it renders. A shot
longer than the longest duration is refused, never clamped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs


@attrs.frozen
class FalModel:
    """One model family on fal and how a Recoil payload becomes its input."""

    name: str
    t2v: str
    """Endpoint id for text-to-video."""
    i2v: str
    """Endpoint id for image-to-video (takes ``image_url``)."""
    durations: tuple[int, ...]
    """Seconds the model renders; sent as a string, as fal's schemas take them."""
    aspect_ratios: tuple[str, ...] = ("16:9", "9:16", "1:1")
    resolutions: tuple[str, ...] = ()
    """Values of the ``resolution`` input, where the model has one."""

    def duration_for(self, seconds: object) -> int:
        """The shortest declared duration covering ``seconds``; ValueError past the longest."""
        wanted = float(seconds) if isinstance(seconds, int | float) else float(self.durations[0])
        for duration in self.durations:
            if duration >= wanted - 1e-9:
                return duration
        raise ValueError(
            f"{self.name} renders at most {self.durations[-1]} s; this unit needs {wanted:g} s "
            "(split it into shorter units)"
        )

    def endpoint(self, with_image: bool) -> str:
        return self.i2v if with_image else self.t2v

    def build_input(
        self, payload: Mapping[str, Any], *, image_url: str | None, request_key: str
    ) -> dict[str, Any]:
        """The JSON input fal's endpoint takes for ``payload``."""
        body: dict[str, Any] = {
            "prompt": str(payload.get("prompt") or ""),
            "duration": str(self.duration_for(payload.get("duration_s"))),
        }
        if image_url is not None:
            body["image_url"] = image_url
        else:
            ratio = str(payload.get("aspect_ratio") or self.aspect_ratios[0])
            if ratio in self.aspect_ratios:
                body["aspect_ratio"] = ratio
        resolution = payload.get("resolution")
        if self.resolutions:
            body["resolution"] = (
                resolution if resolution in self.resolutions else self.resolutions[0]
            )
        if request_key:
            body[REQUEST_KEY_FIELD] = request_key
        return body


REQUEST_KEY_FIELD = "recoil_request_key"
"""Input field carrying the take's request key. fal stores each request's input and its
request listing (``expand=payloads``) shows it back as ``json_input``: that is how a create
whose answer was lost is found again. Model inputs ignore fields they do not know."""

MODELS: Mapping[str, FalModel] = {
    model.name: model
    for model in (
        FalModel(
            name="kling-2.1",
            t2v="fal-ai/kling-video/v2.1/master/text-to-video",
            i2v="fal-ai/kling-video/v2.1/standard/image-to-video",
            durations=(5, 10),
        ),
        FalModel(
            name="seedance-1-pro",
            t2v="fal-ai/bytedance/seedance/v1/pro/text-to-video",
            i2v="fal-ai/bytedance/seedance/v1/pro/image-to-video",
            durations=(3, 4, 5, 6, 7, 8, 9, 10, 11, 12),
            aspect_ratios=("16:9", "9:16", "1:1", "4:3", "3:4", "21:9"),
            resolutions=("1080p", "720p", "480p"),
        ),
        FalModel(
            name="hailuo-02",
            t2v="fal-ai/minimax/hailuo-02/standard/text-to-video",
            i2v="fal-ai/minimax/hailuo-02/standard/image-to-video",
            durations=(6, 10),
            aspect_ratios=("16:9",),
        ),
    )
}

PRICE_KEY: Mapping[str, str] = {
    "fal-ai/kling-video/v2.1/master/text-to-video": "kling-2.1-master",
    "fal-ai/kling-video/v2.1/standard/image-to-video": "kling-2.1",
    "fal-ai/bytedance/seedance/v1/pro/text-to-video": "seedance-1-pro",
    "fal-ai/bytedance/seedance/v1/pro/image-to-video": "seedance-1-pro",
    "fal-ai/minimax/hailuo-02/standard/text-to-video": "hailuo-02",
    "fal-ai/minimax/hailuo-02/standard/image-to-video": "hailuo-02",
}
"""The price table entry of each endpoint."""

ENDPOINT_DURATIONS: Mapping[str, tuple[int, ...]] = {
    endpoint: model.durations for model in MODELS.values() for endpoint in (model.t2v, model.i2v)
}


def model_for(name: str) -> FalModel:
    """The model a plan names; KeyError names the models served."""
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"fal serves {', '.join(sorted(MODELS))}, not {name!r}") from None
