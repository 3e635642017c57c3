"""Small pieces every HTTP provider needs, the same for each service: the key kept out of
reprs, Retry-After read from a header, bounded backoff, an HTTP answer mapped to the
provider error tree, and a download streamed to a file with its checksum.

No HTTP client is imported here: providers pass the status, headers and body they got
(any client's), and a download's chunks as an async iterable.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
from collections.abc import AsyncIterable, Awaitable, Callable, Collection, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TypeVar

import attrs

from recoil_core.errors import (
    AuthenticationFailed,
    ModerationBlocked,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
    TaskNotFound,
)

__all__ = [
    "PriceFileError",
    "RetryPolicy",
    "Secret",
    "http_error",
    "only_rate_limited",
    "price_file",
    "read_price_file",
    "retry_after_s",
    "retrying",
    "unreachable",
    "write_media",
]

T = TypeVar("T")


class Secret:
    """An API key or token that never shows itself: ``repr`` and ``str`` say
    ``<redacted>``; :meth:`reveal` gives the value to the one place that sends it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The value, for the header that carries it (never for a message or a log)."""
        return self._value

    def scrub(self, text: str) -> str:
        """``text`` with the value replaced by ``***`` (an error body may echo it)."""
        return text.replace(self._value, "***") if self._value else text

    def __repr__(self) -> str:
        return "<redacted>"

    __str__ = __repr__


def retry_after_s(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date, read
    against ``now``), never negative; ``None`` when it is missing or unreadable (``inf``
    and ``nan`` included: waiting forever on them would hang the run). ``headers`` is
    looked up as ``retry-after``: pass a case-insensitive mapping (any HTTP client's) or
    lower-cased keys."""
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
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@attrs.frozen
class RetryPolicy:
    """Attempts and backoff for the calls a provider retries: full jitter, capped; a
    ``Retry-After`` the service sent (an error's ``retry_after``) wins, capped too."""

    attempts: int = 5
    """Tries in all, the first included."""
    base_s: float = 0.5
    max_s: float = 30.0
    max_retry_after_s: float = 300.0

    def delay(self, attempt: int, error: ProviderError, rng: random.Random) -> float:
        """How long to wait before try ``attempt + 1`` after ``error``."""
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return float(min(retry_after, self.max_retry_after_s))
        return rng.uniform(0.0, min(self.max_s, self.base_s * 2**attempt))


def only_rate_limited(error: ProviderError) -> bool:
    """The ``retry_if`` of a create: retry only a 429 (nothing was made). A create whose
    answer was lost is never sent again: the runner asks ``find``."""
    return isinstance(error, RateLimited)


def unreachable(service: str, op: str, exc: BaseException, *, timed_out: bool) -> ProviderError:
    """The retryable error for a request that got no answer: ``timeout`` when the client
    timed out (``timed_out``), else ``connection``; names the exception's type only (its
    text can carry a URL)."""
    if timed_out:
        return ProviderUnavailable(
            f"{service} {op}: timed out ({type(exc).__name__})", code="timeout"
        )
    return ProviderUnavailable(
        f"{service} {op}: connection failed ({type(exc).__name__})", code="connection"
    )


async def retrying(
    attempt: Callable[[], Awaitable[T | ProviderError]],
    *,
    policy: RetryPolicy,
    rng: random.Random,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    retry_if: Callable[[ProviderError], bool] | None = None,
    log: logging.Logger | None = None,
    what: str = "call",
) -> T:
    """Run ``attempt`` until it returns an answer, not a :class:`ProviderError`: an error
    is tried again (after :meth:`RetryPolicy.delay`) while ``retry_if`` says so (default:
    the error's ``retryable``) and ``policy.attempts`` allow, else raised. ``sleep``
    waits between tries (default ``asyncio.sleep``; a test passes its own)."""
    tries = 0
    while True:
        outcome = await attempt()
        if not isinstance(outcome, ProviderError):
            return outcome
        tries += 1
        wanted = retry_if(outcome) if retry_if is not None else outcome.retryable
        if not wanted or tries >= policy.attempts:
            raise outcome
        if log is not None:
            log.info("%s: %s; retry %d", what, outcome, tries)
        if sleep is None:
            import asyncio

            sleep = asyncio.sleep
        await sleep(policy.delay(tries, outcome, rng))


