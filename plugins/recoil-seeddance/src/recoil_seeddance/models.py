"""Seedance model names: friendly names a plan uses, Ark model ids, accepted durations."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping

import attrs

FRIENDLY_MODELS: Mapping[str, str] = {
    "seeddance-1.0-pro": "seedance-1-0-pro-250528",
    "seeddance-1.0-pro-fast": "seedance-1-0-pro-fast-251015",
    "seeddance-1.5-pro": "seedance-1-5-pro-251215",
    "seeddance-2.0": "dreamina-seedance-2-0-260128",
    "seeddance-2.0-fast": "dreamina-seedance-2-0-fast-260128",
}

DEFAULT_DURATION_S = 5
_DATE_SUFFIX = re.compile(r"-\d{6}$")


@attrs.frozen
class ModelInfo:
    """What the provider needs to know about one Ark model id."""

    model_id: str
    family: str
    """The id without its date suffix: the key of the price table."""
    min_duration: int
    max_duration: int
    is_v2: bool
    supports_audio: bool

    def duration_for(self, duration_s: float | None) -> int:
        """The whole-second duration sent for a planned duration.

        Rounded up (a clip can be trimmed in the edit, never stretched) and clamped to
        the model's range; no duration means 5 s (clamped too).
        """
        wanted = DEFAULT_DURATION_S if duration_s is None else math.ceil(float(duration_s) - 1e-6)
        return max(self.min_duration, min(self.max_duration, wanted))


def model_id_for(name: str) -> str:
    """The Ark model id for a friendly name; anything else is taken to be an id already."""
    return FRIENDLY_MODELS.get(name, name)


@functools.lru_cache(maxsize=256)
def model_info(name: str) -> ModelInfo:
    """Durations and features of a model, by friendly name or Ark id (read at every poll)."""
    model_id = model_id_for(name)
    family = _DATE_SUFFIX.sub("", model_id)
    if family.startswith("dreamina-seedance-2"):
        return ModelInfo(model_id, family, 4, 15, is_v2=True, supports_audio=True)
    if family.startswith("seedance-1-5"):
        return ModelInfo(model_id, family, 4, 12, is_v2=False, supports_audio=True)
    return ModelInfo(model_id, family, 2, 12, is_v2=False, supports_audio=False)
