"""Entry point module of recoil-i2v: the hook implementations Recoil loads."""

from __future__ import annotations
