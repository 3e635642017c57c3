"""The ``recoil`` command line. ``main`` is the console-script entry point.

Each command has its own module, imported only when that command runs (``_app.COMMANDS``);
``progress`` draws a run's progress events. ``recoil plugins list`` prints its stored
output while nothing it came from has changed (``_listing_cache``), before the CLI is
even imported.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recoil_core.cli._app import app as app

__all__ = ["app", "main"]


def main() -> None:
    from recoil_core.cli import _listing_cache

    if _listing_cache.serve(sys.argv[1:]):
        return
    from recoil_core.cli._app import app

    app()


def __getattr__(name: str) -> Any:
    if name == "app":
        from recoil_core.cli._app import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
