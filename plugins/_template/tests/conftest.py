"""Register this distribution's plugin in the ``recoil_harness`` fixture of recoil-core."""

from __future__ import annotations

import pytest
from recoil_myplugin import plugin


@pytest.fixture
def recoil_plugins() -> list[tuple[str, object]]:
    # Not the entry point's name: an installed copy (not loaded by the harness) keeps its own.
    return [("myplugin-under-test", plugin)]
