"""Plan values: a validated episode plan, its shots and its coverage passes (all frozen)."""

from __future__ import annotations

from typing import Any

import attrs

from recoil_core.hashing import WILDCARD, shotset_hash
from recoil_core.model.assets import Asset
from recoil_core.model.base import as_dict, as_tuple


@attrs.frozen
class CanonicalShot:
    """One shot of a plan after loading and validation (docs/plan-format.md, "Shots")."""

    shot_id: str
    """Unique in the plan, e.g. ``EP001_SH01``; renders are named from it."""
    sequence_id: str
    """The sequence the shot belongs to."""
    scene_index: int
    """1-based position of the shot's sequence in the plan."""
    location_id: str
    """The shot's location (the sequence's unless the shot names its own)."""
    duration_s: float
    """Seconds, more than 0 and at most 60."""
    prompt: str = ""
    """What the shot shows."""
    characters: tuple[str, ...] = attrs.field(default=(), converter=as_tuple)
    """Character ids in the shot, each once."""
    shot_type: str = "MS"
    """``WS``, ``MS``, ``CU``..."""
    video_model: str = "seeddance-2.0"
    """Friendly name of the video model; the provider maps it to its own model id."""
    previs_model: str | None = None
    pipeline: str = "video"
    is_env_only: bool = False
    """An environment-only shot (it lists no characters)."""
    has_dialogue: bool = False
    aspect_ratio: str = "16:9"
    resolution: str = "720p"
    quality: str | None = None
    cinematography: str | None = None
    seed: int | None = None
    """The plan's explicit seed, if it gives one."""
    frames: dict[str, str] = attrs.field(factory=dict, converter=as_dict)
    """``first_frame``, ``last_frame`` and ``reference_image_<n>``: absolute paths or URLs
    (:func:`~recoil_core.plan.reference_images` lists the references)."""
    order: int = 0
    """Position of the shot in the whole plan (0 for the first)."""
    raw: dict[str, Any] = attrs.field(factory=dict, converter=as_dict, eq=False, repr=False)
    """The shot's ``x-`` fields from the plan file, untouched."""


@attrs.frozen
class CoverageSegment:
    """One segment of a coverage pass: a real shot, or a wildcard (no shot of the plan)."""

    index: int
    shot_id: str
    shot_type: str = "MS"
    duration_s: float = 2.0
    prompt: str = ""
    is_wildcard: bool = False

    @property
    def is_real(self) -> bool:
        return not self.is_wildcard and self.shot_id != WILDCARD


@attrs.frozen
class CoveragePass:
    """A coverage pass block of a plan (id like ``EP001_PASS_011_SH01_02_A_ENV``)."""

    pass_id: str
    episode_id: str
    shot_range: tuple[str, str] = attrs.field(converter=tuple)
    camera_side: str = "A"
    label: str = ""
    focus_character: str = ""
    pass_type: str = "env"
    segments: tuple[CoverageSegment, ...] = attrs.field(default=(), converter=as_tuple)
    generation_config: dict[str, Any] = attrs.field(factory=dict, converter=as_dict)
    element_config: dict[str, Any] = attrs.field(factory=dict, converter=as_dict)
    wildcard_enabled: bool = False

    @property
    def real_shot_ids(self) -> list[str]:
        """Shot ids of the real segments, in segment order, without repeats."""
        seen: dict[str, None] = {}
        for segment in sorted(self.segments, key=lambda s: s.index):
            if segment.is_real:
                seen.setdefault(segment.shot_id, None)
        return list(seen)

    @property
    def shot_ids(self) -> list[str]:
        """Real shot ids; a wildcard-only pass stands for its shot range."""
        return self.real_shot_ids or [sid for sid in dict.fromkeys(self.shot_range)]

    @property
    def shotset_hash(self) -> str:
        return shotset_hash(self.shot_ids)

    def to_dict(self) -> dict[str, Any]:
        """The pass as JSON-ready data (through the one converter), with its real shot
        ids and their ``shotset_hash``."""
        from recoil_core.convert import converter  # convert imports the model

        data: dict[str, Any] = converter.unstructure(self, CoveragePass)
        data["shot_range"] = list(self.shot_range)
        data["shot_ids"] = self.shot_ids
        data["shotset_hash"] = self.shotset_hash
        return data


@attrs.frozen
class CanonicalPlan:
    """A validated episode plan: shots in plan order, coverage passes, defaults."""

    project: str
    episode_id: str
    shots: tuple[CanonicalShot, ...] = attrs.field(converter=as_tuple)
    coverage_passes: tuple[CoveragePass, ...] = attrs.field(default=(), converter=as_tuple)
    sequence_ids: tuple[str, ...] = attrs.field(default=(), converter=as_tuple)
    defaults: dict[str, Any] = attrs.field(factory=dict, converter=as_dict)
    source_path: str | None = None
    assets: tuple[Asset, ...] = attrs.field(default=(), converter=as_tuple)
    """Declared characters, then locations, in plan order (:mod:`~recoil_core.model.assets`)."""
    prompt_templates: dict[str, str] = attrs.field(factory=dict, converter=as_dict)
    """Prompt template by runner modality, overriding the runner's own."""
    _by_id: dict[str, CanonicalShot] = attrs.field(init=False, eq=False, repr=False)
    _assets: dict[str, Asset] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {shot.shot_id: shot for shot in self.shots})
        object.__setattr__(self, "_assets", {asset.asset_id: asset for asset in self.assets})

    def asset(self, asset_id: str) -> Asset | None:
        """The declared character or location with this id, if any."""
        return self._assets.get(asset_id)

    def shot(self, shot_id: str) -> CanonicalShot:
        """The shot with this id; ``KeyError`` if the plan has none."""
        return self._by_id[shot_id]

    def has_shot(self, shot_id: str) -> bool:
        return shot_id in self._by_id

    def pass_by_id(self, pass_id: str) -> CoveragePass:
        for coverage_pass in self.coverage_passes:
            if coverage_pass.pass_id == pass_id:
                return coverage_pass
        raise KeyError(pass_id)
