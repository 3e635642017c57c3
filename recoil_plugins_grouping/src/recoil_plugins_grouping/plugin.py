"""Entry point module of recoil-plugins-grouping: the hook implementations Recoil loads.

Registrations are lazy: the implementation modules are imported on first use, so
``recoil plugins list`` and ``recoil --help`` stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recoil_core.api import LazyStrategy, hookimpl

if TYPE_CHECKING:  # the protocol is for type checkers; the kernel checks at registration
    from recoil_core.api import GroupingStrategy


@hookimpl
def recoil_grouping_strategies() -> list[GroupingStrategy]:
    return [
        LazyStrategy(
            "continuity",
            "consecutive same-location shots of a sequence as one multi-shot clip",
            "recoil_plugins_grouping.continuity:ContinuityStrategy",
        ),
        LazyStrategy(
            "solo",
            "one video_i2v clip per shot",
            "recoil_plugins_grouping.solo:SoloStrategy",
        ),
        LazyStrategy(
            "oner",
            "each sequence as one continuous clip",
            "recoil_plugins_grouping.oner:OnerStrategy",
        ),
    ]
