"""Maps Ark HTTP answers to the Recoil provider error tree (no HTTP client imported here)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from recoil_core.api import ProviderError, http_error
from recoil_core.api import retry_after_s as retry_after_s  # where this module offered it

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


def error_for_status(
    op: str, status: int, content: bytes, headers: Mapping[str, str], *, scrub: str = ""
) -> ProviderError:
    """The provider error for a non-2xx Ark answer to operation ``op``."""
    code, message = error_body(content)
    if scrub:
        message = message.replace(scrub, "***")
    return http_error(
        "Ark",
        op,
        status,
        headers,
        code=code,
        message=message,
        auth_hint="the API key was refused; check ARK_API_KEY and that the key may use this model",
        not_found_ops=("get", "cancel"),
        not_found_code="task_not_found",
        moderated=is_moderation_code(code),
    )
