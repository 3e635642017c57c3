"""Refusing credentials in provenance: keys named like one, and bearer-token values."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from recoil_core.errors import RecoilError

_SECRET_KEY = re.compile(
    r"(^|_)(authorization|proxy_authorization|auth|api_?key|access_?key|secret|secret_?key"
    r"|client_secret|password|passwd|token|access_token|refresh_token|bearer|cookie"
    r"|credentials?)($|_)"
)
_BEARER_VALUE = re.compile(r"^\s*bearer\s+\S+", re.IGNORECASE)


class SecretInProvenanceError(RecoilError, ValueError):
    """Provenance about to be written holds something that looks like a credential."""

    def __init__(self, name: str, locations: list[str]) -> None:
        self.locations = locations
        super().__init__(
            f"render {name}: refused to write the sidecar, provenance holds secret-looking "
            f"field(s) {', '.join(locations)}; remove credentials from the provenance "
            "(the values were not written anywhere)"
        )


_NON_WORD = re.compile(r"[^a-z0-9]+")


@functools.lru_cache(maxsize=4096)
def _is_secret_key(key: str) -> bool:
    normalized = _NON_WORD.sub("_", key.lower()).strip("_")
    return bool(normalized) and _SECRET_KEY.search(normalized) is not None


def _is_bearer(value: object) -> bool:
    return isinstance(value, str) and _BEARER_VALUE.match(value) is not None


def _path(parts: tuple[str | int, ...]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _scan(value: object, where: tuple[str | int, ...], found: list[str]) -> None:
    if isinstance(value, (dict, Mapping)):  # dict first: it skips the ABC check
        for key, item in value.items():
            here = (*where, str(key))
            if _is_secret_key(str(key)) or _is_bearer(item):
                found.append(_path(here))
            if isinstance(item, (dict, list, tuple, Mapping)):
                _scan(item, here, found)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            if _is_bearer(item):
                found.append(_path((*where, index)))
            if isinstance(item, (dict, list, tuple, Mapping)):
                _scan(item, (*where, index), found)


def find_secret_keys(provenance: Mapping[str, Any]) -> list[str]:
    """Where ``provenance`` has a key named like a credential, or a bearer-token value."""
    found: list[str] = []
    _scan(provenance, (), found)
    return found
