"""The pytest fixture recoil-fal provides: ``fake_fal``, a running fake fal queue API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from recoil_fal.testing.fake_fal import FakeFalServer

__all__ = ["fake_fal"]


@pytest.fixture
def fake_fal() -> Iterator[FakeFalServer]:
    """A :class:`~recoil_fal.testing.fake_fal.FakeFalServer` on 127.0.0.1 for the test.
    Point ``FAL_QUEUE_URL`` and ``FAL_API_URL`` at ``fake_fal.base_url`` and ``FAL_KEY`` at
    ``fake_fal.api_key``; ``set()`` and ``inject()`` change how it answers, ``billed_usd()``
    and ``creates_total`` show what it did."""
    with FakeFalServer() as server:
        yield server
