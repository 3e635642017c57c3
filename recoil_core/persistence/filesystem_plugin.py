"""Registers the built-in filesystem backend through the same entry point as any plugin."""

from __future__ import annotations
