"""Entry point module of recoil-r2v-multi: the hook implementations Recoil loads."""

from __future__ import annotations
