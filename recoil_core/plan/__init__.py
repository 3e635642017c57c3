"""Plan files: read a studio's episode plan (JSON) and validate it into a CanonicalPlan.

Every problem is collected with its location (``sequences.SEQ11.shots[3].duration_s``)
and raised at once as a :class:`~recoil_core.errors.PlanError`; no other exception escapes
for bad input. The structural rules come from ``recoil_core/schemas/plan.schema.json``.
Private modules: ``_reading`` (file and JSON), ``_schema`` (the rules the JSON Schema
states), ``_fields`` (value checks and references), ``_build`` (the plan walk and the
CanonicalPlan), ``_coverage`` (coverage passes).
"""

from __future__ import annotations

from recoil_core.plan._build import load_plan, parse_plan, plan_summary, reference_images
from recoil_core.plan._coverage import pass_ordinal
from recoil_core.plan._schema import (
    ALLOWED_ASPECT_RATIOS,
    ALLOWED_RESOLUTIONS,
    BUILTIN_DEFAULTS,
    DEFAULTS_FIELDS,
    ENTITY_FIELDS,
    FRAMES_FIELDS,
    MAX_DURATION_S,
    PASS_FIELDS,
    PLAN_SCHEMA_VERSION,
    SEGMENT_FIELDS,
    SEQUENCE_FIELDS,
    SHOT_FIELDS,
    TOP_FIELDS,
)

__all__ = [
    "ALLOWED_ASPECT_RATIOS",
    "ALLOWED_RESOLUTIONS",
    "BUILTIN_DEFAULTS",
    "DEFAULTS_FIELDS",
    "ENTITY_FIELDS",
    "FRAMES_FIELDS",
    "MAX_DURATION_S",
    "PASS_FIELDS",
    "PLAN_SCHEMA_VERSION",
    "SEGMENT_FIELDS",
    "SEQUENCE_FIELDS",
    "SHOT_FIELDS",
    "TOP_FIELDS",
    "load_plan",
    "parse_plan",
    "pass_ordinal",
    "plan_summary",
    "reference_images",
]
