"""Settings read once from the environment (and CLI options) into one typed object."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import attrs

DEFAULT_PROJECTS_ROOT = "recoil-projects"
_TRUE_OFF = ("", "0", "false", "no")


def _split(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(part.strip() for part in value.split(",") if part.strip())


def normalize_distribution(name: str) -> str:
    """A distribution name as pip compares them: ``Recoil_Plugins.Grouping`` ->
    ``recoil-plugins-grouping``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_preferences(items: Iterable[str], source: str) -> tuple[tuple[str, str], ...]:
    """Pairs of ``NAME=DISTRIBUTION`` items: ``["continuity=recoil-plugins-grouping"]`` ->
    ``(("continuity", "recoil-plugins-grouping"),)``.

    A name is a registered name (``continuity``) or ``kind:name`` (``grouping:continuity``)
    as ``recoil plugins list`` shows it. Raises ``ValueError`` naming ``source`` for an
    entry that is not ``NAME=DISTRIBUTION``.
    """
    pairs: list[tuple[str, str]] = []
    for item in items:
        name, sep, owner = (part.strip() for part in item.partition("="))
        if not sep or not name or not owner:
            raise ValueError(
                f"{source}: {item!r} is not NAME=DISTRIBUTION "
                "(e.g. continuity=recoil-plugins-grouping)"
            )
        pairs.append((name, owner))
    return tuple(pairs)


@attrs.frozen
class PluginSelection:
    """Which plugins to load, and who owns a name two distributions register.

    ``load_only=None`` loads all; an empty tuple loads none. ``prefer`` pairs a registered
    name (``continuity`` or ``grouping:continuity``) with the distribution (or plugin)
    that owns it; a later pair for the same name wins.
    """

    load_only: tuple[str, ...] | None = None
    disabled: tuple[str, ...] = ()
    strict: bool = False
    prefer: tuple[tuple[str, str], ...] = ()

    def wants(self, name: str) -> bool:
        if name in self.disabled:
            return False
        return self.load_only is None or name in self.load_only

    def preferred(self, prefix: str, name: str) -> str | None:
        """The owner chosen for ``prefix:name`` (a ``kind:name`` pair beats a bare name)."""
        chosen = dict(self.prefer)
        return chosen.get(f"{prefix}:{name}") or chosen.get(name)


@attrs.frozen
class Settings:
    """Everything Recoil reads from its environment, read once at the edge."""

    projects_root: Path = Path(DEFAULT_PROJECTS_ROOT)
    backend: str = "filesystem"
    provider: str | None = None
    plugins: PluginSelection = PluginSelection()
    debug: bool = False
    """Show tracebacks of errors (``RECOIL_DEBUG=1`` / ``--debug``)."""
    env: Mapping[str, str] = attrs.field(factory=dict, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings; raises ``ValueError`` for a malformed ``RECOIL_PREFER``."""
        env = dict(os.environ if env is None else env)
        return cls(
            projects_root=Path(env.get("RECOIL_PROJECTS_ROOT") or DEFAULT_PROJECTS_ROOT),
            backend=env.get("RECOIL_BACKEND") or "filesystem",
            provider=env.get("RECOIL_PROVIDER") or None,
            plugins=PluginSelection(
                load_only=_split(env.get("RECOIL_LOAD_PLUGINS")),
                disabled=_split(env.get("RECOIL_DISABLE_PLUGINS")) or (),
                strict=env.get("RECOIL_STRICT_PLUGINS", "").lower() not in _TRUE_OFF,
                prefer=parse_preferences(_split(env.get("RECOIL_PREFER")) or (), "RECOIL_PREFER"),
            ),
            debug=env.get("RECOIL_DEBUG", "").lower() not in _TRUE_OFF,
            env=env,
        )
