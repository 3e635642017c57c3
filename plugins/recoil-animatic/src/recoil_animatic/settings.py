"""The animatic provider's settings, read without loading the renderer."""

from __future__ import annotations

from collections.abc import Mapping

CACHE_ENV = "RECOIL_ANIMATIC_CACHE"
CACHE_MAX_ENV = "RECOIL_ANIMATIC_CACHE_MB"
DEFAULT_CACHE_MAX_MB = 1024
"""Media kept in the cache (MiB) before the least recently used clips are removed."""


def cache_limit_bytes(env: Mapping[str, str]) -> int:
    """``$RECOIL_ANIMATIC_CACHE_MB`` (MiB, default 1024) as bytes; ``0`` keeps everything.

    Raises ``ValueError`` naming the setting when it is not a non-negative number.
    """
    raw = env.get(CACHE_MAX_ENV, "").strip()
    if not raw:
        return DEFAULT_CACHE_MAX_MB * 1024 * 1024
    try:
        megabytes = float(raw)
    except ValueError:
        raise ValueError(
            f"{CACHE_MAX_ENV}={raw!r} is not a number of MiB (0 keeps every clip)"
        ) from None
    if megabytes < 0 or megabytes != megabytes:
        raise ValueError(f"{CACHE_MAX_ENV}={raw!r}: the cache size must be 0 MiB or more")
    return int(megabytes * 1024 * 1024)
