"""The kernel's version, read from the installed distribution metadata when first asked
for (``recoil_core.__version__``, :func:`kernel_version`), not at import."""

from __future__ import annotations

from functools import cache


@cache
def kernel_version() -> str:
    """The installed recoil-core's version (``0.0.0`` in a source tree not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("recoil-core")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0"


def __getattr__(name: str) -> str:
    if name == "__version__":
        return kernel_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
