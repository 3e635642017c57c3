"""Settings read once from the environment (and CLI options) into one typed object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import attrs

DEFAULT_PROJECTS_ROOT = "recoil-projects"


def _split(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(part.strip() for part in value.split(",") if part.strip())


@attrs.frozen
class PluginSelection:
    """Which plugins to load. ``load_only=None`` loads all; an empty tuple loads none."""

    load_only: tuple[str, ...] | None = None
    disabled: tuple[str, ...] = ()
    strict: bool = False

    def wants(self, name: str) -> bool:
        if name in self.disabled:
            return False
        return self.load_only is None or name in self.load_only


@attrs.frozen
class Settings:
    """Everything Recoil reads from its environment, read once at the edge."""

    projects_root: Path = Path(DEFAULT_PROJECTS_ROOT)
    backend: str = "filesystem"
    provider: str | None = None
    plugins: PluginSelection = PluginSelection()
    env: Mapping[str, str] = attrs.field(factory=dict, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        return cls(
            projects_root=Path(env.get("RECOIL_PROJECTS_ROOT") or DEFAULT_PROJECTS_ROOT),
            backend=env.get("RECOIL_BACKEND") or "filesystem",
            provider=env.get("RECOIL_PROVIDER") or None,
            plugins=PluginSelection(
                load_only=_split(env.get("RECOIL_LOAD_PLUGINS")),
                disabled=_split(env.get("RECOIL_DISABLE_PLUGINS")) or (),
                strict=env.get("RECOIL_STRICT_PLUGINS", "") not in ("", "0", "false", "no"),
            ),
            env=env,
        )
