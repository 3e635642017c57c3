"""Maps Replicate HTTP answers (RFC 7807 problem bodies) and prediction errors to the
Recoil provider error tree; no HTTP client imported here."""

from __future__ import annotations

import json
from collections.abc import Mapping

from recoil_core.api import AuthenticationFailed, ProviderError, http_error
from recoil_core.api import retry_after_s as retry_after_s  # where this module offered it

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


def error_for_status(
    op: str, status: int, content: bytes, headers: Mapping[str, str], *, scrub: str = ""
) -> ProviderError:
    """The provider error for a non-2xx Replicate answer to operation ``op``."""
    message = problem(content)
    if scrub:
        message = message.replace(scrub, "***")
    if status == 402:
        return AuthenticationFailed(
            f"Replicate {op}: HTTP 402: the account cannot pay for predictions (no credit or "
            "billing not set up); every create would be refused until billing is fixed",
            code="payment_required",
        )
    return http_error(
        "Replicate",
        op,
        status,
        headers,
        message=message,
        auth_hint="the API token was refused; check REPLICATE_API_TOKEN and that it may run "
        "this model",
        not_found_ops=("get", "cancel"),
        not_found_code="prediction_not_found",
    )
