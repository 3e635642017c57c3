"""Entry point module of recoil-plugins-grouping: the hook implementations Recoil loads."""

from __future__ import annotations
