"""The ``recoil`` command line. ``main`` is the console-script entry point.

Each command has its own module, imported only when that command runs (``_app.COMMANDS``);
``progress`` draws a run's progress events.
"""

from __future__ import annotations

from recoil_core.cli._app import app

__all__ = ["app", "main"]


def main() -> None:
    app()
