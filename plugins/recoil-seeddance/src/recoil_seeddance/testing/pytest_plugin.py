"""The pytest fixture recoil-seeddance provides: ``fake_ark``, a running fake Ark task API.

Loaded by pytest through this distribution's ``pytest11`` entry point. Examples:
docs/testing-plugins.md.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from recoil_seeddance.testing.fake_ark import FakeArkServer

__all__ = ["fake_ark"]


@pytest.fixture
def fake_ark() -> Iterator[FakeArkServer]:
    """A :class:`~recoil_seeddance.testing.fake_ark.FakeArkServer` listening on 127.0.0.1
    for the test, closed after it. Point ``ARK_BASE_URL`` at ``fake_ark.base_url`` and
    ``ARK_API_KEY`` at ``fake_ark.api_key``; ``set()`` and ``inject()`` change how it
    answers, ``stats()`` and ``task()`` show what it received."""
    server = FakeArkServer().start()
    try:
        yield server
    finally:
        server.close()
