"""Validation of ids that become file names. Checked once, at the plan boundary."""

from __future__ import annotations

import re

from recoil_core.errors import InvalidIdError

MAX_ID_LENGTH = 128
"""The longest id (in characters) :func:`validate_id` accepts."""
_ALLOWED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def id_problem(value: object) -> str | None:
    """Why ``value`` is not a safe id, or ``None`` when it is."""
    if (
        isinstance(value, str)
        and len(value) <= MAX_ID_LENGTH
        and _ALLOWED.fullmatch(value) is not None
        and ".." not in value
    ):
        return None  # the common case in one pass; the checks below name the problem
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if not value:
        return "must not be empty"
    if len(value) > MAX_ID_LENGTH:
        return f"must be at most {MAX_ID_LENGTH} characters, got {len(value)}"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return "must not contain control characters"
    if "/" in value or "\\" in value:
        return "must not contain path separators"
    if ".." in value:
        return "must not contain '..'"
    if not _ALLOWED.match(value):
        return "may only use letters, digits, '.', '_' and '-', starting with a letter or digit"
    return None


def validate_id(value: object, *, what: str = "id") -> str:
    """Return ``value`` if it is a safe id, else raise :class:`InvalidIdError`."""
    problem = id_problem(value)
    if problem is not None:
        raise InvalidIdError(f"{what} {value!r} {problem}")
    assert isinstance(value, str)
    return value
