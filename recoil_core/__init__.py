"""Recoil kernel: hookspecs, plugin machinery, domain model, runner, budget, persistence.

Plugins use the kernel through :mod:`recoil_core.api` (every contract, value type, error,
context and helper a plugin needs, with ``__all__``; reference: docs/api.md) and test with
:mod:`recoil_core.testing`. ``hookimpl`` is also importable from here. Every other module
is private and may change without notice.
"""

from recoil_core._version import __version__
from recoil_core.hookspecs import hookimpl

__all__ = ["__version__", "hookimpl"]
