"""Recoil standard grouping strategies: continuity, solo, oner."""
