"""Reading a plan file: bytes, UTF-8 and JSON, with errors naming the file and the reason.

Nothing here knows the plan's fields; :mod:`._checker` does.
"""

from __future__ import annotations

import json
from typing import Any

from recoil_core.errors import PlanError, PlanIssue

MAX_FILE_BYTES = 32 * 1024 * 1024

Duplicates = dict[int, list[str]]
"""The keys given twice in each JSON object, by the object's ``id()``."""


class _BadConstant(ValueError):
    pass


def _reject_constant(name: str) -> float:
    raise _BadConstant(f"{name} is not a number JSON allows")


def printable(text: str) -> str:
    """``text`` with lone surrogates (from odd file names or JSON escapes) made visible."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def file_error(source: str, message: str) -> PlanError:
    """A problem with the file as a whole (no field to point at)."""
    return PlanError(printable(source), [PlanIssue("", printable(message))])


def read_json(source: str) -> tuple[object, Duplicates]:
    """Parse the file; also return the duplicate keys of each JSON object (by ``id``)."""
    try:
        with open(source, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise file_error(source, "file not found; check the path") from None
    except IsADirectoryError:
        raise file_error(source, "is a directory, not a plan file") from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise file_error(source, f"cannot read the file: {reason}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise file_error(source, f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise file_error(
            source, f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from None
    text = text.removeprefix("\ufeff")
    duplicates: Duplicates = {}
    keep_alive: list[dict[str, Any]] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) < len(pairs):
            seen: set[str] = set()
            dups: list[str] = []
            for key, _ in pairs:
                if key in seen and key not in dups:
                    dups.append(key)
                seen.add(key)
            keep_alive.append(obj)
            duplicates[id(obj)] = dups
        return obj

    try:
        data = json.loads(text, object_pairs_hook=pairs_hook, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise file_error(
            source, f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise file_error(source, "not a plan: JSON nested too deeply") from None
    except ValueError as exc:
        raise file_error(source, f"not valid JSON: {exc}") from None
    return data, duplicates
