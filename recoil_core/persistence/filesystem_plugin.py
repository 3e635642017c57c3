"""Registers the built-in filesystem backend through the same entry point as any plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING

from recoil_core.contracts.backend import BackendContext, BackendSpec
from recoil_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from recoil_core.persistence.protocol import PersistenceBackend


def build_filesystem_backend(ctx: BackendContext) -> PersistenceBackend:
    """The filesystem backend rooted at ``ctx.projects_root``."""
    from recoil_core.persistence.filesystem import FilesystemBackend

    return FilesystemBackend(ctx.projects_root, lock_timeout_s=ctx.lock_timeout_s)


@hookimpl
def recoil_persistence_backends() -> list[BackendSpec]:
    return [
        BackendSpec(
            name="filesystem",
            factory=build_filesystem_backend,
            description="JSON documents under RECOIL_PROJECTS_ROOT, written atomically, "
            "locked per episode",
        )
    ]
