"""Maps Ark HTTP answers to the Recoil provider error tree (no HTTP client imported here)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from recoil_core.api import (
    AuthenticationFailed,
    ModerationBlocked,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
    TaskNotFound,
)

AMBIGUOUS_CREATE = "ambiguous_create"
"""Code of the ProviderUnavailable raised when a create may or may not have made a task."""

MAX_MESSAGE = 300


def is_moderation_code(code: str | None) -> bool:
    """Ark's moderation codes name sensitive content (input or output)."""
    return bool(code) and "Sensitive" in str(code)


def is_output_moderation_code(code: str | None) -> bool:
    return is_moderation_code(code) and str(code).startswith("Output")


def error_body(content: bytes) -> tuple[str | None, str]:
    """``(code, message)`` from an Ark error body; tolerant of non-JSON bodies."""
    try:
        data = json.loads(content)
    except ValueError:
        return None, content[:MAX_MESSAGE].decode("utf-8", "replace")
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        return (str(code) if code else None), str(error.get("message") or "")[:MAX_MESSAGE]
    return None, ""


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:  # "inf" or "nan" is no delay at all; waiting forever on it would hang the run
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_for_status(
    op: str, status: int, content: bytes, headers: Mapping[str, str], *, scrub: str = ""
) -> ProviderError:
    """The provider error for a non-2xx Ark answer to operation ``op``."""
    code, message = error_body(content)
    if scrub:
        message = message.replace(scrub, "***")
    text = (
        f"Ark {op}: HTTP {status}"
        + (f" {code}" if code else "")
        + (f": {message}" if message else "")
    )
    if status == 429:
        return RateLimited(text, code=code or "rate_limited", retry_after=retry_after_s(headers))
    if status >= 500 or status == 408:
        return ProviderUnavailable(text, code=code or f"http_{status}")
    if status in (401, 403):
        return AuthenticationFailed(
            f"Ark {op}: HTTP {status} {code or 'unauthorized'}: the API key was refused; "
            "check ARK_API_KEY and that the key may use this model",
            code=code or "unauthorized",
        )
    if status == 404 and op in ("get", "cancel"):
        return TaskNotFound(text, code=code or "task_not_found")
    if is_moderation_code(code):
        return ModerationBlocked(text, code=code)
    return ProviderRejected(text, code=code or f"http_{status}")
