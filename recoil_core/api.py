"""The public API of the Recoil kernel: everything a plugin needs, in one module.

Import from here (``from recoil_core.api import LazyStrategy, OptionSpec, hookimpl``);
every other ``recoil_core`` module is private and may change without notice (tests may
also use ``recoil_core.testing``). The reference page docs/api.md is generated from this
module: ``python -m recoil_core.api --markdown > docs/api.md``.

Names load on first use, so importing this module costs nothing when ``recoil plugins
list`` imports a plugin's entry point module; type checkers see the imports below.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recoil_core.contracts.backend import BackendContext as BackendContext
    from recoil_core.contracts.backend import BackendSpec as BackendSpec
    from recoil_core.contracts.gates import PreflightContext as PreflightContext
    from recoil_core.contracts.gates import PreflightGate as PreflightGate
    from recoil_core.contracts.gates import SceneEvent as SceneEvent
    from recoil_core.contracts.gates import TakeEvent as TakeEvent
    from recoil_core.contracts.grouping import GroupingContext as GroupingContext
    from recoil_core.contracts.grouping import GroupingStrategy as GroupingStrategy
    from recoil_core.contracts.grouping import OptionSpec as OptionSpec
    from recoil_core.contracts.provider import FINAL_JOB_STATES as FINAL_JOB_STATES
    from recoil_core.contracts.provider import CostEstimator as CostEstimator
    from recoil_core.contracts.provider import Durations as Durations
    from recoil_core.contracts.provider import JobStateName as JobStateName
    from recoil_core.contracts.provider import JobStatus as JobStatus
    from recoil_core.contracts.provider import ModelCapabilities as ModelCapabilities
    from recoil_core.contracts.provider import Provider as Provider
    from recoil_core.contracts.provider import ProviderContext as ProviderContext
    from recoil_core.contracts.provider import ProviderLimits as ProviderLimits
    from recoil_core.contracts.provider import ProviderSpec as ProviderSpec
    from recoil_core.contracts.provider import SubmitRequest as SubmitRequest
    from recoil_core.contracts.runner import BuildContext as BuildContext
    from recoil_core.contracts.runner import ModalityRunner as ModalityRunner
    from recoil_core.convert import DERIVATION_KIND as DERIVATION_KIND
    from recoil_core.convert import LEDGER_KIND as LEDGER_KIND
    from recoil_core.convert import MANIFEST_KIND as MANIFEST_KIND
    from recoil_core.convert import SCENE_KIND as SCENE_KIND
    from recoil_core.convert import dump_document as dump_document
    from recoil_core.convert import load_document as load_document
    from recoil_core.errors import AuthenticationFailed as AuthenticationFailed
    from recoil_core.errors import BudgetExhaustedError as BudgetExhaustedError
    from recoil_core.errors import CorruptDocumentError as CorruptDocumentError
    from recoil_core.errors import CreateHeldError as CreateHeldError
    from recoil_core.errors import EpisodeLockedError as EpisodeLockedError
    from recoil_core.errors import InvalidIdError as InvalidIdError
    from recoil_core.errors import LookupAmbiguous as LookupAmbiguous
    from recoil_core.errors import ModerationBlocked as ModerationBlocked
    from recoil_core.errors import NameConflictError as NameConflictError
    from recoil_core.errors import OptionError as OptionError
    from recoil_core.errors import OutputExpired as OutputExpired
    from recoil_core.errors import PayloadBuildError as PayloadBuildError
    from recoil_core.errors import PlanError as PlanError
    from recoil_core.errors import PlanIssue as PlanIssue
    from recoil_core.errors import PluginCodeError as PluginCodeError
    from recoil_core.errors import PluginError as PluginError
    from recoil_core.errors import PreflightError as PreflightError
    from recoil_core.errors import ProviderError as ProviderError
    from recoil_core.errors import ProviderRejected as ProviderRejected
    from recoil_core.errors import ProviderUnavailable as ProviderUnavailable
    from recoil_core.errors import RateLimited as RateLimited
    from recoil_core.errors import RecoilError as RecoilError
    from recoil_core.errors import SceneVersionConflictError as SceneVersionConflictError
    from recoil_core.errors import SchemaVersionError as SchemaVersionError
    from recoil_core.errors import TaskNotFound as TaskNotFound
    from recoil_core.errors import UnavailableNameError as UnavailableNameError
    from recoil_core.errors import UnknownNameError as UnknownNameError
    from recoil_core.hashing import WILDCARD as WILDCARD
    from recoil_core.hashing import shotset_hash as shotset_hash
    from recoil_core.hashing import stable_digest as stable_digest
    from recoil_core.hookspecs import hookimpl as hookimpl
    from recoil_core.ids import MAX_ID_LENGTH as MAX_ID_LENGTH
    from recoil_core.ids import id_problem as id_problem
    from recoil_core.ids import validate_id as validate_id
    from recoil_core.lazy import LazyFunction as LazyFunction
    from recoil_core.lazy import LazyRunner as LazyRunner
    from recoil_core.lazy import LazyStrategy as LazyStrategy
    from recoil_core.model import ApprovedReference as ApprovedReference
    from recoil_core.model import Asset as Asset
    from recoil_core.model import AssetKind as AssetKind
    from recoil_core.model import Beat as Beat
    from recoil_core.model import CanonicalPlan as CanonicalPlan
    from recoil_core.model import CanonicalShot as CanonicalShot
    from recoil_core.model import ChargeKind as ChargeKind
    from recoil_core.model import CoveragePass as CoveragePass
    from recoil_core.model import CoverageSegment as CoverageSegment
    from recoil_core.model import Downstream as Downstream
    from recoil_core.model import GenerationReceipt as GenerationReceipt
    from recoil_core.model import Group as Group
    from recoil_core.model import GroupIdentity as GroupIdentity
    from recoil_core.model import LedgerEntry as LedgerEntry
    from recoil_core.model import RenderUnit as RenderUnit
    from recoil_core.model import RunResult as RunResult
    from recoil_core.model import Scene as Scene
    from recoil_core.model import SceneManifest as SceneManifest
    from recoil_core.model import Segment as Segment
    from recoil_core.model import StepState as StepState
    from recoil_core.model import Take as Take
    from recoil_core.model import TakeState as TakeState
    from recoil_core.model import VersionEntry as VersionEntry
    from recoil_core.model import Workflow as Workflow
    from recoil_core.model import WorkflowStep as WorkflowStep
    from recoil_core.model.takes import FINAL_STEP_STATES as FINAL_STEP_STATES
    from recoil_core.model.takes import FINAL_TAKE_STATES as FINAL_TAKE_STATES
    from recoil_core.persistence.atomic import ensure_directory as ensure_directory
    from recoil_core.persistence.protocol import RENDERS_DIR as RENDERS_DIR
    from recoil_core.persistence.protocol import CreateGuard as CreateGuard
    from recoil_core.persistence.protocol import PersistenceBackend as PersistenceBackend
    from recoil_core.persistence.protocol import SceneExistsError as SceneExistsError
    from recoil_core.persistence.protocol import SceneNotFoundError as SceneNotFoundError
    from recoil_core.persistence.protocol import (
        UnknownSceneVersionError as UnknownSceneVersionError,
    )
    from recoil_core.persistence.protocol import conform_target as conform_target
    from recoil_core.plan import pass_ordinal as pass_ordinal
    from recoil_core.plan import reference_images as reference_images
    from recoil_core.provider_kit import PriceFileError as PriceFileError
    from recoil_core.provider_kit import RetryPolicy as RetryPolicy
    from recoil_core.provider_kit import Secret as Secret
    from recoil_core.provider_kit import http_error as http_error
    from recoil_core.provider_kit import only_rate_limited as only_rate_limited
    from recoil_core.provider_kit import price_file as price_file
    from recoil_core.provider_kit import read_price_file as read_price_file
    from recoil_core.provider_kit import retry_after_s as retry_after_s
    from recoil_core.provider_kit import retrying as retrying
    from recoil_core.provider_kit import unreachable as unreachable
    from recoil_core.provider_kit import write_media as write_media
    from recoil_core.render import render_name as render_name
    from recoil_core.selection import BeatMark as BeatMark
    from recoil_core.selection import Cut as Cut
    from recoil_core.selection import CutEvent as CutEvent
    from recoil_core.selection import MarkConflictError as MarkConflictError
    from recoil_core.selection import SelectionError as SelectionError
    from recoil_core.selection import Verdict as Verdict
    from recoil_core.selection import approve as approve
    from recoil_core.selection import cut_take as cut_take
    from recoil_core.selection import episode_cut as episode_cut
    from recoil_core.selection import load_marks as load_marks
    from recoil_core.selection import pending_retakes as pending_retakes
    from recoil_core.selection import reject as reject
    from recoil_core.selection import request_retake as request_retake
    from recoil_core.selection import select_take as select_take
    from recoil_core.takes import owes as owes

_EXPORTS: dict[str, tuple[str, ...]] = {
    "recoil_core.hookspecs": ("hookimpl",),
    "recoil_core.lazy": ("LazyFunction", "LazyRunner", "LazyStrategy"),
    "recoil_core.contracts.grouping": (
        "GroupingContext",
        "GroupingStrategy",
        "OptionSpec",
    ),
    "recoil_core.contracts.runner": (
        "BuildContext",
        "ModalityRunner",
    ),
    "recoil_core.contracts.provider": (
        "CostEstimator",
        "Durations",
        "FINAL_JOB_STATES",
        "JobStateName",
        "JobStatus",
        "ModelCapabilities",
        "Provider",
        "ProviderContext",
        "ProviderLimits",
        "ProviderSpec",
        "SubmitRequest",
    ),
    "recoil_core.contracts.backend": (
        "BackendContext",
        "BackendSpec",
    ),
    "recoil_core.contracts.gates": (
        "PreflightContext",
        "PreflightGate",
        "SceneEvent",
        "TakeEvent",
    ),
    "recoil_core.model.takes": ("FINAL_STEP_STATES", "FINAL_TAKE_STATES"),
    "recoil_core.takes": ("owes",),
    "recoil_core.model": (
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
    ),
    "recoil_core.errors": (
        "AuthenticationFailed",
        "BudgetExhaustedError",
        "CorruptDocumentError",
        "CreateHeldError",
        "EpisodeLockedError",
        "InvalidIdError",
        "LookupAmbiguous",
        "ModerationBlocked",
        "NameConflictError",
        "OptionError",
        "OutputExpired",
        "PayloadBuildError",
        "PlanError",
        "PlanIssue",
        "PluginCodeError",
        "PluginError",
        "PreflightError",
        "ProviderError",
        "ProviderRejected",
        "ProviderUnavailable",
        "RateLimited",
        "RecoilError",
        "SceneVersionConflictError",
        "SchemaVersionError",
        "TaskNotFound",
        "UnavailableNameError",
        "UnknownNameError",
    ),
    "recoil_core.persistence.protocol": (
        "RENDERS_DIR",
        "CreateGuard",
        "PersistenceBackend",
        "SceneExistsError",
        "SceneNotFoundError",
        "UnknownSceneVersionError",
        "conform_target",
    ),
    "recoil_core.convert": (
        "DERIVATION_KIND",
        "LEDGER_KIND",
        "MANIFEST_KIND",
        "SCENE_KIND",
        "dump_document",
        "load_document",
    ),
    "recoil_core.persistence.atomic": ("ensure_directory",),
    "recoil_core.ids": ("MAX_ID_LENGTH", "id_problem", "validate_id"),
    "recoil_core.hashing": ("WILDCARD", "shotset_hash", "stable_digest"),
    "recoil_core.plan": ("pass_ordinal", "reference_images"),
    "recoil_core.render": ("render_name",),
    "recoil_core.provider_kit": (
        "PriceFileError",
        "RetryPolicy",
        "Secret",
        "http_error",
        "only_rate_limited",
        "price_file",
        "read_price_file",
        "retry_after_s",
        "retrying",
        "unreachable",
        "write_media",
    ),
    "recoil_core.selection": (
        "BeatMark",
        "Cut",
        "CutEvent",
        "MarkConflictError",
        "SelectionError",
        "Verdict",
        "approve",
        "cut_take",
        "episode_cut",
        "load_marks",
        "pending_retakes",
        "reject",
        "request_retake",
        "select_take",
    ),
}
"""Where each public name is defined (private modules), by module; the ``TYPE_CHECKING``
imports above say the same for type checkers (a test keeps the two equal)."""

_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)

if not TYPE_CHECKING:  # type checkers see the imports above instead

    def __getattr__(name: str) -> Any:
        """Import the module defining ``name`` the first time ``name`` is used."""
        module = _MODULE_OF.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(import_module(module), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})


if __name__ == "__main__":
    from recoil_core._apidoc import main

    main()
