"""JSON bytes for persisted documents: orjson, with the standard library as the fallback.

Every state save encodes a scene document (a few KB) on the writer that bounds a run's
throughput; orjson does it about ten times faster than :mod:`json`. Both write the same
bytes (UTF-8, compact or two-space indented), but for how a float's exponent is spelled
(``1.5e-7`` for ``1.5e-07``), which reads back as the same number.

Writing, what orjson refuses (an integer wider than 64 bits, a key that is not a string)
goes through :mod:`json`, so no document that :mod:`json` could write is lost to the
faster path. Reading, :mod:`json` takes what orjson would refuse (``NaN``) or read
differently (an integer wider than 64 bits becomes a float in orjson), so every document
reads exactly as it did with :mod:`json` alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from enum import Enum
from typing import Any

import orjson


def dumps(
    value: Any,
    *,
    indent: bool = False,
    sort_keys: bool = False,
    default: Callable[[Any], Any] | None = None,
) -> bytes:
    """``value`` as UTF-8 JSON: compact, or indented by two spaces with ``indent``.

    A value JSON has no type for (a path, a datetime) goes to ``default`` (``str`` writes
    it as its text); without one it is a ``TypeError``, as with :func:`json.dumps`.
    """
    option = orjson.OPT_PASSTHROUGH_DATETIME
    if indent:
        option |= orjson.OPT_INDENT_2
    if sort_keys:
        option |= orjson.OPT_SORT_KEYS
    try:
        return orjson.dumps(value, default=default, option=option)
    except orjson.JSONEncodeError:
        text = json.dumps(
            value,
            ensure_ascii=False,
            indent=2 if indent else None,
            separators=None if indent else (",", ":"),
            sort_keys=sort_keys,
            default=default,
        )
        return text.encode("utf-8")


_DIGITS_AS_ZEROS = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19


def may_hold_long_integer(raw: bytes) -> bool:
    """Whether ``raw`` holds a run of 19 digits or more: an integer that long may not fit
    64 bits, which orjson would read as a float. (Every digit becomes ``0``, then one
    substring search: many times faster than a regular expression over a document.)"""
    return _LONG_RUN in raw.translate(_DIGITS_AS_ZEROS)


_LONG_RUNS = re.compile(rb"0{19,}")
_BEFORE_NUMBER_DIGITS = frozenset(b"-+.eE:,[ \t\r\n")
_AFTER_NUMBER_DIGITS = frozenset(b".eE,]} \t\r\n")
"""What may stand before and after the digits of a JSON number (its sign, fraction or
exponent included); a run of digits next to anything else is inside a string."""


def may_hold_long_number(raw: bytes) -> bool:
    """Whether ``raw`` may hold a number with a run of 19 digits or more: a run of digits
    (:func:`may_hold_long_integer`) that does not touch a letter or a quote, as the digits
    inside a hex digest or a job id do."""
    if not may_hold_long_integer(raw):
        return False
    zeros = raw.translate(_DIGITS_AS_ZEROS)
    end_of_raw = len(zeros)
    for found in _LONG_RUNS.finditer(zeros):
        start, end = found.span()
        if (start == 0 or zeros[start - 1] in _BEFORE_NUMBER_DIGITS) and (
            end == end_of_raw or zeros[end] in _AFTER_NUMBER_DIGITS
        ):
            return True
    return False


def loads(raw: bytes) -> Any:
    """Parse JSON exactly as :func:`json.loads` does; raises ``ValueError`` when it is not
    JSON."""
    if not may_hold_long_number(raw):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # json may still read it (NaN), or says what is wrong with it
    return json.loads(raw)


def _spelled_alike(value: Any) -> bool:
    """Whether orjson writes ``value`` as :func:`json.dumps` does (but for escaping, which
    the caller checks on the bytes): it holds only strings, integers, booleans, ``None``,
    dicts with string keys, lists, tuples, and floats that both spell the same, ``0.0`` and
    a magnitude from 1e-4 up to 1e16 (outside it orjson spells ``1e-05`` as ``0.00001``;
    NaN and the infinities, which orjson writes as ``null``, fail the test too). A
    subclass of ``str``, ``int`` or ``float`` is written as its data by both, and so is a
    string or integer enum whose value is that data. Anything else (a datetime, an enum of
    other values, an object ``default=str`` turns into text) is left to :mod:`json`. One
    walk over the values, iteratively."""
    stack = [value]
    pop, extend = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is str or kind is int or kind is bool or item is None:
            continue
        if kind is dict:
            for key in item:
                if not isinstance(key, str):
                    return False
            extend(item.values())
        elif kind is list or kind is tuple:
            extend(item)
        elif isinstance(item, Enum):  # orjson writes its value, json its str or int data
            found = item.value
            if type(found) not in (str, int) or not isinstance(item, type(found)):
                return False
            if found != item:
                return False
        elif isinstance(item, float):
            if not (item == 0.0 or 1e-4 <= abs(item) < 1e16):
                return False
        elif not isinstance(item, (str, int)):
            return False
    return True


def dumps_as_json_does(value: Any) -> bytes:
    """The bytes of ``json.dumps(value, indent=2, default=str)`` (ASCII, two-space indent,
    ``", "``/``": "``), made by orjson when that gives the same bytes.

    orjson writes the document when every value in it is one orjson spells as :mod:`json`
    does (:func:`_spelled_alike`), and its bytes are kept when they are ASCII (:mod:`json`
    escapes every other character, and DEL). Otherwise :mod:`json` writes it.
    """
    option = (
        orjson.OPT_INDENT_2 | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
    )
    if _spelled_alike(value):
        try:
            raw = orjson.dumps(value, default=str, option=option)
        except orjson.JSONEncodeError:  # an integer wider than 64 bits, a str subclass key
            raw = None
        if raw is not None and raw.isascii() and b"\x7f" not in raw:
            return raw
    return json.dumps(value, indent=2, default=str).encode("ascii")
