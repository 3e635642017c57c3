"""Plan files: read a studio's episode plan (JSON) and validate it into a CanonicalPlan.

Every problem is collected with its location (``sequences.SEQ11.shots[3].duration_s``)
and raised at once as a :class:`PlanError`; no other exception escapes for bad input.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar, cast

import attrs

from recoil_core.errors import PlanError, PlanIssue
from recoil_core.hashing import WILDCARD
from recoil_core.ids import id_problem
from recoil_core.model import CanonicalPlan, CanonicalShot, CoveragePass, CoverageSegment

__all__ = [
    "ALLOWED_ASPECT_RATIOS",
    "ALLOWED_RESOLUTIONS",
    "BUILTIN_DEFAULTS",
    "MAX_DURATION_S",
    "PLAN_SCHEMA_VERSION",
    "load_plan",
    "parse_plan",
    "pass_ordinal",
    "plan_summary",
    "reference_images",
]

PLAN_SCHEMA_VERSION = 1
ALLOWED_ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "adaptive")
ALLOWED_RESOLUTIONS = ("480p", "720p", "1080p")
MAX_DURATION_S = 60.0
MAX_SEED = 2**32 - 1
MAX_PROMPT_CHARS = 8000
MAX_TEXT_CHARS = 2000
MAX_TOKEN_CHARS = 32
MAX_REF_CHARS = 4096
MAX_FILE_BYTES = 32 * 1024 * 1024
EXTENSION_PREFIX = "x-"
REFERENCE_KEY = "reference_image_"

BUILTIN_DEFAULTS: dict[str, Any] = {
    "video_model": "seeddance-2.0",
    "previs_model": None,
    "aspect_ratio": "16:9",
    "resolution": "720p",
    "duration_s": 5.0,
    "shot_type": "MS",
    "generate_audio": False,
    "camera_fixed": False,
    "watermark": False,
}
"""What a plan gets for every ``defaults`` key it leaves out."""

TOP_FIELDS = (
    "schema_version",
    "project",
    "episode",
    "title",
    "defaults",
    "locations",
    "characters",
    "sequences",
    "coverage_passes",
)
DEFAULTS_FIELDS = (*BUILTIN_DEFAULTS, "model")
ENTITY_FIELDS = ("name", "description")
SEQUENCE_FIELDS = ("location", "description", "shots")
SHOT_FIELDS = (
    "shot_id",
    "duration_s",
    "prompt",
    "location",
    "characters",
    "shot_type",
    "model",
    "video_model",
    "previs_model",
    "pipeline",
    "aspect_ratio",
    "resolution",
    "has_dialogue",
    "is_env_only",
    "seed",
    "frames",
    "cinematography",
    "quality",
)
FRAMES_FIELDS = ("first_frame", "last_frame", "references")
PASS_FIELDS = (
    "pass_id",
    "shot_range",
    "camera_side",
    "label",
    "focus_character",
    "pass_type",
    "segments",
    "generation_config",
    "element_config",
    "wildcard_enabled",
)
SEGMENT_FIELDS = ("shot_id", "shot_type", "duration_s", "prompt")

_SIMPLE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_URL = re.compile(r"^https?://[^\s/]+", re.IGNORECASE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_PASS_ORDINAL = re.compile(r"(?:^|_)PASS_(\d{1,6})(?:_|$)")
_PASS_ANY_ORDINAL = re.compile(r"(?:^|_)PASS_(\d+)(?:_|$)")
_MISSING: Any = object()
_T = TypeVar("_T")


def load_plan(path: str | os.PathLike[str]) -> CanonicalPlan:
    """Read and validate the plan file at ``path``; :class:`PlanError` lists every problem."""
    source = os.fspath(path)
    data, duplicates = _read_json(source)
    try:
        plan_path = Path(source).absolute()
    except OSError:  # the working directory is gone
        plan_path = Path(source)
    plan = _Checker(source, plan_path.parent, duplicates).plan(data)
    return attrs.evolve(plan, source_path=str(plan_path))


def parse_plan(
    data: object, *, source: str = "<plan>", base_dir: Path | None = None
) -> CanonicalPlan:
    """Validate an already parsed plan (``data`` as ``json.load`` would return it).

    Relative frame paths resolve against ``base_dir`` (the current directory when ``None``).
    """
    return _Checker(source, base_dir, {}).plan(data)


def pass_ordinal(pass_id: str) -> int:
    """The ordinal a coverage pass id carries (``EP001_PASS_011_...`` -> 11)."""
    match = _PASS_ORDINAL.search(pass_id)
    if match is None:
        raise ValueError(f"pass id {pass_id!r} has no PASS_<number> part")
    return int(match.group(1))


def reference_images(shot: CanonicalShot) -> list[str]:
    """The shot's reference images (absolute paths or URLs), in plan order."""
    keys = [k for k in shot.frames if k.startswith(REFERENCE_KEY)]
    keys.sort(key=lambda k: int(k[len(REFERENCE_KEY) :]))
    return [shot.frames[k] for k in keys]


