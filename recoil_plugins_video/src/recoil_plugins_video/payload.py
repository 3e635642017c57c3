"""Payload assembly shared by every video runner: segments, prompt, frames, pass config.

Pure functions of the beat, its plan shots and the build context; the runner classes in
:mod:`recoil_plugins_video.base` decide which steps to build from them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from recoil_core.api import (
    Beat,
    BuildContext,
    CanonicalShot,
    GroupIdentity,
    PayloadBuildError,
    Segment,
    reference_images,
    render_name,
)

MIRRORED_HINTS = ("tier", "seed")
"""generation_config keys also copied into ``provider_hints``."""


def beat_identity(beat: Beat) -> GroupIdentity:
    """The beat's grouping identity; a beat without one is treated as a solo unit."""
    if beat.grouping is not None:
        return beat.grouping
    shot_ids = beat.shot_ids
    return GroupIdentity("solo" if len(shot_ids) == 1 else "unit", 0, shot_ids)


def episode_prefix(ctx: BuildContext) -> str:
    """The episode part of render names when shot ids do not carry one."""
    return ctx.plan.episode_id or ctx.episode


def output_filename(
    beat: Beat, ctx: BuildContext, *, suffix: str = ".mp4", tag: str | None = None
) -> str:
    """The render file name of this beat's take (``take_number = take_index + 1``)."""
    try:
        return render_name(
            beat_identity(beat),
            episode=episode_prefix(ctx),
            take_number=ctx.take_index + 1,
            suffix=suffix,
            tag=tag,
            version=ctx.scene_version,
        )
    except ValueError as exc:
        raise PayloadBuildError(beat.beat_id, f"cannot name the render: {exc}") from exc


def plan_shots(beat: Beat, ctx: BuildContext) -> list[CanonicalShot]:
    """The plan shots of the beat, in beat order; every real shot id must be in the plan."""
    missing = [sid for sid in beat.shot_ids if not ctx.plan.has_shot(sid)]
    for segment in beat.segments:
        if segment.shot_id is not None and not ctx.plan.has_shot(segment.shot_id):
            missing.append(segment.shot_id)
    if missing:
        raise PayloadBuildError(
            beat.beat_id,
            f"shot(s) {', '.join(dict.fromkeys(missing))} are not in the plan "
            f"{ctx.plan.source_path or ctx.plan.episode_id}; regroup the plan",
        )
    shots = ctx.shots_for(beat)
    if not shots:
        raise PayloadBuildError(beat.beat_id, "the beat covers no shot of the plan")
    return shots


def beat_segments(beat: Beat, shots: Sequence[CanonicalShot]) -> list[Segment]:
    """The beat's segments; a beat built without segments gets one per shot."""
    if beat.segments:
        return list(beat.segments)
    return [Segment(s.shot_id, s.duration_s, s.prompt, s.shot_type) for s in shots]


def _describe(shot: CanonicalShot) -> str:
    text = f"{shot.shot_type} shot at {shot.location_id}"
    if shot.characters:
        text += f" with {', '.join(shot.characters)}"
    return text


def segment_text(segment: Segment, ctx: BuildContext) -> str:
    """What a segment shows: its own prompt, else its shot's, else a plain description."""
    if segment.prompt:
        return segment.prompt
    if segment.shot_id is None:
        return f"{segment.shot_type} shot"
    shot = ctx.plan.shot(segment.shot_id)
    return shot.prompt or _describe(shot)


def segment_dicts(segments: Sequence[Segment], ctx: BuildContext) -> list[dict[str, Any]]:
    """Payload form of segments: shot details for real shots, prompt kept for wildcards."""
    out: list[dict[str, Any]] = []
    for segment in segments:
        shot = ctx.plan.shot(segment.shot_id) if segment.shot_id is not None else None
        out.append(
            {
                "shot_id": segment.shot_id,
                "duration_s": float(segment.duration_s),
                "prompt": segment_text(segment, ctx),
                "shot_type": segment.shot_type,
                "location_id": shot.location_id if shot else None,
                "characters": list(shot.characters) if shot else [],
            }
        )
    return out


def compose_prompt(segments: Sequence[Mapping[str, Any]]) -> str:
    """One segment: its text. Several: each text after its time range, ``[0-2s] ...``."""
    if len(segments) == 1:
        return str(segments[0]["prompt"])
    parts: list[str] = []
    start = 0.0
    for segment in segments:
        end = start + float(segment["duration_s"])
        parts.append(f"[{start:g}-{end:g}s] {segment['prompt']}")
        start = end
    return " ".join(parts)


def is_remote(value: str) -> bool:
    """A frame given as a URL or data URI (not checked on disk)."""
    return "://" in value or value.startswith("data:")


def resolve_frame(beat: Beat, shot_id: str, role: str, value: str, ctx: BuildContext) -> str:
    """A frame named by the plan: URLs as given, local paths made absolute and checked."""
    if is_remote(value):
        return value
    path = Path(value).expanduser()
    if not path.is_absolute() and ctx.plan.source_path:
        path = Path(ctx.plan.source_path).parent / path
    if not path.is_file():
        raise PayloadBuildError(
            beat.beat_id,
            f"shot {shot_id}: frames.{role} names {path}, which does not exist; "
            "fix the path in the plan or create the file",
        )
    return str(path.resolve())


