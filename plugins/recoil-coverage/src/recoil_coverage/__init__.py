"""Recoil coverage grouping strategy (passes, wildcard segments)."""
