"""Checks of single plan values (types, limits, ids, choices) and how a message points at
a value (``sequences.SEQ11.shots[3].duration_s``). The plan walk lives in :mod:`._checker`.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from recoil_core.errors import PlanIssue
from recoil_core.ids import id_problem
from recoil_core.model import CanonicalShot
from recoil_core.plan._reading import Duplicates, printable
from recoil_core.plan._schema import (
    ALL_FIELDS,
    EXTENSION_PREFIX,
    FIELD_SETS,
    MAX_DURATION_S,
    MAX_SEED,
    MAX_TEXT_CHARS,
    MAX_TOKEN_CHARS,
    TOKEN_PATTERN,
)

_SIMPLE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_TOKEN = re.compile(TOKEN_PATTERN)
_FIELD_NAMES = frozenset(name for name in ALL_FIELDS if _SIMPLE_KEY.match(name))
_T = TypeVar("_T")


def where(base: str, key: object) -> str:
    """Location of ``key`` (a list index or an object key) under ``base``."""
    if key in _FIELD_NAMES and type(key) is str:
        return f"{base}.{key}" if base else key
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{base}[{key}]"
    if not isinstance(key, str):
        return f"{base}[{show(key)}]"
    if _SIMPLE_KEY.match(key) and len(key) <= 80:
        return f"{base}.{key}" if base else key
    shown = key if len(key) <= 60 else key[:57] + "..."
    return f"{base}[{json.dumps(shown)}]"


def show(value: object) -> str:
    """A short, printable rendering of a plan value for a message."""
    if isinstance(value, str):
        text = repr(value[:60])
        return text if len(value) <= 60 else text[:-1] + "...'"
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return repr(value) if abs(value) < 10**30 else "a very large number"
    return f"a {type_name(value)}"


def type_name(value: object) -> str:
    """The JSON name of ``value``'s type (``object``, ``array``, ``string``...)."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    for kind, name in names.items():
        if type(value) is kind:
            return name
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


@attrs.define
class ShotInfo:
    """A shot id seen in the plan: where, in which position, and the shot once it is valid."""

    shot: CanonicalShot | None
    location: str
    order: int


class FieldChecker:
    """Collects the issues of one plan; each check reports at ``loc`` and returns the value
    (or ``None`` when it is wrong). References are checked against the ids seen so far."""

    def __init__(self, source: str, duplicates: Duplicates):
        self.source = printable(source)
        self.duplicates = duplicates
        self.issues: list[PlanIssue] = []
        self.locations: set[str] | None = None
        self.characters: set[str] | None = None
        self.shots: dict[str, ShotInfo] = {}
        self.shot_ids: list[str] = []
        """The ids of ``shots`` by position: ``shots[shot_ids[n]].order == n``."""

    def register_shot(self, shot_id: str, loc: str) -> None:
        """Note a new shot id seen at ``loc``; it takes the next position in the plan."""
        self.shots[shot_id] = ShotInfo(None, loc, len(self.shot_ids))
        self.shot_ids.append(shot_id)

    def issue(self, location: str, message: str) -> None:
        self.issues.append(PlanIssue(printable(location), printable(message)))

    def optional(
        self, parent: dict[str, Any], key: str, loc: str, check: Callable[[Any, str], _T | None]
    ) -> _T | None:
        """Check ``parent[key]`` with ``check(value, location)``; absent or null gives None."""
        value = parent.get(key)
        if value is None:
            return None
        return check(value, where(loc, key))

    def obj(
        self, value: object, loc: str, fields: tuple[str, ...], what: str
    ) -> dict[str, Any] | None:
        """``value`` as a JSON object of ``what``; reports unknown and duplicate keys."""
        if not isinstance(value, dict):
            self.issue(loc, f"{what} must be an object, got {type_name(value)}")
            return None
        if self.duplicates:
            for key in self.duplicates.get(id(value), ()):
                self.issue(
                    where(loc, key), "key appears twice in this object; the later one would win"
                )
        known_set = FIELD_SETS.get(id(fields))
        if known_set is not None and value.keys() <= known_set:
            return value
        known = fields
        for key in value:
            if not isinstance(key, str):
                self.issue(loc, f"keys must be strings, got {type_name(key)} {show(key)}")
            elif key not in known and not key.startswith(EXTENSION_PREFIX):
                hint = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
                advice = (
                    f"did you mean {hint[0]!r}?"
                    if hint
                    else f"known: {', '.join(known)}; prefix private fields with 'x-'"
                )
                self.issue(where(loc, key), f"unknown field in {what} ({advice})")
        return value

    def text(self, value: object, loc: str, *, limit: int = MAX_TEXT_CHARS) -> str | None:
        if not isinstance(value, str):
            self.issue(loc, f"must be a string, got {type_name(value)}")
            return None
        if len(value) > limit:
            self.issue(loc, f"must be at most {limit} characters, got {len(value)}")
            return None
        return value

    def ident(self, value: object, loc: str, what: str) -> str | None:
        problem = id_problem(value)
        if problem is not None:
            shown = f" {show(value)}" if isinstance(value, str) else ""
            self.issue(loc, f"{what}{shown} {problem}")
            return None
        assert isinstance(value, str)
        return value

    def token(self, value: object, loc: str, what: str) -> str | None:
        if not isinstance(value, str):
            self.issue(loc, f"{what} must be a string, got {type_name(value)}")
            return None
        if not value or len(value) > MAX_TOKEN_CHARS or not _TOKEN.match(value):
            self.issue(
                loc,
                f"{what} {show(value)} must be 1-{MAX_TOKEN_CHARS} letters, digits, "
                "'_', '.', '+' or '-'",
            )
            return None
        return value

    def flag(self, value: object, loc: str) -> bool | None:
        if not isinstance(value, bool):
            self.issue(loc, f"must be true or false, got {type_name(value)}")
            return None
        return value

    def duration(self, value: object, loc: str) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.issue(loc, f"must be a number of seconds, got {type_name(value)}")
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.issue(loc, "must be a finite number of seconds")
            return None
        if not 0 < value <= MAX_DURATION_S:
            self.issue(loc, f"must be more than 0 and at most {MAX_DURATION_S:g} seconds")
            return None
        return float(value)

    def choice(self, value: object, loc: str, allowed: tuple[str, ...], what: str) -> str | None:
        if not isinstance(value, str) or value not in allowed:
            self.issue(loc, f"{what} {show(value)} is not one of {', '.join(allowed)}")
            return None
        return value

    def seed(self, value: object, loc: str) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
            self.issue(loc, f"seed must be a whole number from 0 to {MAX_SEED}")
            return None
        return value

    def config(self, value: object, loc: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.issue(loc, f"must be an object, got {type_name(value)}")
            return {}
        for key in value:
            if not isinstance(key, str):
                self.issue(loc, f"keys must be strings, got {type_name(key)} {show(key)}")
        return dict(value)

    def location_ref(self, value: object, loc: str) -> str | None:
        location = self.ident(value, loc, "location")
        if location is not None and self.locations is not None and location not in self.locations:
            self.issue(loc, f"unknown location {location!r}; declare it under 'locations'")
            return None
        return location

    def character_ref(self, value: object, loc: str) -> str | None:
        character = self.ident(value, loc, "character")
        if (
            character is not None
            and self.characters is not None
            and character not in self.characters
        ):
            self.issue(loc, f"unknown character {character!r}; declare it under 'characters'")
            return None
        return character
