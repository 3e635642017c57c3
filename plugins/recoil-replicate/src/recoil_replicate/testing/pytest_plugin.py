"""The pytest fixture recoil-replicate provides: ``fake_replicate``, a running fake
Replicate predictions API.

Loaded by pytest through this distribution's ``pytest11`` entry point.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from recoil_replicate.testing.fake_replicate import FakeReplicateServer

__all__ = ["fake_replicate"]


@pytest.fixture
def fake_replicate() -> Iterator[FakeReplicateServer]:
    """A :class:`~recoil_replicate.testing.fake_replicate.FakeReplicateServer` listening on
    127.0.0.1 for the test, closed after it. Point ``REPLICATE_API_BASE`` at
    ``fake_replicate.base_url`` and ``REPLICATE_API_TOKEN`` at ``fake_replicate.api_token``;
    ``set()``, ``inject()`` and ``add_version()`` change how it answers, ``stats()`` and
    ``prediction()`` show what it did."""
    server = FakeReplicateServer().start()
    try:
        yield server
    finally:
        server.close()
