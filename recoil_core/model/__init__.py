"""The domain model, one module per domain; every public name is importable from here.

- :mod:`~recoil_core.model.plan`: a validated plan, its shots and coverage passes.
- :mod:`~recoil_core.model.grouping`: render unit identities, segments, units, groups.
- :mod:`~recoil_core.model.takes`: workflows, steps, receipts, takes and their states.
- :mod:`~recoil_core.model.scenes`: beats, scene versions and scene manifests.
- :mod:`~recoil_core.model.ledger`: charges and prices.

Plan-side values are frozen attrs classes; scenes, beats and takes are mutable documents.
"""

from __future__ import annotations

from recoil_core.model.assets import ASSET_SCENE_PREFIX, ApprovedReference, Asset, AssetKind
from recoil_core.model.base import SCHEMA_VERSION, utc_now
from recoil_core.model.grouping import Group, GroupIdentity, RenderUnit, Segment
from recoil_core.model.ledger import ChargeKind, LedgerEntry, as_price, charge_entry_id
from recoil_core.model.plan import CanonicalPlan, CanonicalShot, CoveragePass, CoverageSegment
from recoil_core.model.scenes import (
    Beat,
    Downstream,
    Scene,
    SceneManifest,
    VersionEntry,
    rendered_shot_ids,
)
from recoil_core.model.takes import (
    FINAL_STEP_STATES,
    FINAL_TAKE_STATES,
    GenerationReceipt,
    RunResult,
    StepState,
    Take,
    TakeState,
    Workflow,
    WorkflowStep,
    new_identity,
    seed_for,
    take_id_for,
)

__all__ = [
    "ASSET_SCENE_PREFIX",
    "FINAL_STEP_STATES",
    "FINAL_TAKE_STATES",
    "SCHEMA_VERSION",
    "ApprovedReference",
    "Asset",
    "AssetKind",
    "Beat",
    "CanonicalPlan",
    "CanonicalShot",
    "ChargeKind",
    "CoveragePass",
    "CoverageSegment",
    "Downstream",
    "GenerationReceipt",
    "Group",
    "GroupIdentity",
    "LedgerEntry",
    "RenderUnit",
    "RunResult",
    "Scene",
    "SceneManifest",
    "Segment",
    "StepState",
    "Take",
    "TakeState",
    "VersionEntry",
    "Workflow",
    "WorkflowStep",
    "as_price",
    "charge_entry_id",
    "new_identity",
    "rendered_shot_ids",
    "seed_for",
    "take_id_for",
    "utc_now",
]
