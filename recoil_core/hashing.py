"""Digests the kernel relies on: shot-set hashes and stable JSON digests."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

WILDCARD = "wildcard"


def shotset_hash(shot_ids: Iterable[str]) -> str:
    """Digest of the sorted set of real shot ids: order-invariant, wildcards excluded."""
    real = sorted({sid for sid in shot_ids if sid and sid != WILDCARD})
    return hashlib.sha256("\n".join(real).encode("utf-8")).hexdigest()[:16]


def stable_digest(value: Any) -> str:
    """sha256 of the canonical JSON form of ``value`` (sorted keys, no whitespace)."""
    data = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()
