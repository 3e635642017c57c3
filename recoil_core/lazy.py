"""Lazy registrations: a plugin names its strategy or runner class by import path, and
the class is imported the first time it is used, not when ``recoil plugins list`` loads
the plugin. Registration stays cheap; validation of the name still happens at load.

::

    @hookimpl
    def recoil_grouping_strategies():
        return [
            LazyStrategy("by_character", "one unit per character", "my_pkg.strategy:ByCharacter")
        ]

A target that cannot be imported (or whose constructor raises) is a
:class:`~recoil_core.errors.PluginError` when it is first used; ``recoil plugins list
--check`` and strict mode import every target up front and report the plugin as failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from recoil_core.errors import PluginError

if TYPE_CHECKING:
    from recoil_core.contracts.grouping import GroupingContext, OptionSpec
    from recoil_core.contracts.runner import BuildContext
    from recoil_core.model import Beat, CanonicalShot, Group, Workflow, WorkflowStep


def _import(target: str) -> Any:
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"{target!r} is not 'module:attribute'")
    return getattr(import_module(module_name), attr)


def _failed(target: str, exc: Exception) -> PluginError:
    lines = str(exc).strip().splitlines()
    reason = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return PluginError(f"cannot load {target!r}: {reason}")


@cache
def _instance(target: str) -> Any:
    """Import ``module:attr`` and call it (a class or factory) once per process."""
    try:
        return _import(target)()
    except Exception as exc:
        raise _failed(target, exc) from exc


@cache
def _function(target: str) -> Any:
    try:
        return _import(target)
    except Exception as exc:
        raise _failed(target, exc) from exc


class Loadable(Protocol):
    """A lazy registration: ``load()`` imports its target (raising ``PluginError``)."""

    @property
    def target(self) -> str: ...

    def load(self) -> Any: ...


def _options(value: Sequence[OptionSpec] | None) -> tuple[OptionSpec, ...] | None:
    return None if value is None else tuple(value)


@attrs.frozen
class LazyStrategy:
    """A grouping strategy whose implementation (``module:Class``) loads on first use.

    ``options`` declares the options it accepts without importing it; when left out,
    :attr:`options` reads them from the loaded class (its ``options`` attribute).
    """

    name: str
    description: str
    target: str
    declared_options: tuple[OptionSpec, ...] | None = attrs.field(
        default=None, kw_only=True, alias="options", converter=_options
    )

    def load(self) -> Any:
        return _instance(self.target)

    @property
    def options(self) -> Sequence[OptionSpec]:
        """The declared options, else those of the loaded strategy (which imports it)."""
        if self.declared_options is not None:
            return self.declared_options
        loaded: Sequence[OptionSpec] = getattr(self.load(), "options", None) or ()
        return loaded

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

    def load(self) -> Any:
        return _function(self.target)

    def __call__(self, step: WorkflowStep) -> float:
        return float(self.load()(step))


LAZY_TYPES = (LazyStrategy, LazyRunner, LazyFunction)


def lazy_parts(obj: object) -> list[Loadable]:
    """The lazy registrations ``obj`` holds: itself, or lazy functions in its attrs fields."""
    if isinstance(obj, LAZY_TYPES):
        return [obj]
    fields = getattr(type(obj), "__attrs_attrs__", ())
    values = (getattr(obj, field.name, None) for field in fields)
    return [value for value in values if isinstance(value, LAZY_TYPES)]
