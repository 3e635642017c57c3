"""The models this provider knows on Replicate: official video models (billed per output
second) with their input mapping and durations, and versioned models (``owner/name:version``,
billed per second of hardware time)."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping

import attrs

VERSION_ID = re.compile(r"^[0-9a-f]{64}$")
MODEL_REF = re.compile(r"^[a-z0-9][a-z0-9_.-]*/[a-z0-9][a-z0-9_.-]*$", re.IGNORECASE)


class UnknownModel(ValueError):
    """A model name that is neither a known official model nor ``owner/name:version``."""


@attrs.frozen
class OfficialModel:
    """An official Replicate model: created at ``POST /v1/models/{ref}/predictions``,
    billed per second of output video at a price that depends on its resolution."""

    ref: str
    """``owner/name`` on Replicate."""
    durations: tuple[int, ...]
    """The clip lengths (seconds) it renders, ascending."""
    resolutions: tuple[str, ...]
    aspect_ratios: tuple[str, ...]
    """Ratios it takes for text-to-video (empty: it follows the start image)."""
    start_image_field: str
    last_image_field: str | None
    needs_start_image: bool
    resolution_field: str | None
    """The input naming the resolution (``None``: ``mode``, see ``modes``)."""
    modes: Mapping[str, str] = attrs.field(factory=dict)
    """Resolution to the ``mode`` input value, for models that choose quality by mode."""
    seed_field: str | None = None
    modalities: frozenset[str] = frozenset({"video_i2v", "video_t2v"})

    @property
    def kind(self) -> str:
        return "official"

    def duration_for(self, duration_s: float | None) -> int:
        """The shortest declared duration that covers ``duration_s`` (a clip can be
        trimmed, never stretched). Longer than the longest it renders: ``ValueError``,
        never clamped (the clip would end before the shots it covers)."""
        wanted = self.durations[0] if duration_s is None else float(duration_s)
        for seconds in self.durations:
            if seconds + 1e-6 >= wanted:
                return seconds
        raise ValueError(
            f"{self.ref} renders at most {self.durations[-1]} s; {wanted:g} s were asked for "
            "(split the unit or choose a model that renders longer clips)"
        )


@attrs.frozen
class VersionedModel:
    """A model run by version id at ``POST /v1/predictions``, billed per second of the
    hardware it runs on (``metrics.predict_time``)."""

    ref: str
    """``owner/name`` (``""`` when only the version id was given)."""
    version: str

    @property
    def kind(self) -> str:
        return "versioned"

    @property
    def name(self) -> str:
        return f"{self.ref}:{self.version}" if self.ref else self.version


Model = OfficialModel | VersionedModel

OFFICIAL: Mapping[str, OfficialModel] = {
    "kwaivgi/kling-v2.1": OfficialModel(
        ref="kwaivgi/kling-v2.1",
        durations=(5, 10),
        resolutions=("720p", "1080p"),
        aspect_ratios=(),
        start_image_field="start_image",
        last_image_field="end_image",
        needs_start_image=True,
        resolution_field=None,
        modes={"720p": "standard", "1080p": "pro"},
        modalities=frozenset({"video_i2v"}),
    ),
    "bytedance/seedance-1-pro": OfficialModel(
        ref="bytedance/seedance-1-pro",
        durations=tuple(range(2, 13)),
        resolutions=("480p", "720p", "1080p"),
        aspect_ratios=("16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21"),
        start_image_field="image",
        last_image_field="last_frame_image",
        needs_start_image=False,
        resolution_field="resolution",
        seed_field="seed",
    ),
}
"""Two widely used official video models; their inputs as their model pages list them."""

FRIENDLY: Mapping[str, str] = {
    "kling-v2.1": "kwaivgi/kling-v2.1",
    "seedance-1-pro": "bytedance/seedance-1-pro",
}
"""Short names a plan may use for the official models."""


@functools.lru_cache(maxsize=256)
def resolve(name: str) -> Model:
    """The model a plan's name means: a friendly name, an official ``owner/name``, or a
    versioned ``owner/name:version`` (or a bare 64-hex version id)."""
    ref = FRIENDLY.get(name, name)
    if ref in OFFICIAL:
        return OFFICIAL[ref]
    owner_name, sep, version = ref.rpartition(":")
    if not sep:
        owner_name, version = "", ref
    if VERSION_ID.match(version) and (not owner_name or MODEL_REF.match(owner_name)):
        return VersionedModel(ref=owner_name, version=version)
    raise UnknownModel(
        f"{name!r} is not a model the replicate provider knows: use one of "
        f"{', '.join(sorted(FRIENDLY) + sorted(OFFICIAL))}, or a versioned model as "
        "owner/name:<64-hex version id>"
    )


def max_duration(model: Model) -> float:
    """The longest clip the model renders in one prediction (``inf``: not declared)."""
    return float(model.durations[-1]) if isinstance(model, OfficialModel) else math.inf
