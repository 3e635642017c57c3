"""The plan walk: checks every part of a parsed plan and builds the CanonicalPlan.

Every problem is collected with its location and raised at once as a :class:`PlanError`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from recoil_core._gc import collector_paused
from recoil_core.errors import PlanError, PlanIssue
from recoil_core.ids import id_problem
from recoil_core.model import Asset, AssetKind, CanonicalPlan, CanonicalShot, CoveragePass
from recoil_core.plan._coverage import CoverageChecker
from recoil_core.plan._fields import show, type_name, where
from recoil_core.plan._reading import Duplicates, read_json
from recoil_core.plan._schema import (
    ALLOWED_ASPECT_RATIOS,
    ALLOWED_RESOLUTIONS,
    BUILTIN_DEFAULTS,
    DEFAULTS_FIELDS,
    ENTITY_FIELDS,
    FRAMES_FIELDS,
    MAX_PROMPT_CHARS,
    MAX_REF_CHARS,
    PLAN_SCHEMA_VERSION,
    SEQUENCE_FIELDS,
    SHOT_FIELDS,
    TOP_FIELDS,
)

REFERENCE_KEY = "reference_image_"
_URL = re.compile(r"^https?://[^\s/]+", re.IGNORECASE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_MISSING: Any = object()


def load_plan(path: str | os.PathLike[str]) -> CanonicalPlan:
    """Read and validate the plan file at ``path``; :class:`PlanError` lists every problem."""
    source = os.fspath(path)
    with collector_paused():
        data, duplicates = read_json(source)
        try:
            plan_path = Path(source).absolute()
        except OSError:  # the working directory is gone
            plan_path = Path(source)
        plan = PlanChecker(source, plan_path.parent, duplicates).plan(data)
        return attrs.evolve(plan, source_path=str(plan_path))


def parse_plan(
    data: object, *, source: str = "<plan>", base_dir: Path | None = None
) -> CanonicalPlan:
    """Validate an already parsed plan (``data`` as ``json.load`` would return it).

    Relative frame paths resolve against ``base_dir`` (the current directory when ``None``).
    """
    with collector_paused():
        return PlanChecker(source, base_dir, {}).plan(data)


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


class PlanChecker(CoverageChecker):
    """Walks one plan, collecting issues; builds the CanonicalPlan when there are none."""

    def __init__(self, source: str, base_dir: Path | None, duplicates: Duplicates):
        super().__init__(source, duplicates)
        self.base_dir = base_dir

    def plan(self, data: object) -> CanonicalPlan:
        top = self.obj(data, "", TOP_FIELDS, "a plan")
        if top is None:
            raise PlanError(self.source, self.issues)
        self.schema_version(top)
        project = self.optional(top, "project", "", lambda v, loc: self.ident(v, loc, "project"))
        episode = self.optional(top, "episode", "", lambda v, loc: self.ident(v, loc, "episode"))
        self.optional(top, "title", "", self.text)
        defaults = self.defaults(top)
        self.assets: list[Asset] = []
        self.characters = self.entities(top, "characters", AssetKind.CHARACTER)
        self.locations = self.entities(top, "locations", AssetKind.LOCATION)
        templates = self.optional(top, "prompt_templates", "", self.prompt_templates) or {}
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
            assets=self.assets,
            prompt_templates=templates,
        )

    def schema_version(self, top: dict[str, Any]) -> None:
        version = top.get("schema_version")
        if version is None:
            return
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            self.issue("schema_version", f"must be a whole number from 1, got {show(version)}")
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
            self.issue(where(loc, alias), f"give the video model once: {primary!r} or {alias!r}")
            return None
        if first is not None:
            return self.token(first, where(loc, primary), "model")
        if second is not None:
            return self.token(second, where(loc, alias), "model")
        return None

    def entities(self, top: dict[str, Any], key: str, kind: AssetKind) -> set[str] | None:
        """Ids declared under ``locations`` / ``characters`` (their :class:`Asset` values
        appended to ``self.assets``); ``None`` when not declared."""
        raw = top.get(key)
        what = kind.value
        if raw is None:
            return None
        if not isinstance(raw, dict):
            self.issue(key, f"must be an object mapping {what} ids to {{name, description}}")
            return set()
        ids: set[str] = set()
        for entity_id, entry in raw.items():
            loc = where(key, entity_id)
            for dup in self.duplicates.get(id(raw), ()):
                if dup == entity_id:
                    self.issue(loc, f"{what} declared twice")
            valid = self.ident(entity_id, loc, f"{what} id") is not None
            if valid:
                ids.add(entity_id)
            body = self.obj(entry, loc, ENTITY_FIELDS, f"a {what}")
            if body is None:
                continue
            name, description, look = (
                self.optional(body, field, loc, self.text) or ""
                for field in ("name", "description", "look")
            )
            references = self.optional(body, "reference_images", loc, self.image_list) or []
            if valid:
                self.assets.append(
                    Asset(entity_id, kind, name, description, look, tuple(references))
                )
        return ids

    def image_list(self, value: object, loc: str) -> list[str] | None:
        """A list of reference images (URLs or files that exist), each once."""
        if not isinstance(value, list):
            self.issue(loc, f"must be a list of image paths or URLs, got {type_name(value)}")
            return None
        out: list[str] = []
        for index, item in enumerate(value):
            ref = self.frame_ref(item, where(loc, index))
            if ref is None:
                continue
            if ref in out:
                self.issue(where(loc, index), "reference image listed twice")
            else:
                out.append(ref)
        return out

    def prompt_templates(self, value: object, loc: str) -> dict[str, str] | None:
        """Runner modality -> prompt template text."""
        if not isinstance(value, dict):
            self.issue(
                loc,
                f"must be an object mapping runner modalities to templates, got {type_name(value)}",
            )
            return None
        out: dict[str, str] = {}
        for modality, template in value.items():
            text = self.text(template, where(loc, modality))
            if text is not None:
                out[str(modality)] = text
        return out

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
                f"got {type_name(raw)}",
            )
            return [], []
        if not raw:
            self.issue("sequences", "the plan has no sequences; add at least one shot")
        for dup in self.duplicates.get(id(raw), ()):
            self.issue(where("sequences", dup), "sequence declared twice; the later one would win")
        sequence_ids: list[str] = []
        shots: list[CanonicalShot] = []
        for index, (sequence_id, entry) in enumerate(raw.items(), start=1):
            loc = where("sequences", sequence_id)
            if self.ident(sequence_id, loc, "sequence id") is not None:
                sequence_ids.append(sequence_id)
            body = self.obj(entry, loc, SEQUENCE_FIELDS, "a sequence")
            if body is None:
                continue
            self.optional(body, "description", loc, self.text)
            location = self.optional(body, "location", loc, self.location_ref)
            shot_list = body.get("shots")
            if not isinstance(shot_list, list) or not shot_list:
                shown = "missing" if shot_list is None else f"got {type_name(shot_list)}"
                if isinstance(shot_list, list):
                    shown = "got an empty list"
                self.issue(where(loc, "shots"), f"required: a non-empty list of shots ({shown})")
                continue
            for position, shot_entry in enumerate(shot_list):
                shot = self.shot(
                    shot_entry,
                    where(where(loc, "shots"), position),
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
            self.issue(where(loc, "shot_id"), "required: every shot needs a shot_id")
        elif self.ident(shot_id, where(loc, "shot_id"), "shot id") is not None:
            if shot_id in self.shots:
                first = self.shots[shot_id].location
                self.issue(
                    where(loc, "shot_id"), f"duplicate shot id {shot_id!r} (also at {first})"
                )
            else:
                self.register_shot(shot_id, loc)
        fields: dict[str, Any] = {}
        for key, check in _SHOT_CHECKS.items():
            value = body.get(key)
            if check is None:
                fields[key] = self.model_field(body, loc, primary="model", alias="video_model")
            elif value is not None:
                fields[key] = check(self, value, where(loc, key))
        location = self.optional(body, "location", loc, self.location_ref) or sequence_location
        if location is None and self.locations is not None and body.get("location") is None:
            self.issue(
                where(loc, "location"),
                "required: the plan declares locations, so give the shot (or its sequence) one",
            )
        characters = self.optional(body, "characters", loc, self.character_list) or []
        if fields.get("is_env_only") and characters:
            self.issue(where(loc, "is_env_only"), "an environment-only shot cannot list characters")
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
        self.shots[shot_id].shot = shot
        return shot

    def character_list(self, value: object, loc: str) -> list[str] | None:
        if not isinstance(value, list):
            self.issue(loc, f"must be a list of character ids, got {type_name(value)}")
            return None
        out: list[str] = []
        for index, item in enumerate(value):
            character = self.character_ref(item, where(loc, index))
            if character is None:
                continue
            if character in out:
                self.issue(where(loc, index), f"character {character!r} listed twice")
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
            at = where(loc, "references")
            if not isinstance(references, list):
                self.issue(
                    at, f"must be a list of image paths or URLs, got {type_name(references)}"
                )
            else:
                for index, item in enumerate(references, start=1):
                    ref = self.frame_ref(item, where(at, index - 1))
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
            self.issue(loc, f"{show(text)}: only http(s) URLs, data:image URIs or file paths")
            return None
        try:
            path = Path(text)
            if not path.is_absolute():
                path = (self.base_dir or Path.cwd()) / path
            resolved = path.resolve()
            found = resolved.is_file()
        except (OSError, ValueError, RuntimeError) as exc:
            self.issue(loc, f"{show(text)}: cannot check the file ({exc})")
            return None
        if not found:
            self.issue(loc, f"file not found: {resolved}")
            return None
        return str(resolved)


def _episode_from(shots: list[CanonicalShot]) -> str:
    """Episode id for a plan that names none: the first shot id's prefix (``EP001_SH01``)."""
    if shots and "_" in shots[0].shot_id:
        prefix = shots[0].shot_id.split("_", 1)[0]
        if id_problem(prefix) is None:
            return prefix
    return "EP001"


_ShotCheck = Callable[[PlanChecker, Any, str], Any]
_SHOT_CHECKS: dict[str, _ShotCheck | None] = {
    "duration_s": PlanChecker.duration,
    "prompt": lambda c, v, at: c.text(v, at, limit=MAX_PROMPT_CHARS),
    "shot_type": lambda c, v, at: c.token(v, at, "shot type"),
    "video_model": None,  # or its synonym 'model': PlanChecker.model_field checks both
    "previs_model": lambda c, v, at: c.token(v, at, "model"),
    "pipeline": lambda c, v, at: c.token(v, at, "pipeline"),
    "aspect_ratio": lambda c, v, at: c.choice(v, at, ALLOWED_ASPECT_RATIOS, "aspect ratio"),
    "resolution": lambda c, v, at: c.choice(v, at, ALLOWED_RESOLUTIONS, "resolution"),
    "has_dialogue": PlanChecker.flag,
    "is_env_only": PlanChecker.flag,
    "seed": PlanChecker.seed,
    "cinematography": PlanChecker.text,
    "quality": PlanChecker.text,
}
"""How each plain shot field is checked, in the order problems are reported."""
