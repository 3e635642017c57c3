"""Lazy registrations: a plugin names its strategy or runner class by import path, and
the class is imported the first time it is used, not when ``recoil plugins list`` loads
the plugin. Registration stays cheap; validation of the name still happens at load.

::

    @hookimpl
    def recoil_grouping_strategies():
        return [
            LazyStrategy("by_character", "one unit per character", "my_pkg.strategy:ByCharacter")
        ]
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from recoil_core.interfaces import BuildContext, GroupingContext
    from recoil_core.model import Beat, CanonicalShot, Group, Workflow, WorkflowStep


@cache
def _instance(target: str) -> Any:
    """Import ``module:attr`` and call it (a class or factory) once per process."""
    module_name, _, attr = target.partition(":")
    return getattr(import_module(module_name), attr)()


@cache
def _function(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    return getattr(import_module(module_name), attr)


@attrs.frozen
class LazyStrategy:
    """A grouping strategy whose implementation (``module:Class``) loads on first use."""

    name: str
    description: str
    target: str

    def load(self) -> Any:
        return _instance(self.target)

    def assemble(self, shots: Sequence[CanonicalShot], ctx: GroupingContext) -> list[Group]:
        result: list[Group] = self.load().assemble(shots, ctx)
        return result


@attrs.frozen
class LazyRunner:
    """A modality runner whose implementation (``module:Class``) loads on first use."""

    modality: str
    description: str
    target: str

    def load(self) -> Any:
        return _instance(self.target)

    def build_workflow(self, beat: Beat, ctx: BuildContext) -> Workflow:
        workflow: Workflow = self.load().build_workflow(beat, ctx)
        return workflow


@attrs.frozen
class LazyFunction:
    """A callable (``module:function``) imported on first call, e.g. a cost estimate."""

    target: str

    def __call__(self, step: WorkflowStep) -> float:
        return float(_function(self.target)(step))