def reference_frames(shot: CanonicalShot) -> list[tuple[str, str]]:
    """(role, value) of the frames a shot offers as references: first frame, then references."""
    found = [("first_frame", shot.frames["first_frame"])] if shot.frames.get("first_frame") else []
    found += [("references", value) for value in reference_images(shot) if value]
    return found


def apply_pass_config(payload: dict[str, Any], beat: Beat) -> dict[str, Any]:
    """Apply the beat's pass config: ``generation_config`` overrides payload keys, ``tier`` and
    ``seed`` are mirrored into ``provider_hints`` (other hints kept), ``element_config`` merges
    into the payload's element config."""
    config = beat.generation_config
    for key, value in config.items():
        payload[key] = value
    hints = dict(payload.get("provider_hints") or {})
    for key in MIRRORED_HINTS:
        if key in config:
            hints[key] = config[key]
    payload["provider_hints"] = hints
    payload["element_config"] = {**dict(payload.get("element_config") or {}), **beat.element_config}
    return payload


def plan_default(ctx: BuildContext, key: str) -> dict[str, Any]:
    """A dict the plan's ``defaults`` sets for every payload (``provider_hints``...)."""
    value = ctx.plan.defaults.get(key)
    return dict(value) if isinstance(value, Mapping) else {}


def plan_flag(ctx: BuildContext, key: str) -> bool:
    """A boolean plan default (``generate_audio``, ``camera_fixed``, ``watermark``)."""
    return bool(ctx.plan.defaults.get(key, False))


# ---------------------------------------------------------------------- assets

DEFAULT_PROMPT_TEMPLATE = "{prompt} {cast}"
"""A runner's prompt: the shot text, then who is in the shot with their look."""


def unit_cast(beat: Beat, shots: Sequence[CanonicalShot], ctx: BuildContext) -> list[Any]:
    """The plan assets the unit shows: its characters, most screen time first (ties: first
    seen), then its locations the same way. Ids the plan declares no asset for are left out."""
    timed: list[tuple[CanonicalShot, float]]
    real = [s for s in beat.segments if s.shot_id is not None and ctx.plan.has_shot(s.shot_id)]
    if real:
        timed = [(ctx.plan.shot(str(s.shot_id)), float(s.duration_s)) for s in real]
    else:
        timed = [(shot, shot.duration_s) for shot in shots]
    screen: dict[str, float] = {}
    places: dict[str, float] = {}
    for shot, seconds in timed:
        for character in shot.characters:
            screen[character] = screen.get(character, 0.0) + seconds
        places[shot.location_id] = places.get(shot.location_id, 0.0) + seconds
    cast = []
    for ranked in (screen, places):
        order = sorted(ranked, key=lambda key: -ranked[key])  # stable: ties keep first seen
        cast += [found for key in order if (found := ctx.plan.asset(key)) is not None]
    return cast


def cast_text(cast: Sequence[Any]) -> str:
    """``Maya (teal uniform); Kai (grey coat); at Moonlight Diner (neon, rain).`` for the
    assets that have a look; ``""`` when none has."""
    people = [f"{a.label} ({a.look})" for a in cast if a.look and a.kind == "character"]
    places = [f"at {a.label} ({a.look})" for a in cast if a.look and a.kind == "location"]
    parts = "; ".join([*people, *places])
    return f"{parts}." if parts else ""


def cast_prompt(
    prompt: str, cast: Sequence[Any], ctx: BuildContext, modality: str, template: str
) -> str:
    """The prompt through the runner's template (the plan's ``prompt_templates`` entry for
    ``modality`` wins): ``{prompt}`` is the shot text, ``{cast}`` :func:`cast_text`."""
    chosen = ctx.plan.prompt_templates.get(modality, template)
    cast_line = cast_text(cast)
    if chosen == DEFAULT_PROMPT_TEMPLATE and not cast_line:
        return prompt
    return chosen.replace("{cast}", cast_line).replace("{prompt}", prompt).strip()


def asset_references(cast: Sequence[Any]) -> list[tuple[str, str]]:
    """(asset id, image) of every reference the cast brings, in cast order, each once."""
    seen: dict[str, str] = {}
    for asset in cast:
        for image in asset.references:
            seen.setdefault(image, asset.asset_id)
    return [(asset_id, image) for image, asset_id in seen.items()]


def assets_used(cast: Sequence[Any]) -> list[dict[str, Any]]:
    """What a sidecar records of the assets a render used: ids, approved take and version."""
    return [asset.used() for asset in cast if asset.shapes_render()]


def model_limits(
    ctx: BuildContext, model: str, *, max_references: int | None, frames_with_references: bool
) -> tuple[int | None, bool]:
    """The model's reference limits: what the provider declares for it (handed to runners
    in ``ctx.settings["model_capabilities"]``, by model), else the runner's defaults."""
    declared = (ctx.settings.get("model_capabilities") or {}).get(model)
    if declared is None:
        return max_references, frames_with_references
    if isinstance(declared, Mapping):
        limit = declared.get("max_reference_images", max_references)
        mixing = declared.get("frames_with_references", frames_with_references)
    else:
        limit = getattr(declared, "max_reference_images", max_references)
        mixing = getattr(declared, "frames_with_references", frames_with_references)
    return (None if limit is None else int(limit)), bool(mixing)
