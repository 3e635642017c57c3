"""Moved to :mod:`recoil_seeddance.testing.fake_ark` (the fake belongs to the provider it
fakes); this name is kept for code written against it."""

from recoil_seeddance.testing.fake_ark import *  # noqa: F403
from recoil_seeddance.testing.fake_ark import __all__ as __all__
