"""Recoil kernel: hookspecs, plugin machinery, domain model, runner, budget, persistence.

The public surface plugin authors need is re-exported here; everything else lives in
focused modules (``recoil_core.model``, ``recoil_core.interfaces``...).
"""

from recoil_core._version import __version__
from recoil_core.hookspecs import hookimpl

__all__ = ["__version__", "hookimpl"]
