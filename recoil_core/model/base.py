"""What every model module shares: the persisted schema version, timestamps, field converters."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

SCHEMA_VERSION = 2
"""v2: takes carry ``uid``; steps carry ``request_key`` and ``lookup_missed_at``."""


def utc_now() -> str:
    """Current UTC time as ISO 8601 with offset."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def as_tuple(value: Iterable[Any]) -> tuple[Any, ...]:
    """attrs converter: any iterable as a tuple (frozen values hold tuples)."""
    return tuple(value)


def as_dict(value: Mapping[str, Any] | None) -> dict[str, Any]:
    """attrs converter: a mapping (or ``None``) as a new dict."""
    return dict(value or {})


def copy_data(value: Any) -> Any:
    """A deep copy of JSON-like data (dicts, lists, tuples of plain values): what a
    document's free-form fields (payloads, metadata) hold. Other values are shared."""
    if isinstance(value, dict):
        return {key: copy_data(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_data(item) for item in value]
    if isinstance(value, tuple):
        return tuple(copy_data(item) for item in value)
    return value
