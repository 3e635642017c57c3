"""Every plugin contract in one namespace.

Each contract lives in its own module under :mod:`recoil_core.contracts` (grouping,
runner, provider, backend, gates); plugins import them from :mod:`recoil_core.api`.
"""

from recoil_core.contracts.backend import BackendContext, BackendSpec
from recoil_core.contracts.gates import PreflightContext, PreflightGate, SceneEvent, TakeEvent
from recoil_core.contracts.grouping import GroupingContext, GroupingStrategy, OptionSpec
from recoil_core.contracts.provider import (
    FINAL_JOB_STATES,
    CostEstimator,
    Durations,
    JobStateName,
    JobStatus,
    ModelCapabilities,
    Provider,
    ProviderContext,
    ProviderLimits,
    ProviderSpec,
    SubmitRequest,
)
from recoil_core.contracts.runner import BuildContext, ModalityRunner

__all__ = [
    "FINAL_JOB_STATES",
    "BackendContext",
    "BackendSpec",
    "BuildContext",
    "CostEstimator",
    "Durations",
    "GroupingContext",
    "GroupingStrategy",
    "JobStateName",
    "JobStatus",
    "ModalityRunner",
    "ModelCapabilities",
    "OptionSpec",
    "PreflightContext",
    "PreflightGate",
    "Provider",
    "ProviderContext",
    "ProviderLimits",
    "ProviderSpec",
    "SceneEvent",
    "SubmitRequest",
    "TakeEvent",
]
