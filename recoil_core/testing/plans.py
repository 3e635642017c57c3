"""Plan builders for tests: canonical shots, plans and coverage passes, and plan files on disk.

``canonical_*`` build the validated model directly; ``plan_dict``/``write_plan`` build the
JSON a studio would write, to exercise the loader.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from recoil_core.hashing import WILDCARD
from recoil_core.model import CanonicalPlan, CanonicalShot, CoveragePass, CoverageSegment

__all__ = [
    "canonical_plan",
    "canonical_shot",
    "coverage_pass",
    "coverage_pass_dict",
    "plan_dict",
    "write_plan",
]

ShotSpec = str | Mapping[str, Any]
"""A shot in ``plan_dict``: its id alone, or the full shot object."""


def canonical_shot(shot_id: str, scene_index: int = 1, **overrides: Any) -> CanonicalShot:
    """A CanonicalShot with fixture defaults: SEQ11, LOC_A, MS, 2 s, 9:16, seeddance-2.0."""
    fields: dict[str, Any] = {
        "shot_id": shot_id,
        "scene_index": scene_index,
        "sequence_id": "SEQ11",
        "pipeline": "video",
        "previs_model": None,
        "video_model": "seeddance-2.0",
        "location_id": "LOC_A",
        "characters": (),
        "shot_type": "MS",
        "duration_s": 2.0,
        "is_env_only": False,
        "has_dialogue": False,
        "aspect_ratio": "9:16",
        "quality": None,
        "cinematography": None,
        "raw": {},
    }
    fields.update(overrides)
    return CanonicalShot(**fields)


def canonical_plan(
    shots: Iterable[CanonicalShot],
    passes: Iterable[CoveragePass] = (),
    project: str = "p",
    episode: str = "EP001",
    **overrides: Any,
) -> CanonicalPlan:
    """A CanonicalPlan of ``shots`` in the given order (each shot's ``order`` = its position)."""
    ordered = [attrs.evolve(shot, order=index) for index, shot in enumerate(shots)]
    fields: dict[str, Any] = {
        "project": project,
        "episode_id": episode,
        "shots": ordered,
        "coverage_passes": tuple(passes),
        "sequence_ids": tuple(dict.fromkeys(shot.sequence_id for shot in ordered)),
    }
    fields.update(overrides)
    return CanonicalPlan(**fields)


def coverage_pass(
    pass_id: str = "EP001_PASS_011_SH01_02_A_ENV",
    shot_range: tuple[str, str] = ("EP001_SH01", "EP001_SH02"),
    segments: Sequence[str | CoverageSegment] | None = None,
    *,
    episode: str = "EP001",
    **overrides: Any,
) -> CoveragePass:
    """A CoveragePass; ``segments`` may be shot ids (``"wildcard"`` for a wildcard) or segments.

    Without ``segments`` the pass has one 2 s segment per end of its ``shot_range``.
    """
    specs: Sequence[str | CoverageSegment] = (
        segments if segments is not None else list(dict.fromkeys(shot_range))
    )
    built = [
        spec
        if isinstance(spec, CoverageSegment)
        else CoverageSegment(index, spec, is_wildcard=spec == WILDCARD)
        for index, spec in enumerate(specs)
    ]
    fields: dict[str, Any] = {
        "pass_id": pass_id,
        "episode_id": episode,
        "shot_range": tuple(shot_range),
        "segments": built,
        "wildcard_enabled": any(segment.is_wildcard for segment in built),
    }
    fields.update(overrides)
    return CoveragePass(**fields)


def coverage_pass_dict(
    pass_id: str = "EP001_PASS_011_SH01_02_A_ENV",
    shot_range: tuple[str, str] = ("EP001_SH01", "EP001_SH02"),
    segments: Sequence[str | Mapping[str, Any]] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A coverage pass as written in a plan file; string segments are shot ids or ``"wildcard"``."""
    data: dict[str, Any] = {"pass_id": pass_id, "shot_range": list(shot_range)}
    if segments is not None:
        data["segments"] = [
            {"shot_id": spec} if isinstance(spec, str) else dict(spec) for spec in segments
        ]
    data.update(fields)
    return data


def plan_dict(
    sequences: Mapping[str, Sequence[ShotSpec] | Mapping[str, Any]] | None = None,
    *,
    project: str | None = "p",
    episode: str | None = "EP001",
    passes: Sequence[Mapping[str, Any]] = (),
    **top: Any,
) -> dict[str, Any]:
    """A plan as a studio writes it. ``sequences`` maps a sequence id to its shots (ids or
    shot objects) or to a full sequence object; the default is the original runner's
    ``{"SEQ11": [EP001_SH01, EP001_SH02]}``. ``top`` adds top-level fields (``defaults``...).
    """
    if sequences is None:
        sequences = {"SEQ11": ["EP001_SH01", "EP001_SH02"]}
    data: dict[str, Any] = {"schema_version": 1}
    if project is not None:
        data["project"] = project
    if episode is not None:
        data["episode"] = episode
    built: dict[str, Any] = {}
    for sequence_id, spec in sequences.items():
        if isinstance(spec, Mapping):
            built[sequence_id] = dict(spec)
        else:
            built[sequence_id] = {
                "shots": [{"shot_id": s} if isinstance(s, str) else dict(s) for s in spec]
            }
    data["sequences"] = built
    if passes:
        data["coverage_passes"] = [dict(p) for p in passes]
    data.update(top)
    return data


def write_plan(
    directory: Path,
    data: Mapping[str, Any] | None = None,
    *,
    name: str = "plan.json",
    **kwargs: Any,
) -> Path:
    """Write ``data`` (or ``plan_dict(**kwargs)``) as ``directory/name`` and return the path."""
    if data is None:
        data = plan_dict(**kwargs)
    elif kwargs:
        raise TypeError("give either a plan dict or plan_dict() arguments, not both")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path
