"""Entry point module of recoil-animatic: the hook implementations Recoil loads."""

from __future__ import annotations
