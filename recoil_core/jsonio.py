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

import gc
import json
import re
from collections.abc import Callable
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


def loads(raw: bytes) -> Any:
    """Parse JSON exactly as :func:`json.loads` does; raises ``ValueError`` when it is not
    JSON."""
    if not may_hold_long_integer(raw):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # json may still read it (NaN), or says what is wrong with it
    return json.loads(raw)


_NUMBER = re.compile(rb"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_SPELLED_OTHERWISE = (b"0e", b"0E", b"0.0000")
"""Where a number of orjson's differs from :func:`repr`'s, once every digit reads ``0``:
an exponent (``1e16`` for ``1e+16``), or a value below 1e-4 (``0.00001`` for ``1e-05``)."""


def _numbers_spelled_as_repr(raw: bytes) -> bool:
    """Whether every number in ``raw`` (orjson, indented) is spelled as :func:`repr`
    spells it. In indented output a number is the last word of its line, so only the lines
    holding a marker of ``_SPELLED_OTHERWISE`` are looked at (a marker inside a string,
    as in a hex digest, is passed over)."""
    zeros = raw.translate(_DIGITS_AS_ZEROS)
    for marker in _SPELLED_OTHERWISE:
        at = zeros.find(marker)
        while at != -1:
            start = zeros.rfind(b"\n", 0, at) + 1
            end = zeros.find(b"\n", at)
            end = len(zeros) if end == -1 else end
            word = raw[start:end].rstrip(b",").rsplit(b" ", 1)[-1]
            if _NUMBER.fullmatch(word) is not None:
                return False
            at = zeros.find(marker, end)
    return True


def dumps_as_json_does(value: Any) -> bytes:
    """The bytes of ``json.dumps(value, indent=2, default=str)`` (ASCII, two-space indent,
    ``", "``/``": "``), made by orjson when that gives the same bytes.

    orjson writes the document first; it is kept when it is ASCII, spells every number as
    :func:`repr` does and reads back equal to ``value`` (that catches NaN, which orjson
    writes as ``null``, an enum that is no string or integer, and any value ``default``
    turned into text where :mod:`json` would not). Otherwise :mod:`json` writes it.
    """
    option = (
        orjson.OPT_INDENT_2 | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
    )
    try:
        raw = orjson.dumps(value, default=str, option=option)
    except orjson.JSONEncodeError:
        raw = None
    if (
        raw is not None
        and raw.isascii()
        and b"\x7f" not in raw  # json escapes it too
        and _numbers_spelled_as_repr(raw)
        and _reads_back_equal(raw, value)
    ):
        return raw
    return json.dumps(value, indent=2, default=str).encode("ascii")


def _reads_back_equal(raw: bytes, value: Any) -> bool:
    """``raw`` parses to ``value``. The collector is paused meanwhile: parsing a large
    report allocates many containers at once, and a heap of that size made each of the
    collections they trigger slower than the parse itself."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return bool(orjson.loads(raw) == value)
    finally:
        if enabled:
            gc.enable()
