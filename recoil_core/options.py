"""Declared plugin options: a plugin's :class:`~recoil_core.contracts.grouping.OptionSpec`s, and the
check that turns ``--option key=value`` into typed values before the plugin is called.

Only the kernel checks options; a strategy receives every declared option, typed, in
``GroupingContext.options``. Calling the strategy lives in :mod:`recoil_core.runner.planning`.
"""

from __future__ import annotations

import difflib
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from recoil_core.contracts.grouping import GroupingStrategy, OptionSpec
from recoil_core.errors import OptionError, PluginError
from recoil_core.lazy import LazyStrategy

__all__ = [
    "OPTION_TYPES",
    "checked_specs",
    "describe_option",
    "resolve_options",
    "strategy_option_specs",
]

OPTION_TYPES: Mapping[type, str] = {
    int: "a whole number",
    float: "a finite number",
    bool: "true or false",
    str: "text",
}
"""The types an option may declare, and how a message names what a value must be."""

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_FLOAT_MAX = sys.float_info.max


def strategy_option_specs(strategy: GroupingStrategy) -> tuple[OptionSpec, ...]:
    """The options ``strategy`` declares (its ``options`` attribute; absent means none).

    A :class:`~recoil_core.lazy.LazyStrategy` without declarations of its own is asked
    through its implementation, which this imports. Raises :class:`PluginError` when the
    declaration is not a sequence of :class:`OptionSpec` with distinct names, supported
    types and defaults of that type.
    """
    declared = getattr(strategy, "options", None)
    if declared is None and isinstance(strategy, LazyStrategy):
        declared = getattr(strategy.load(), "options", None)
    return checked_specs(f"grouping strategy {strategy.name!r}", declared)


def checked_specs(owner: str, declared: object) -> tuple[OptionSpec, ...]:
    """``declared`` (a plugin's ``options``) as a tuple, or :class:`PluginError` saying what
    is wrong with it. ``owner`` names the plugin object in the message."""
    if declared is None:
        return ()
    if isinstance(declared, str | bytes) or not isinstance(declared, Sequence):
        raise PluginError(
            f"{owner}: options must be a list of OptionSpec, not {type(declared).__name__}"
        )
    specs = tuple(declared)
    seen: set[str] = set()
    for position, spec in enumerate(specs):
        if not isinstance(spec, OptionSpec):
            raise PluginError(
                f"{owner}: options[{position}] is a {type(spec).__name__}, not an OptionSpec"
            )
        if not isinstance(spec.name, str) or not spec.name.isidentifier():
            raise PluginError(f"{owner}: option name {spec.name!r} is not a plain identifier")
        if spec.name in seen:
            raise PluginError(f"{owner}: option {spec.name} is declared twice")
        seen.add(spec.name)
        if spec.type not in OPTION_TYPES:
            raise PluginError(
                f"{owner}: option {spec.name} has type {spec.type!r}; "
                f"declare one of {', '.join(t.__name__ for t in OPTION_TYPES)}"
            )
        if spec.default is not None:
            try:
                _convert(owner, spec, spec.default)
            except OptionError:
                raise PluginError(
                    f"{owner}: option {spec.name} has default {spec.default!r}, which is not "
                    f"{OPTION_TYPES[spec.type]} ({spec.type.__name__})"
                ) from None
    return specs


def resolve_options(
    owner: str, specs: Sequence[OptionSpec], given: Mapping[str, Any]
) -> dict[str, Any]:
    """Every option of ``specs``: the ``given`` value converted to its declared type, else
    its default (``None`` when it has none).

    ``given`` values may be strings (as ``--option key=value`` gives them) or already typed
    (from the API). Raises :class:`OptionError` naming ``owner`` for an option ``specs``
    does not declare (listing those it does) and for a value that is not of the declared
    type: ``int`` takes whole numbers, ``float`` finite numbers (never NaN or infinity),
    ``bool`` true/false, yes/no, on/off or 1/0, ``str`` any text. Raises
    :class:`PluginError` when ``specs`` themselves are malformed (see :func:`checked_specs`).
    """
    specs = checked_specs(owner, specs)
    known = {spec.name: spec for spec in specs}
    unknown = [name for name in given if name not in known]
    if unknown:
        raise OptionError(_unknown_message(owner, unknown, specs))
    values = {
        spec.name: None if spec.default is None else _convert(owner, spec, spec.default)
        for spec in specs
    }
    for name, value in given.items():
        values[name] = _convert(owner, known[name], value)
    return values


def describe_option(spec: OptionSpec) -> str:
    """``max_shots (int, default 4)``: how messages and listings name an option."""
    default = "no default" if spec.default is None else f"default {spec.default!r}"
    return f"{spec.name} ({spec.type.__name__}, {default})"


def _unknown_message(owner: str, unknown: Sequence[str], specs: Sequence[OptionSpec]) -> str:
    names = ", ".join(repr(name) for name in unknown)
    label = "option" if len(unknown) == 1 else "options"
    if not specs:
        return f"{owner}: unknown {label} {names}; it takes no options"
    known = sorted(spec.name for spec in specs)
    guesses = [match for name in unknown for match in difflib.get_close_matches(name, known, 1)]
    hint = f" (did you mean {', '.join(repr(g) for g in guesses)}?)" if guesses else ""
    listing = ", ".join(describe_option(spec) for spec in sorted(specs, key=lambda s: s.name))
    return f"{owner}: unknown {label} {names}{hint}; known options: {listing}"


def _convert(owner: str, spec: OptionSpec, value: Any) -> Any:
    converted = _as_type(spec.type, value)
    if converted is None:
        raise OptionError(
            f"{owner}: option {spec.name}={value!r} is not {OPTION_TYPES[spec.type]} "
            f"({spec.type.__name__})"
        )
    return converted


def _as_type(kind: type, value: Any) -> Any:
    """``value`` as ``kind``, or ``None`` when it is not one."""
    if kind is str:
        return value if isinstance(value, str) else None
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            word = value.strip().lower()
            return True if word in _TRUE else False if word in _FALSE else None
        return None
    number = _number(value)
    if number is None:
        return None
    if kind is float:
        as_float = float(number) if abs(number) <= _FLOAT_MAX else math.inf
        return as_float if math.isfinite(as_float) else None
    if isinstance(number, float) and not number.is_integer():
        return None
    return int(number)


def _number(value: Any) -> int | float | None:
    """A finite int or float from a number or a numeric string; ``None`` otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            value = float(text)
        except ValueError:
            return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return None
