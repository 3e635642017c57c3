"""Entry point module of recoil-plugins-video: the hook implementations Recoil loads."""

from __future__ import annotations
