"""Errors of the PostgreSQL backend a user can hit: configuration and reachability."""

from __future__ import annotations

from recoil_core.api import RecoilError, SceneVersionConflictError


class PostgresConfigError(RecoilError):
    """``RECOIL_POSTGRES_DSN`` or ``RECOIL_POSTGRES_SCHEMA`` is not usable as given."""

    exit_code = 2


class PostgresUnavailableError(RecoilError):
    """The PostgreSQL server could not be reached, or the connection broke mid-operation."""

    exit_code = 10


class PostgresRefusedError(RecoilError):
    """PostgreSQL refused a statement (for example text it cannot store); nothing was written."""

    exit_code = 3


class SceneRevisionConflictError(SceneVersionConflictError):
    """The active version is still the expected one, but another writer rewrote it since
    this backend object last read or wrote it; nothing was written."""

    def __init__(self, scene_id: str, version: int) -> None:
        super().__init__(scene_id, version, version)
        self.args = (
            f"scene {scene_id}: v{version} was rewritten by another writer since this "
            "process read it; nothing was written. Run again to pick up the new document.",
        )
