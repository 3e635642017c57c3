"""The persistence backend registration: how a backend plugin is named and built.

The backend's own contract (what it stores and how writes are made atomic) is
:class:`recoil_core.persistence.protocol.PersistenceBackend`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from recoil_core.persistence.protocol import PersistenceBackend


@attrs.frozen
class BackendContext:
    """What a persistence backend factory receives."""

    projects_root: Path
    """``RECOIL_PROJECTS_ROOT``: where projects (and, for the built-in backends, renders) live."""
    env: Mapping[str, str] = attrs.field(factory=dict)
    """The process environment, for a backend's own settings (a DSN, a schema)."""
    lock_timeout_s: float | None = 0.0
    """Seconds to wait for an episode lock: 0 fails at once, ``None`` waits forever."""


@attrs.frozen
class BackendSpec:
    """A persistence backend a plugin offers, built lazily by ``factory``."""

    name: str
    factory: Callable[[BackendContext], PersistenceBackend]
    description: str = ""
