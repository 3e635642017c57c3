"""Recoil coverage grouping strategy (passes, wildcard segments)."""

from recoil_coverage.strategy import CoverageStrategy

__all__ = ["CoverageStrategy"]
