"""The provider toolkit of recoil_core.api: what fal, Replicate and Seedance share."""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recoil_core.api import (
    AuthenticationFailed,
    ModerationBlocked,
    PriceFileError,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
    RetryPolicy,
    Secret,
    TaskNotFound,
    http_error,
    only_rate_limited,
    price_file,
    read_price_file,
    retry_after_s,
    retrying,
    unreachable,
    write_media,
)

NOW = datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("3", 3.0),
        ("0.5", 0.5),
        ("-4", 0.0),
        ("inf", None),
        ("nan", None),
        ("soon", None),
        ("Wed, 02 Dec 2026 12:00:30 GMT", 30.0),
        ("Wed, 02 Dec 2026 11:59:00 GMT", 0.0),
    ],
)
def test_retry_after_reads_seconds_or_an_http_date(value: str, seconds: float | None) -> None:
    assert retry_after_s({"retry-after": value}, now=NOW) == seconds


def test_retry_after_is_none_without_the_header() -> None:
    assert retry_after_s({}) is None


@pytest.mark.parametrize(
    ("status", "kind", "code"),
    [
        (429, RateLimited, "rate_limited"),
        (503, ProviderUnavailable, "http_503"),
        (408, ProviderUnavailable, "http_408"),
        (401, AuthenticationFailed, "unauthorized"),
        (403, AuthenticationFailed, "unauthorized"),
        (404, TaskNotFound, "task_gone"),
        (400, ProviderRejected, "http_400"),
    ],
)
def test_http_error_maps_a_status_to_the_provider_errors(
    status: int, kind: type[Exception], code: str
) -> None:
    error = http_error(
        "Svc",
        "get",
        status,
        {"retry-after": "7"},
        message="no",
        auth_hint="check SVC_KEY",
        not_found_ops=("get",),
        not_found_code="task_gone",
    )

    assert type(error) is kind and error.code == code
    assert str(error).startswith(f"Svc get: HTTP {status}")
    if status in (429, 503, 408):
        assert isinstance(error, ProviderUnavailable) and error.retry_after == 7.0
        assert error.retryable
    if kind is AuthenticationFailed:
        assert "check SVC_KEY" in str(error)


def test_http_error_keeps_the_service_code_and_flags_moderation() -> None:
    moderated = http_error("Svc", "create", 400, {}, code="Sensitive", moderated=True)
    missing = http_error("Svc", "create", 404, {}, not_found_ops=("get",))

    assert isinstance(moderated, ModerationBlocked) and moderated.code == "Sensitive"
    assert "HTTP 400 Sensitive" in str(moderated)
    assert type(missing) is ProviderRejected and missing.code == "http_404"


def test_retry_policy_honours_retry_after_then_backs_off_with_a_cap() -> None:
    policy = RetryPolicy(base_s=1.0, max_s=4.0, max_retry_after_s=10.0)
    rng = random.Random(1)

    assert policy.delay(1, RateLimited("x", retry_after=3.0), rng) == 3.0
    assert policy.delay(1, ProviderUnavailable("x", retry_after=60.0), rng) == 10.0
    assert all(0.0 <= policy.delay(9, ProviderUnavailable("x"), rng) <= 4.0 for _ in range(50))


def test_a_secret_never_shows_itself() -> None:
    key = Secret("sk-live-123")

    assert repr(key) == str(key) == "<redacted>" and "sk-live" not in f"{key!r} {key}"
    assert key.reveal() == "sk-live-123"
    assert key.scrub("echo sk-live-123 back") == "echo *** back"


async def _chunks(parts: list[bytes], fail: bool = False) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
    if fail:
        raise ConnectionError("dropped")


def test_write_media_returns_the_checksum_of_what_it_wrote(tmp_path: Path) -> None:
    dest = tmp_path / "clip.part"

    digest = asyncio.run(write_media(_chunks([b"ab", b"cd"]), dest))

    assert dest.read_bytes() == b"abcd" and digest == hashlib.sha256(b"abcd").hexdigest()


def test_write_media_removes_a_half_written_file(tmp_path: Path) -> None:
    dest = tmp_path / "clip.part"

    with pytest.raises(ConnectionError):
        asyncio.run(write_media(_chunks([b"ab"], fail=True), dest))

    assert not dest.exists()


def test_retrying_tries_again_what_is_retryable_and_raises_the_last_word() -> None:
    answers: list[object] = [ProviderUnavailable("busy"), RateLimited("slow", retry_after=2.0), 7]
    waits: list[float] = []

    async def attempt() -> object:
        return answers.pop(0)

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    got = asyncio.run(
        retrying(attempt, policy=RetryPolicy(base_s=0.0), rng=random.Random(0), sleep=sleep)
    )

    assert got == 7 and waits == [0.0, 2.0]


def test_retrying_stops_at_a_refusal_or_when_the_attempts_are_spent() -> None:
    calls = 0

    async def busy() -> ProviderUnavailable:
        nonlocal calls
        calls += 1
        return ProviderUnavailable("busy")

    async def no_wait(seconds: float) -> None:
        return None

    policy = RetryPolicy(attempts=3, base_s=0.0)
    with pytest.raises(ProviderUnavailable):
        asyncio.run(retrying(busy, policy=policy, rng=random.Random(0), sleep=no_wait))
    assert calls == 3
    with pytest.raises(ProviderUnavailable):  # a create retries only a 429
        asyncio.run(
            retrying(
                busy,
                policy=policy,
                rng=random.Random(0),
                sleep=no_wait,
                retry_if=only_rate_limited,
            )
        )
    assert calls == 4
    assert only_rate_limited(RateLimited("x")) and not only_rate_limited(ProviderRejected("x"))


def test_unreachable_says_timeout_or_connection_without_the_exception_text() -> None:
    timed_out = unreachable("Svc", "get", TimeoutError("https://h/?key=s"), timed_out=True)
    dropped = unreachable("Svc", "get", ConnectionError("https://h/?key=s"), timed_out=False)

    assert timed_out.code == "timeout" and dropped.code == "connection"
    assert timed_out.retryable and "key=s" not in f"{timed_out} {dropped}"


def test_a_studio_price_file_is_found_by_its_variable_and_must_say_its_date(
    tmp_path: Path,
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text('{"as_of": "2026-12-01", "models": {}}')
    dateless = tmp_path / "dateless.json"
    dateless.write_text('{"models": {}}')

    key = price_file("MINE_PRICES", {"MINE_PRICES": f" {prices} "})

    assert price_file("MINE_PRICES", {}) is None
    assert key is not None and key[0] == str(prices)
    assert read_price_file(key[0])["as_of"] == "2026-12-01"
    with pytest.raises(PriceFileError, match=r"MINE_PRICES=.*cannot read it"):
        price_file("MINE_PRICES", {"MINE_PRICES": str(tmp_path / "missing.json")})
    with pytest.raises(PriceFileError, match="as_of: required"):
        read_price_file(dateless)
