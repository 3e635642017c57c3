"""Digests the kernel relies on: shot-set hashes and stable JSON digests."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable
from typing import Any

WILDCARD = "wildcard"
"""The shot id a coverage segment uses for a moment that is no shot of the plan."""


def shotset_hash(shot_ids: Iterable[str]) -> str:
    """Digest of the sorted set of real shot ids: order-invariant, wildcards excluded."""
    if isinstance(shot_ids, tuple):
        return _tuple_hash(shot_ids)  # identities hash the same tuple at every save
    real = sorted({sid for sid in shot_ids if sid and sid != WILDCARD})
    return hashlib.sha256("\n".join(real).encode("utf-8")).hexdigest()[:16]


@functools.lru_cache(maxsize=1024)  # the identities of the takes in flight
def _tuple_hash(shot_ids: tuple[str, ...]) -> str:
    return shotset_hash(list(shot_ids))


def stable_digest(value: Any) -> str:
    """sha256 of the canonical JSON form of ``value`` (sorted keys, no whitespace)."""
    data = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()
