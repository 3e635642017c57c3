"""Recoil kernel: hookspecs, plugin machinery, domain model, runner, budget, persistence.

Plugins use the kernel through :mod:`recoil_core.api` (every contract, value type, error,
context and helper a plugin needs, with ``__all__``; reference: docs/api.md) and test with
:mod:`recoil_core.testing`. ``hookimpl`` is also importable from here. Every other module
is private and may change without notice.

Both names load on first use: importing a kernel module (``recoil --version``, a
plugin's ``from recoil_core.api import ...``) does not import pluggy or read the
distribution metadata.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recoil_core._version import __version__ as __version__
    from recoil_core.hookspecs import hookimpl as hookimpl

__all__ = ["__version__", "hookimpl"]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from recoil_core._version import kernel_version

        return kernel_version()
    if name == "hookimpl":
        from recoil_core.hookspecs import hookimpl

        return hookimpl
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
