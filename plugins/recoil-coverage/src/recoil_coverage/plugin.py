"""Entry point module of recoil-coverage: the hook implementations Recoil loads."""

from __future__ import annotations
