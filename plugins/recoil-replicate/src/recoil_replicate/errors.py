"""Maps Replicate HTTP answers (RFC 7807 problem bodies) and prediction errors to the
Recoil provider error tree; no HTTP client imported here."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from recoil_core.api import (
    AuthenticationFailed,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
    TaskNotFound,
)

AMBIGUOUS_CREATE = "ambiguous_create"
"""Code of the ProviderUnavailable raised when a create may or may not have made a prediction."""
OUTPUT_EXPIRED = "output_expired"
"""Error code of a billed prediction whose output Replicate deleted before it was downloaded."""
MODERATED = "moderated"
MAX_MESSAGE = 300
MODERATION_MARKERS = ("E005", "flagged as sensitive", "NSFW")
"""How Replicate's prediction errors name a moderation refusal (input or output)."""


def is_moderation(error: str | None) -> bool:
    return bool(error) and any(marker in str(error) for marker in MODERATION_MARKERS)


def problem(content: bytes) -> str:
    """The message of a problem body (``title``/``detail``); tolerant of non-JSON bodies."""
    try:
        data = json.loads(content)
    except ValueError:
        return content[:MAX_MESSAGE].decode("utf-8", "replace")
    if not isinstance(data, dict):
        return ""
    parts = [str(data[k]) for k in ("title", "detail") if data.get(k)]
    return ": ".join(parts)[:MAX_MESSAGE]


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
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
    """The provider error for a non-2xx Replicate answer to operation ``op``."""
    message = problem(content)
    if scrub:
        message = message.replace(scrub, "***")
    text = f"Replicate {op}: HTTP {status}" + (f": {message}" if message else "")
    if status == 429:
        return RateLimited(text, code="rate_limited", retry_after=retry_after_s(headers))
    if status >= 500 or status == 408:
        return ProviderUnavailable(text, code=f"http_{status}")
    if status in (401, 403):
        return AuthenticationFailed(
            f"Replicate {op}: HTTP {status}: the API token was refused; check "
            "REPLICATE_API_TOKEN and that it may run this model",
            code="unauthorized",
        )
    if status == 402:
        return AuthenticationFailed(
            f"Replicate {op}: HTTP 402: the account cannot pay for predictions (no credit or "
            "billing not set up); every create would be refused until billing is fixed",
            code="payment_required",
        )
    if status == 404 and op in ("get", "cancel"):
        return TaskNotFound(text, code="prediction_not_found")
    return ProviderRejected(text, code=f"http_{status}")