def plan_summary(plan: CanonicalPlan) -> dict[str, Any]:
    """A short, JSON-ready description of a plan (counts and total duration)."""
    return {
        "project": plan.project,
        "episode": plan.episode_id,
        "sequences": len(plan.sequence_ids),
        "shots": len(plan.shots),
        "coverage_passes": len(plan.coverage_passes),
        "total_duration_s": round(sum(shot.duration_s for shot in plan.shots), 3),
    }


# --------------------------------------------------------------------------- reading


class _BadConstant(ValueError):
    pass


def _reject_constant(name: str) -> float:
    raise _BadConstant(f"{name} is not a number JSON allows")


def _fail(source: str, message: str) -> PlanError:
    return PlanError(_printable(source), [PlanIssue("", _printable(message))])


def _printable(text: str) -> str:
    """``text`` with lone surrogates (from odd file names or JSON escapes) made visible."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _read_json(source: str) -> tuple[object, dict[int, list[str]]]:
    """Parse the file; also return the duplicate keys of each JSON object (by ``id``)."""
    try:
        with open(source, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise _fail(source, "file not found; check the path") from None
    except IsADirectoryError:
        raise _fail(source, "is a directory, not a plan file") from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise _fail(source, f"cannot read the file: {reason}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise _fail(source, f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(
            source, f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from None
    text = text.removeprefix("\ufeff")
    duplicates: dict[int, list[str]] = {}
    keep_alive: list[dict[str, Any]] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        dups: list[str] = []
        for key, value in pairs:
            if key in obj and key not in dups:
                dups.append(key)
            obj[key] = value
        if dups:
            keep_alive.append(obj)
            duplicates[id(obj)] = dups
        return obj

    try:
        data = json.loads(text, object_pairs_hook=pairs_hook, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise _fail(
            source, f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise _fail(source, "not a plan: JSON nested too deeply") from None
    except ValueError as exc:
        raise _fail(source, f"not valid JSON: {exc}") from None
    return data, duplicates


# --------------------------------------------------------------------------- checking


def _at(base: str, key: object) -> str:
    """Location of ``key`` (a list index or an object key) under ``base``."""
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{base}[{key}]"
    if not isinstance(key, str):
        return f"{base}[{_show(key)}]"
    if _SIMPLE_KEY.match(key) and len(key) <= 80:
        return f"{base}.{key}" if base else key
    shown = key if len(key) <= 60 else key[:57] + "..."
    return f"{base}[{json.dumps(shown)}]"


def _show(value: object) -> str:
    """A short, printable rendering of a plan value for a message."""
    if isinstance(value, str):
        text = repr(value[:60])
        return text if len(value) <= 60 else text[:-1] + "...'"
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return repr(value) if abs(value) < 10**30 else "a very large number"
    return f"a {_type_name(value)}"


def _type_name(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    for kind, name in names.items():
        if type(value) is kind:
            return name
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


@attrs.define
class _ShotInfo:
    shot: CanonicalShot | None
    location: str
    order: int


class _Checker:
    """Walks one plan, collecting issues; builds the CanonicalPlan when there are none."""

    def __init__(self, source: str, base_dir: Path | None, duplicates: dict[int, list[str]]):
        self.source = _printable(source)
        self.base_dir = base_dir
        self.duplicates = duplicates
        self.issues: list[PlanIssue] = []
        self.locations: set[str] | None = None
        self.characters: set[str] | None = None
        self.shots: dict[str, _ShotInfo] = {}

    # ----------------------------------------------------------------- primitives

    def issue(self, location: str, message: str) -> None:
        self.issues.append(PlanIssue(_printable(location), _printable(message)))

    def obj(
        self, value: object, loc: str, fields: Iterable[str], what: str
    ) -> dict[str, Any] | None:
        """``value`` as a JSON object of ``what``; reports unknown and duplicate keys."""
        if not isinstance(value, dict):
            self.issue(loc, f"{what} must be an object, got {_type_name(value)}")
            return None
        known = tuple(fields)
        for key in self.duplicates.get(id(value), ()):
            self.issue(_at(loc, key), "key appears twice in this object; the later one would win")
        for key in value:
            if not isinstance(key, str):
                self.issue(loc, f"keys must be strings, got {_type_name(key)} {_show(key)}")
            elif key not in known and not key.startswith(EXTENSION_PREFIX):
                hint = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
                advice = (
                    f"did you mean {hint[0]!r}?"
                    if hint
                    else f"known: {', '.join(known)}; prefix private fields with 'x-'"
                )
                self.issue(_at(loc, key), f"unknown field in {what} ({advice})")
        return value

    def text(self, value: object, loc: str, *, limit: int = MAX_TEXT_CHARS) -> str | None:
        if not isinstance(value, str):
            self.issue(loc, f"must be a string, got {_type_name(value)}")
            return None
        if len(value) > limit:
            self.issue(loc, f"must be at most {limit} characters, got {len(value)}")
            return None
        return value

    def ident(self, value: object, loc: str, what: str) -> str | None:
        problem = id_problem(value)
        if problem is not None:
            shown = f" {_show(value)}" if isinstance(value, str) else ""
            self.issue(loc, f"{what}{shown} {problem}")
            return None
        assert isinstance(value, str)
        return value

    def token(self, value: object, loc: str, what: str) -> str | None:
        if not isinstance(value, str):
            self.issue(loc, f"{what} must be a string, got {_type_name(value)}")
            return None
        if not value or len(value) > MAX_TOKEN_CHARS or not _TOKEN.match(value):
            self.issue(
                loc,
                f"{what} {_show(value)} must be 1-{MAX_TOKEN_CHARS} letters, digits, "
                "'_', '.', '+' or '-'",
            )
            return None
        return value

    def flag(self, value: object, loc: str) -> bool | None:
        if not isinstance(value, bool):
            self.issue(loc, f"must be true or false, got {_type_name(value)}")
            return None
        return value

    def duration(self, value: object, loc: str) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.issue(loc, f"must be a number of seconds, got {_type_name(value)}")
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
            self.issue(loc, f"{what} {_show(value)} is not one of {', '.join(allowed)}")
            return None
        return value

    def seed(self, value: object, loc: str) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
            self.issue(loc, f"seed must be a whole number from 0 to {MAX_SEED}")
            return None
        return value

    def config(self, value: object, loc: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.issue(loc, f"must be an object, got {_type_name(value)}")
            return {}
        for key in value:
            if not isinstance(key, str):
                self.issue(loc, f"keys must be strings, got {_type_name(key)} {_show(key)}")
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

    # ----------------------------------------------------------------- the plan

    def plan(self, data: object) -> CanonicalPlan:
        top = self.obj(data, "", TOP_FIELDS, "a plan")
        if top is None:
            raise PlanError(self.source, self.issues)
        self.schema_version(top)
        project = self.optional(top, "project", "", lambda v, loc: self.ident(v, loc, "project"))
        episode = self.optional(top, "episode", "", lambda v, loc: self.ident(v, loc, "episode"))
        self.optional(top, "title", "", self.text)
        defaults = self.defaults(top)
        self.locations = self.entities(top, "locations", "location")
        self.characters = self.entities(top, "characters", "character")
        sequence_ids, shots = self.sequences(top, defaults)
        episode = episode or _episode_from(shots)
        passes: list[CoveragePass] = []
        if top.get("coverage_passes") is not None:
            passes = self.coverage_passes(top["coverage_passes"], episode)
        if self.issues:
            raise PlanError(self.source, self.issues)
        return CanonicalPlan(
            project=project or "default",
            episode_id=episode,
            shots=shots,
            coverage_passes=passes,
            sequence_ids=sequence_ids,
            defaults=defaults,
        )

    def optional(
        self, parent: dict[str, Any], key: str, loc: str, check: Callable[[Any, str], _T | None]
    ) -> _T | None:
        """Check ``parent[key]`` with ``check(value, location)``; absent or null gives None."""
        value = parent.get(key)
        if value is None:
            return None
        return check(value, _at(loc, key))

    def schema_version(self, top: dict[str, Any]) -> None:
        version = top.get("schema_version")
        if version is None:
            return
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            self.issue("schema_version", f"must be a whole number from 1, got {_show(version)}")
        elif version > PLAN_SCHEMA_VERSION:
            raise PlanError(
                self.source,
                [
                    PlanIssue(
                        "schema_version",
                        f"plan schema_version {version} is newer than this Recoil understands "
                        f"({PLAN_SCHEMA_VERSION}); upgrade recoil-core to read it",
                    )
                ],
            )

    def defaults(self, top: dict[str, Any]) -> dict[str, Any]:
        resolved = dict(BUILTIN_DEFAULTS)
        raw = top.get("defaults")
        if raw is None:
            return resolved
        given = self.obj(raw, "defaults", DEFAULTS_FIELDS, "defaults")
        if given is None:
            return resolved
        model = self.model_field(given, "defaults", primary="video_model", alias="model")
        if model is not None:
            resolved["video_model"] = model
        checks: dict[str, Any] = {
            "previs_model": lambda v, loc: self.token(v, loc, "model"),
            "aspect_ratio": lambda v, loc: self.choice(
                v, loc, ALLOWED_ASPECT_RATIOS, "aspect ratio"
            ),
            "resolution": lambda v, loc: self.choice(v, loc, ALLOWED_RESOLUTIONS, "resolution"),
            "duration_s": self.duration,
            "shot_type": lambda v, loc: self.token(v, loc, "shot type"),
            "generate_audio": self.flag,
            "camera_fixed": self.flag,
            "watermark": self.flag,
        }
        for key, check in checks.items():
            value = self.optional(given, key, "defaults", check)
            if value is not None:
                resolved[key] = value
        return resolved

    def model_field(
        self, entry: dict[str, Any], loc: str, *, primary: str, alias: str
    ) -> str | None:
        """A video model named by ``primary`` or its synonym ``alias`` (not both)."""
        first, second = entry.get(primary), entry.get(alias)
        if first is not None and second is not None:
            self.issue(_at(loc, alias), f"give the video model once: {primary!r} or {alias!r}")
            return None
        if first is not None:
            return self.token(first, _at(loc, primary), "model")
        if second is not None:
            return self.token(second, _at(loc, alias), "model")
        return None

    def entities(self, top: dict[str, Any], key: str, what: str) -> set[str] | None:
        """Ids declared under ``locations`` / ``characters``; ``None`` when not declared."""
        raw = top.get(key)
        if raw is None:
            return None
        if not isinstance(raw, dict):
            self.issue(key, f"must be an object mapping {what} ids to {{name, description}}")
            return set()
        ids: set[str] = set()
        for entity_id, entry in raw.items():
            loc = _at(key, entity_id)
            for dup in self.duplicates.get(id(raw), ()):
                if dup == entity_id:
                    self.issue(loc, f"{what} declared twice")
            if self.ident(entity_id, loc, f"{what} id") is not None:
                ids.add(entity_id)
            body = self.obj(entry, loc, ENTITY_FIELDS, f"a {what}")
            if body is not None:
                for field in ENTITY_FIELDS:
                    self.optional(body, field, loc, self.text)
        return ids

    # ----------------------------------------------------------------- sequences and shots

    def sequences(
        self, top: dict[str, Any], defaults: dict[str, Any]
    ) -> tuple[list[str], list[CanonicalShot]]:
        raw = top.get("sequences", _MISSING)
        if raw is _MISSING or raw is None:
            self.issue("sequences", "required: an object mapping sequence ids to their shots")
            return [], []
        if not isinstance(raw, dict):
            self.issue(
                "sequences",
                f"must be an object mapping sequence ids to {{location, shots}}, "
                f"got {_type_name(raw)}",
            )
            return [], []
        if not raw:
            self.issue("sequences", "the plan has no sequences; add at least one shot")
        for dup in self.duplicates.get(id(raw), ()):
            self.issue(_at("sequences", dup), "sequence declared twice; the later one would win")
        sequence_ids: list[str] = []
        shots: list[CanonicalShot] = []
        for index, (sequence_id, entry) in enumerate(raw.items(), start=1):
            loc = _at("sequences", sequence_id)
            if self.ident(sequence_id, loc, "sequence id") is not None:
                sequence_ids.append(sequence_id)
            body = self.obj(entry, loc, SEQUENCE_FIELDS, "a sequence")
            if body is None:
                continue
            self.optional(body, "description", loc, self.text)
            location = self.optional(body, "location", loc, self.location_ref)
            shot_list = body.get("shots")
            if not isinstance(shot_list, list) or not shot_list:
                shown = "missing" if shot_list is None else f"got {_type_name(shot_list)}"
                if isinstance(shot_list, list):
                    shown = "got an empty list"
                self.issue(_at(loc, "shots"), f"required: a non-empty list of shots ({shown})")
                continue
            for position, shot_entry in enumerate(shot_list):
                shot = self.shot(
                    shot_entry,
                    _at(_at(loc, "shots"), position),
                    sequence_id=str(sequence_id),
                    scene_index=index,
                    sequence_location=location,
                    defaults=defaults,
                    order=len(self.shots),
                )
                if shot is not None:
                    shots.append(shot)
        return sequence_ids, shots

    def shot(
        self,
        entry: object,
        loc: str,
        *,
        sequence_id: str,
        scene_index: int,
        sequence_location: str | None,
        defaults: dict[str, Any],
        order: int,
    ) -> CanonicalShot | None:
        before = len(self.issues)
        body = self.obj(entry, loc, SHOT_FIELDS, "a shot")
        if body is None:
            return None
        shot_id = body.get("shot_id")
        if shot_id is None:
            self.issue(_at(loc, "shot_id"), "required: every shot needs a shot_id")
        elif self.ident(shot_id, _at(loc, "shot_id"), "shot id") is not None:
            if shot_id in self.shots:
                first = self.shots[shot_id].location
                self.issue(_at(loc, "shot_id"), f"duplicate shot id {shot_id!r} (also at {first})")
            else:
                self.shots[shot_id] = _ShotInfo(None, loc, order)
        fields: dict[str, Any] = {
            "duration_s": self.optional(body, "duration_s", loc, self.duration),
            "prompt": self.optional(
                body, "prompt", loc, lambda v, at: self.text(v, at, limit=MAX_PROMPT_CHARS)
            ),
            "shot_type": self.optional(
                body, "shot_type", loc, lambda v, at: self.token(v, at, "shot type")
            ),
            "video_model": self.model_field(body, loc, primary="model", alias="video_model"),
            "previs_model": self.optional(
                body, "previs_model", loc, lambda v, at: self.token(v, at, "model")
            ),
            "pipeline": self.optional(
                body, "pipeline", loc, lambda v, at: self.token(v, at, "pipeline")
            ),
            "aspect_ratio": self.optional(
                body,
                "aspect_ratio",
                loc,
                lambda v, at: self.choice(v, at, ALLOWED_ASPECT_RATIOS, "aspect ratio"),
            ),
            "resolution": self.optional(
                body,
                "resolution",
                loc,
                lambda v, at: self.choice(v, at, ALLOWED_RESOLUTIONS, "resolution"),
            ),
            "has_dialogue": self.optional(body, "has_dialogue", loc, self.flag),
            "is_env_only": self.optional(body, "is_env_only", loc, self.flag),
            "seed": self.optional(body, "seed", loc, self.seed),
            "cinematography": self.optional(body, "cinematography", loc, self.text),
            "quality": self.optional(body, "quality", loc, self.text),
        }
        location = self.optional(body, "location", loc, self.location_ref) or sequence_location
        if location is None and self.locations is not None and body.get("location") is None:
            self.issue(
                _at(loc, "location"),
                "required: the plan declares locations, so give the shot (or its sequence) one",
            )
        characters = self.optional(body, "characters", loc, self.character_list) or []
        if fields["is_env_only"] and characters:
            self.issue(_at(loc, "is_env_only"), "an environment-only shot cannot list characters")
        frames = self.optional(body, "frames", loc, self.frames) or {}
        if len(self.issues) > before or not isinstance(shot_id, str):
            return None
        given = {key: value for key, value in fields.items() if value is not None}
        shot = CanonicalShot(
            shot_id=shot_id,
            sequence_id=sequence_id,
            scene_index=scene_index,
            location_id=location or sequence_id,
            duration_s=given.pop("duration_s", defaults["duration_s"]),
            characters=characters,
            frames=frames,
            order=order,
            raw=body,
            **{
                "shot_type": defaults["shot_type"],
                "video_model": defaults["video_model"],
                "previs_model": defaults["previs_model"],
                "aspect_ratio": defaults["aspect_ratio"],
                "resolution": defaults["resolution"],
                **given,
            },
        )
        self.shots[shot_id] = _ShotInfo(shot, loc, order)
        return shot

    def character_list(self, value: object, loc: str) -> list[str] | None:
        if not isinstance(value, list):
            self.issue(loc, f"must be a list of character ids, got {_type_name(value)}")
            return None
        out: list[str] = []
        for index, item in enumerate(value):
            character = self.character_ref(item, _at(loc, index))
            if character is None:
                continue
            if character in out:
                self.issue(_at(loc, index), f"character {character!r} listed twice")
            else:
                out.append(character)
        return out

    def frames(self, value: object, loc: str) -> dict[str, str] | None:
        body = self.obj(value, loc, FRAMES_FIELDS, "frames")
        if body is None:
            return None
        out: dict[str, str] = {}
        for key in ("first_frame", "last_frame"):
            ref = self.optional(body, key, loc, self.frame_ref)
            if ref is not None:
                out[key] = ref
        references = body.get("references")
        if references is not None:
            at = _at(loc, "references")
            if not isinstance(references, list):
                self.issue(
                    at, f"must be a list of image paths or URLs, got {_type_name(references)}"
                )
            else:
                for index, item in enumerate(references, start=1):
                    ref = self.frame_ref(item, _at(at, index - 1))
                    if ref is not None:
                        out[f"{REFERENCE_KEY}{index}"] = ref
        return out

    def frame_ref(self, value: object, loc: str) -> str | None:
        """An http(s) URL, a data URI, or a local file (made absolute; it must exist)."""
        text = self.text(value, loc, limit=MAX_REF_CHARS)
        if text is None:
            return None
        if not text.strip() or any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
            self.issue(loc, "must be a file path or URL without control characters")
            return None
        if _URL.match(text) or text.startswith("data:image/"):
            return text
        if _SCHEME.match(text) and not re.match(r"^[A-Za-z]:[\\/]", text):
            self.issue(loc, f"{_show(text)}: only http(s) URLs, data:image URIs or file paths")
            return None
        try:
            path = Path(text)
            if not path.is_absolute():
                path = (self.base_dir or Path.cwd()) / path
            resolved = path.resolve()
            found = resolved.is_file()
        except (OSError, ValueError, RuntimeError) as exc:
            self.issue(loc, f"{_show(text)}: cannot check the file ({exc})")
            return None
        if not found:
            self.issue(loc, f"file not found: {resolved}")
            return None
        return str(resolved)

    # ----------------------------------------------------------------- coverage passes

    def coverage_passes(self, value: object, episode: str) -> list[CoveragePass]:
        if not isinstance(value, list):
            self.issue("coverage_passes", f"must be a list of passes, got {_type_name(value)}")
            return []
        passes: list[CoveragePass] = []
        seen: dict[str, str] = {}
        for index, entry in enumerate(value):
            loc = _at("coverage_passes", index)
            pass_id = entry.get("pass_id") if isinstance(entry, dict) else None
            if isinstance(pass_id, str) and pass_id in seen:
                self.issue(
                    _at(loc, "pass_id"), f"duplicate pass id {pass_id!r} (also at {seen[pass_id]})"
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
            self.issue(_at(loc, "pass_id"), "required: every coverage pass needs a pass_id")
        elif self.ident(
            pass_id, _at(loc, "pass_id"), "pass id"
        ) is not None and not _PASS_ORDINAL.search(pass_id):
            long_number = _PASS_ANY_ORDINAL.search(pass_id)
            self.issue(
                _at(loc, "pass_id"),
                f"pass id {pass_id!r}: the number after PASS_ has {len(long_number[1])} "
                "digits; use at most 6 (e.g. EP001_PASS_011_SH01_02_A_ENV)"
                if long_number is not None
                else f"pass id {pass_id!r} must contain PASS_<number> "
                "(e.g. EP001_PASS_011_SH01_02_A_ENV); the number names its renders",
            )
        shot_range = self.shot_range(body.get("shot_range"), _at(loc, "shot_range"))
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
                self.issue(_at(loc, index), f"{_show(shot_id)} is not a shot of this plan")
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
        at = _at(loc, "segments")
        raw = body.get("segments")
        in_range: dict[str, CanonicalShot | None] = {}
        if shot_range is not None:
            low, high = (self.shots[sid].order for sid in shot_range)
            in_range = {
                sid: info.shot for sid, info in self.shots.items() if low <= info.order <= high
            }
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
            seg_loc = _at(at, index)
            seg = self.obj(entry, seg_loc, SEGMENT_FIELDS, "a segment")
            if seg is None:
                continue
            shot_id = seg.get("shot_id")
            shot: CanonicalShot | None = None
            if shot_id == WILDCARD:
                pass
            elif not isinstance(shot_id, str) or shot_id not in self.shots:
                self.issue(
                    _at(seg_loc, "shot_id"),
                    f"{_show(shot_id)} is not a shot of this plan nor {WILDCARD!r}",
                )
                continue
            elif shot_range is not None and shot_id not in in_range:
                self.issue(
                    _at(seg_loc, "shot_id"),
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


def _episode_from(shots: list[CanonicalShot]) -> str:
    """Episode id for a plan that names none: the first shot id's prefix (``EP001_SH01``)."""
    if shots and "_" in shots[0].shot_id:
        prefix = shots[0].shot_id.split("_", 1)[0]
        if id_problem(prefix) is None:
            return prefix
    return "EP001"
