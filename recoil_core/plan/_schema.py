"""The plan's structural rules, read once from ``schemas/plan.schema.json``.

The JSON Schema is the one source of the field names of each object, the choice lists and
the limits; the checker reads them from here. Rules the schema cannot state (references,
duplicate ids, frame files) live in the checker.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "plan.schema.json"
EXTENSION_PREFIX = "x-"
"""Fields starting with this are a studio's own; the checker and the schema ignore them."""

SCHEMA: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
"""The plan JSON Schema (draft 2020-12), as shipped in ``recoil_core/schemas``."""

_DEFS: dict[str, Any] = SCHEMA["$defs"]
PLAN_SCHEMA_VERSION: int = SCHEMA["properties"]["schema_version"]["const"]


def _fields(node: dict[str, Any]) -> tuple[str, ...]:
    return tuple(node["properties"])


TOP_FIELDS = _fields(SCHEMA)
DEFAULTS_FIELDS = _fields(_DEFS["defaults"])
ENTITY_FIELDS = _fields(_DEFS["entity"])
SEQUENCE_FIELDS = _fields(_DEFS["sequence"])
SHOT_FIELDS = _fields(_DEFS["shot"])
FRAMES_FIELDS = _fields(_DEFS["frames"])
PASS_FIELDS = _fields(_DEFS["coverage_pass"])
SEGMENT_FIELDS = _fields(_DEFS["segment"])
FIELD_SETS: dict[int, frozenset[str]] = {
    id(fields): frozenset(fields)
    for fields in (
        TOP_FIELDS,
        DEFAULTS_FIELDS,
        ENTITY_FIELDS,
        SEQUENCE_FIELDS,
        SHOT_FIELDS,
        FRAMES_FIELDS,
        PASS_FIELDS,
        SEGMENT_FIELDS,
    )
}
"""Each field tuple above as a set, by the tuple's ``id``."""
ALL_FIELDS: frozenset[str] = frozenset().union(*FIELD_SETS.values())

ALLOWED_ASPECT_RATIOS: tuple[str, ...] = tuple(_DEFS["aspect_ratio"]["enum"])
ALLOWED_RESOLUTIONS: tuple[str, ...] = tuple(_DEFS["resolution"]["enum"])
MAX_DURATION_S = float(_DEFS["duration"]["maximum"])
MAX_SEED: int = _DEFS["shot"]["properties"]["seed"]["maximum"]
MAX_PROMPT_CHARS: int = _DEFS["shot"]["properties"]["prompt"]["maxLength"]
MAX_TEXT_CHARS: int = SCHEMA["properties"]["title"]["maxLength"]
MAX_TOKEN_CHARS: int = _DEFS["token"]["maxLength"]
TOKEN_PATTERN: str = _DEFS["token"]["pattern"]
MAX_REF_CHARS: int = _DEFS["frame_ref"]["maxLength"]

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