def http_error(
    service: str,
    op: str,
    status: int,
    headers: Mapping[str, str],
    *,
    code: str | None = None,
    message: str = "",
    auth_hint: str = "the credentials were refused",
    not_found_ops: Collection[str] = (),
    not_found_code: str = "not_found",
    moderated: bool = False,
) -> ProviderError:
    """The provider error for a non-2xx answer ``status`` to operation ``op`` of
    ``service``, with the service's error ``code`` and ``message`` read from its body
    (scrub secrets from ``message`` first):

    - 429: :class:`RateLimited` with the ``Retry-After`` seconds (nothing was made);
    - 5xx and 408: :class:`ProviderUnavailable` (retryable), with ``Retry-After`` too;
    - 401 and 403: :class:`AuthenticationFailed`, saying ``auth_hint`` (which key to check);
    - 404 to an operation of ``not_found_ops``: :class:`TaskNotFound`;
    - ``moderated`` (the body names a moderation refusal): :class:`ModerationBlocked`;
    - anything else: :class:`ProviderRejected`.

    The code is ``code``, else ``rate_limited``, ``http_<status>``, ``unauthorized`` or
    ``not_found_code``. Handle statuses your service gives a meaning of its own (a 402 for
    credit, a 404 that says an output expired) before calling it."""
    head = f"{service} {op}: HTTP {status}" + (f" {code}" if code else "")
    text = head + (f": {message}" if message else "")
    if status == 429:
        return RateLimited(text, code=code or "rate_limited", retry_after=retry_after_s(headers))
    if status >= 500 or status == 408:
        return ProviderUnavailable(
            text, code=code or f"http_{status}", retry_after=retry_after_s(headers)
        )
    if status in (401, 403):
        return AuthenticationFailed(f"{head}: {auth_hint}", code=code or "unauthorized")
    if status == 404 and op in not_found_ops:
        return TaskNotFound(text, code=code or not_found_code)
    if moderated:
        return ModerationBlocked(text, code=code)
    return ProviderRejected(text, code=code or f"http_{status}")


async def write_media(chunks: AsyncIterable[bytes], dest: Path) -> str:
    """Write a download's ``chunks`` to ``dest`` (the runner's ``.part`` file) and return
    the SHA-256 of what was written, hex. ``dest`` is removed if the stream fails, so a
    half-written file never stays behind."""
    digest = hashlib.sha256()
    try:
        with dest.open("wb") as out:
            async for chunk in chunks:
                out.write(chunk)
                digest.update(chunk)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return digest.hexdigest()


class PriceFileError(ValueError):
    """A studio price file cannot be used; the message names the file and the field."""


def price_file(env_var: str, env: Mapping[str, str] | None = None) -> tuple[str, int, int] | None:
    """The studio price file ``env_var`` names (in ``env``, else the process environment):
    ``(path, mtime_ns, size)``, a key that changes when the file does (cache the table
    built from it on that key), or ``None`` when the variable is unset or empty. A file
    that cannot be read raises :class:`PriceFileError` naming the variable."""
    path = (os.environ if env is None else env).get(env_var, "").strip()
    if not path:
        return None
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise PriceFileError(f"{env_var}={path}: cannot read it ({exc.strerror})") from None
    return path, stat.st_mtime_ns, stat.st_size


def read_price_file(path: str | Path) -> dict[str, Any]:
    """A studio price file's JSON object, which must carry ``as_of`` (a non-empty string:
    the date its prices hold from, named in every estimate and charge); anything else
    raises :class:`PriceFileError` naming the file and the field."""
    try:
        raw = json.loads(Path(path).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise PriceFileError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(raw, dict):
        raise PriceFileError(f"{path}: expected a JSON object")
    as_of = raw.get("as_of")
    if not isinstance(as_of, str) or not as_of:
        raise PriceFileError(f"{path}: as_of: required, the date the prices hold from")
    return raw
