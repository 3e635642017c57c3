"""The kernel's version, read from the installed distribution metadata."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("recoil-core")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
