"""The episode runner. ``episode.py`` wires one run; ``options``, ``planning``,
``reconcile``, ``preflight``, ``dispatch`` (the take executor), ``pool`` (its workers),
``recovery``, ``dry_run``, ``accounting`` and ``report`` each hold one step; ``queries``
is the read side (``recoil status``, ``recoil budget``).

``EpisodeRunner``, ``RunOptions`` and ``RunReport`` are imported from their modules on
first use: the read side (``recoil status``) imports this package without the episode
runner, dispatch and asyncio (about 50 ms of start-up)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recoil_core.runner.episode import EpisodeRunner, RunOptions, RunReport

__all__ = ["EpisodeRunner", "RunOptions", "RunReport"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        value = getattr(importlib.import_module("recoil_core.runner.episode"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
