"""Entry point module of recoil-seeddance: the hook implementations Recoil loads."""

from __future__ import annotations
