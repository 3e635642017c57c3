"""The former name of :mod:`recoil_core.cli.group`, kept for code that imports it."""

from recoil_core.cli._app import parse_options
from recoil_core.cli.group import UnitRow, assemble_plan, unit_rows

__all__ = ["UnitRow", "assemble_plan", "parse_options", "unit_rows"]
