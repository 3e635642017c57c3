"""The grouping strategy contract: what a strategy is given and what it declares.

A strategy turns a plan's shots into render units; register it with the
``recoil_grouping_strategies`` hook (:mod:`recoil_core.hookspecs`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

if TYPE_CHECKING:
    from recoil_core.model import (
        CanonicalPlan,
        CanonicalShot,
        CoveragePass,
        Group,
    )


@attrs.frozen
class GroupingContext:
    """Everything a grouping strategy may look at besides the shots."""

    project: str
    """The project the plan belongs to."""
    episode: str
    """The episode id of the plan."""
    plan: CanonicalPlan
    """The whole validated plan (all shots, coverage passes, defaults)."""
    selected_passes: tuple[CoveragePass, ...] = ()
    """The coverage passes chosen for this run (``--pass``); empty when none were chosen."""
    options: Mapping[str, Any] = attrs.field(factory=dict)
    """Every option the strategy declares, converted to its type, with the default of each
    one not given (see :class:`OptionSpec`)."""


@attrs.frozen
class OptionSpec:
    """One option a plugin accepts (``recoil run --option name=value``).

    ``type`` is ``int``, ``float``, ``bool`` or ``str``; ``default`` is used when the option
    is not given (``None``: no value). ``help`` says what it does, for ``recoil plugins
    show``.
    """

    name: str
    """What users write before ``=`` in ``--option name=value``."""
    type: type = str
    """``int``, ``float``, ``bool`` or ``str``: what the value is converted to."""
    default: Any = None
    """The value when the option is not given (``None``: no value)."""
    help: str = ""
    """One line for ``recoil plugins show``."""


@runtime_checkable
class GroupingStrategy(Protocol):
    """Turns the shots of a plan into groups (scenes) of render units.

    ``assemble`` must be deterministic: the same shots and context give equal groups,
    so re-deriving a plan finds the scenes it persisted before.

    Options: a strategy that takes ``--option key=value`` declares them in an ``options``
    attribute, a sequence of :class:`OptionSpec` (absent or empty: it takes none; not a
    protocol member, so a strategy without it still satisfies the protocol). The kernel
    checks the given options against it before calling ``assemble``: an undeclared option
    or a value not of the declared type is an :class:`~recoil_core.errors.OptionError`
    (exit 2) and the strategy is not called. ``ctx.options`` then holds every declared
    option, converted to its type, with the default for those not given. Range checks
    (e.g. "greater than 0") stay with the strategy: raise ``OptionError`` for those.

    Errors: raise a :class:`~recoil_core.errors.RecoilError` (``OptionError``,
    ``PlanError``) for a problem the user can fix. Any other exception escaping
    ``assemble``, or a result that is not a list of groups, is reported as a bug in the
    plugin (:class:`~recoil_core.errors.PluginCodeError`, exit 7), naming it and its
    distribution.
    """

    @property
    def name(self) -> str: ...  # a plain or a frozen attribute does (read only here)
    @property
    def description(self) -> str: ...

    def assemble(self, shots: Sequence[CanonicalShot], ctx: GroupingContext) -> list[Group]: ...
