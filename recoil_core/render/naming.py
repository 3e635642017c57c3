"""Render file names from grouping identities: ``EP001_SH1_take1.mp4``, ``EP001_ONER_001_...``."""

from __future__ import annotations

import hashlib
import re

import attrs

from recoil_core.hashing import WILDCARD
from recoil_core.ids import MAX_ID_LENGTH, validate_id
from recoil_core.model import GroupIdentity

STRATEGY_TAGS = {"continuity": "CONT", "oner": "ONER", "coverage": "COV"}
"""The tag a multi-shot strategy's renders carry; other strategies use their name."""
_SHOT_ID = re.compile(r"^(?P<prefix>.+)_SH(?P<number>\d+)(?P<suffix>[A-Za-z0-9]*)$")
_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_SUFFIX = re.compile(r"^\.[A-Za-z0-9]+$")


@attrs.frozen
class _ShotNumber:
    prefix: str
    number: int
    suffix: str


def _parse_shot(shot_id: str) -> _ShotNumber | None:
    match = _SHOT_ID.match(shot_id)
    if match is None:
        return None
    return _ShotNumber(match["prefix"], int(match["number"]), match["suffix"])


def _strategy_tag(strategy: str) -> str:
    if strategy in STRATEGY_TAGS:
        return STRATEGY_TAGS[strategy]
    return re.sub(r"[^A-Za-z0-9]+", "_", strategy).strip("_").upper() or "UNIT"


def _solo_stem(shot_id: str, episode: str) -> str:
    parsed = _parse_shot(shot_id)
    if parsed is not None:
        return f"{parsed.prefix}_SH{parsed.number}{parsed.suffix}"
    if shot_id.startswith(f"{episode}_"):
        return shot_id
    return f"{episode}_{shot_id}"


def _multi_stem(identity: GroupIdentity, shot_ids: list[str], episode: str) -> str:
    head = f"{_strategy_tag(identity.strategy)}_{identity.ordinal:03d}"
    if not shot_ids:
        return f"{episode}_{head}"
    parsed = [_parse_shot(sid) for sid in shot_ids]
    numbers = [p for p in parsed if p is not None]
    if len(numbers) != len(parsed):
        span = shot_ids[0] if len(shot_ids) == 1 else f"{shot_ids[0]}_{shot_ids[-1]}"
        return f"{episode}_{head}_{span}"
    ordered = sorted(numbers, key=lambda p: (p.number, p.suffix))
    first, last = ordered[0], ordered[-1]
    span = f"SH{first.number:02d}{first.suffix}"
    if (last.number, last.suffix) != (first.number, first.suffix):
        span += f"_{last.number:02d}{last.suffix}"
    return f"{numbers[0].prefix}_{head}_{span}"


def render_name(
    identity: GroupIdentity,
    *,
    episode: str,
    take_number: int,
    suffix: str = ".mp4",
    tag: str | None = None,
    version: int = 1,
) -> str:
    """The file name of a render of ``identity`` (``EP001_SH1_take1.mp4``, ``EP001_ONER_001_...``).

    Solo units use the shot stem (shot number without leading zeros); multi-shot strategies
    put their tag and 3-digit ordinal before the first and last shot numbers. The episode
    prefix comes from the shot ids (the part before ``_SH``), else ``episode``. ``tag``
    (``"kf"``) marks intermediate outputs. A take of scene ``version`` 2 or later is named
    ``..._v2_take1.mp4``, so a re-derived version never overwrites an earlier version's
    render. Raises InvalidIdError for an unsafe result.
    """
    if take_number < 1:
        raise ValueError(f"take_number must be 1 or more, got {take_number}")
    if not _SUFFIX.match(suffix):
        raise ValueError(f"suffix must look like '.mp4', got {suffix!r}")
    if tag is not None and not _TAG.match(tag):
        raise ValueError(f"tag may only use letters, digits and '-', got {tag!r}")
    shot_ids = [sid for sid in identity.shot_ids if sid and sid != WILDCARD]
    if identity.strategy == "solo" and len(shot_ids) == 1:
        stem = _solo_stem(shot_ids[0], episode)
    else:
        stem = _multi_stem(identity, shot_ids, episode)
    if version < 1:
        raise ValueError(f"version must be 1 or more, got {version}")
    tail = (f"_v{version}" if version > 1 else "") + f"_take{take_number}"
    tail += (f"_{tag}" if tag else "") + suffix
    if len(stem) + len(tail) > MAX_ID_LENGTH:
        # ids that are valid on their own can make a name too long for the file system's
        # limit: keep the start of the stem and make it unique with a digest of all of it
        digest = hashlib.sha256(stem.encode()).hexdigest()[:12]
        stem = f"{stem[: MAX_ID_LENGTH - len(tail) - len(digest) - 1]}-{digest}"
    return validate_id(stem + tail, what="render file name")


def sidecar_name(name: str) -> str:
    """The provenance sidecar's file name for render ``name``."""
    return f"{name}.json"
