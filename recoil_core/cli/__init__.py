"""The ``recoil`` command line. ``main`` is the console-script entry point."""

from __future__ import annotations

from recoil_core.cli import group_cmd, plan_cmd, plugins_cmd, run_cmd
from recoil_core.cli._app import app

__all__ = ["app", "group_cmd", "main", "plan_cmd", "plugins_cmd", "run_cmd"]


def main() -> None:
    app()
