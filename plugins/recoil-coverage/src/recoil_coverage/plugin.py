"""Entry point module of recoil-coverage: the hook implementations Recoil loads.

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
            "coverage",
            "each coverage pass (camera side, focus, wildcards) as one multi-shot clip",
            "recoil_coverage.strategy:CoverageStrategy",
        ),
    ]
