"""Coverage passes: their checks (shot ranges, segments, pass ids) and the CoveragePass
values built from them. Shots are checked first (:mod:`._build`); passes refer to them.
"""

from __future__ import annotations

import re
from typing import Any, cast

from recoil_core.hashing import WILDCARD
from recoil_core.model import CanonicalShot, CoveragePass, CoverageSegment
from recoil_core.plan._fields import FieldChecker, show, type_name, where
from recoil_core.plan._schema import MAX_PROMPT_CHARS, PASS_FIELDS, SEGMENT_FIELDS

_PASS_ORDINAL = re.compile(r"(?:^|_)PASS_(\d{1,6})(?:_|$)")
_PASS_ANY_ORDINAL = re.compile(r"(?:^|_)PASS_(\d+)(?:_|$)")


def pass_ordinal(pass_id: str) -> int:
    """The ordinal a coverage pass id carries (``EP001_PASS_011_...`` -> 11)."""
    match = _PASS_ORDINAL.search(pass_id)
    if match is None:
        raise ValueError(f"pass id {pass_id!r} has no PASS_<number> part")
    return int(match.group(1))


class CoverageChecker(FieldChecker):
    """Checks the ``coverage_passes`` list against the shots already checked."""

    def shots_between(self, first: str, last: str) -> dict[str, CanonicalShot | None]:
        """The shots from ``first`` to ``last`` (both known ids) in plan order, by id."""
        ids = self.shot_ids[self.shots[first].order : self.shots[last].order + 1]
        return {shot_id: self.shots[shot_id].shot for shot_id in ids}

    def coverage_passes(self, value: object, episode: str) -> list[CoveragePass]:
        if not isinstance(value, list):
            self.issue("coverage_passes", f"must be a list of passes, got {type_name(value)}")
            return []
        passes: list[CoveragePass] = []
        seen: dict[str, str] = {}
        for index, entry in enumerate(value):
            loc = where("coverage_passes", index)
            pass_id = entry.get("pass_id") if isinstance(entry, dict) else None
            if isinstance(pass_id, str) and pass_id in seen:
                self.issue(
                    where(loc, "pass_id"),
                    f"duplicate pass id {pass_id!r} (also at {seen[pass_id]})",
                )
            elif isinstance(pass_id, str):
                seen[pass_id] = loc
            built = self.coverage_pass(entry, loc, episode)
            if built is not None:
                passes.append(built)
        return passes

    def coverage_pass(self, entry: object, loc: str, episode: str) -> CoveragePass | None:
        before = len(self.issues)
        body = self.obj(entry, loc, PASS_FIELDS, "a coverage pass")
        if body is None:
            return None
        pass_id = body.get("pass_id")
        if pass_id is None:
            self.issue(where(loc, "pass_id"), "required: every coverage pass needs a pass_id")
        elif self.ident(
            pass_id, where(loc, "pass_id"), "pass id"
        ) is not None and not _PASS_ORDINAL.search(pass_id):
            long_number = _PASS_ANY_ORDINAL.search(pass_id)
            self.issue(
                where(loc, "pass_id"),
                f"pass id {pass_id!r}: the number after PASS_ has {len(long_number[1])} "
                "digits; use at most 6 (e.g. EP001_PASS_011_SH01_02_A_ENV)"
                if long_number is not None
                else f"pass id {pass_id!r} must contain PASS_<number> "
                "(e.g. EP001_PASS_011_SH01_02_A_ENV); the number names its renders",
            )
        shot_range = self.shot_range(body.get("shot_range"), where(loc, "shot_range"))
        camera_side = self.optional(
            body, "camera_side", loc, lambda v, at: self.token(v, at, "camera side")
        )
        label = self.optional(body, "label", loc, self.text)
        focus = self.optional(body, "focus_character", loc, self.focus_character)
        pass_type = self.optional(
            body, "pass_type", loc, lambda v, at: self.token(v, at, "pass type")
        )
        generation = self.optional(body, "generation_config", loc, self.config) or {}
        element = self.optional(body, "element_config", loc, self.config) or {}
        wildcard_enabled = self.optional(body, "wildcard_enabled", loc, self.flag)
        segments = self.segments(body, loc, shot_range)
        if len(self.issues) > before or shot_range is None or not isinstance(pass_id, str):
            return None
        if wildcard_enabled is None:
            wildcard_enabled = any(segment.is_wildcard for segment in segments)
        return CoveragePass(
            pass_id=pass_id,
            episode_id=episode,
            shot_range=cast(Any, shot_range),  # the model's tuple converter confuses mypy
            camera_side=camera_side or "A",
            label=label or "",
            focus_character=focus or "",
            pass_type=pass_type or "env",
            segments=segments,
            generation_config=generation,
            element_config=element,
            wildcard_enabled=wildcard_enabled,
        )

    def focus_character(self, value: object, loc: str) -> str | None:
        if value == "":
            return ""
        return self.character_ref(value, loc)

    def shot_range(self, value: object, loc: str) -> tuple[str, str] | None:
        if value is None:
            self.issue(loc, "required: [first shot id, last shot id]")
            return None
        if not isinstance(value, list) or len(value) != 2:
            self.issue(loc, "must be a list of two shot ids: [first, last]")
            return None
        orders: list[int] = []
        for index, shot_id in enumerate(value):
            if not isinstance(shot_id, str) or shot_id not in self.shots:
                self.issue(where(loc, index), f"{show(shot_id)} is not a shot of this plan")
            else:
                orders.append(self.shots[shot_id].order)
        if len(orders) != 2:
            return None
        if orders[0] > orders[1]:
            self.issue(loc, "the first shot comes after the last one in the plan; swap them")
            return None
        return (value[0], value[1])

    def segments(
        self, body: dict[str, Any], loc: str, shot_range: tuple[str, str] | None
    ) -> list[CoverageSegment]:
        at = where(loc, "segments")
        raw = body.get("segments")
        in_range = self.shots_between(*shot_range) if shot_range is not None else {}
        if raw is None:
            built = [shot for shot in in_range.values() if shot is not None]
            return [
                CoverageSegment(i, s.shot_id, s.shot_type, s.duration_s, s.prompt)
                for i, s in enumerate(built)
            ]
        if not isinstance(raw, list) or not raw:
            self.issue(at, "must be a non-empty list of segments (or leave it out)")
            return []
        out: list[CoverageSegment] = []
        for index, entry in enumerate(raw):
            seg_loc = where(at, index)
            seg = self.obj(entry, seg_loc, SEGMENT_FIELDS, "a segment")
            if seg is None:
                continue
            shot_id = seg.get("shot_id")
            shot: CanonicalShot | None = None
            if shot_id == WILDCARD:
                pass
            elif not isinstance(shot_id, str) or shot_id not in self.shots:
                self.issue(
                    where(seg_loc, "shot_id"),
                    f"{show(shot_id)} is not a shot of this plan nor {WILDCARD!r}",
                )
                continue
            elif shot_range is not None and shot_id not in in_range:
                self.issue(
                    where(seg_loc, "shot_id"),
                    f"shot {shot_id!r} is outside the pass's shot_range "
                    f"{shot_range[0]}..{shot_range[1]}",
                )
                continue
            else:
                shot = self.shots[shot_id].shot
            shot_type = self.optional(
                seg, "shot_type", seg_loc, lambda v, a: self.token(v, a, "shot type")
            )
            duration = self.optional(seg, "duration_s", seg_loc, self.duration)
            prompt = self.optional(
                seg, "prompt", seg_loc, lambda v, a: self.text(v, a, limit=MAX_PROMPT_CHARS)
            )
            out.append(
                CoverageSegment(
                    index=index,
                    shot_id=str(shot_id),
                    shot_type=shot_type or (shot.shot_type if shot else "MS"),
                    duration_s=duration or (shot.duration_s if shot else 2.0),
                    prompt=prompt if prompt is not None else (shot.prompt if shot else ""),
                    is_wildcard=shot_id == WILDCARD,
                )
            )
        return out
