"""The cyclic garbage collector paused around work that builds a large, cycle-free heap."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the block, back on after it if it was on.

    For work whose objects stay alive to its end and make no cycles to find (a plan being
    read, a status report, grouping's units and estimates): each full collection their
    growing heap triggers walks all of it again, which makes the work superlinear in its
    size. Return the work's result out of the block, so what it dropped is freed by
    reference counts before the collector is back."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
