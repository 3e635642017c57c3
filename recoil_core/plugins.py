"""Plugin discovery and loading: entry points -> stevedore -> one pluggy PluginManager.

A plugin that is incompatible with this kernel, disabled, fails to import, fails hook
validation, implements an unknown hook, or registers something invalid is recorded and
skipped; it never takes the others down. Nothing here runs at import time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from importlib.metadata import Distribution, EntryPoint, entry_points
from typing import Any, Literal

import attrs
import pluggy

from recoil_core import hookspecs
from recoil_core._version import __version__ as KERNEL_VERSION
from recoil_core.settings import PluginSelection

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "recoil.plugins"
KERNEL_DISTRIBUTION = "recoil-core"

Status = Literal["ok", "failed", "disabled", "incompatible"]


@attrs.define
class PluginRecord:
    """What ``recoil plugins list`` shows for one plugin."""

    name: str
    distribution: str | None
    version: str | None
    status: Status = "ok"
    provides: list[str] = attrs.field(factory=list)
    hooks: list[str] = attrs.field(factory=list)
    error: str | None = None
    requires_core: str | None = None
    module: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def _normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def core_requirement(dist: Distribution | None) -> str | None:
    """The ``recoil-core`` version range a distribution declares, e.g. ``>=0.1,<0.2``."""
    if dist is None:
        return None
    from packaging.requirements import InvalidRequirement, Requirement

    for raw in dist.requires or ():
        try:
            req = Requirement(raw)
        except InvalidRequirement:
            continue
        if _normalize(req.name) == KERNEL_DISTRIBUTION and not req.marker:
            return str(req.specifier) or None
    return None


def is_compatible(spec: str | None, kernel_version: str = KERNEL_VERSION) -> bool:
    """Whether ``kernel_version`` satisfies the range ``spec`` (no range: compatible)."""
    if not spec:
        return True
    from packaging.specifiers import SpecifierSet

    return SpecifierSet(spec).contains(kernel_version, prereleases=True)


@attrs.define
class PluginHost:
    """The loaded plugin manager and a record per discovered plugin."""

    pm: pluggy.PluginManager
    records: dict[str, PluginRecord]

    @property
    def failures(self) -> list[PluginRecord]:
        return [r for r in self.records.values() if r.status == "failed"]

    def sorted_records(self) -> list[PluginRecord]:
        return [self.records[name] for name in sorted(self.records)]

    def fail(self, name: str, error: str) -> None:
        """Mark a registered plugin as failed and unregister it."""
        record = self.records[name]
        record.status = "failed"
        record.error = error
        record.provides = []
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin=plugin, name=name)


def new_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


def _discover() -> list[EntryPoint]:
    return sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def _format_exc(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _unknown_hooks(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    callers = pm.get_hookcallers(plugin) or []
    return sorted(caller.name for caller in callers if not caller.has_spec())


def _register(host: PluginHost, name: str, plugin: object) -> None:
    record = host.records[name]
    try:
        host.pm.register(plugin, name=name)
    except Exception as exc:  # pluggy.PluginValidationError and friends
        record.status = "failed"
        record.error = _format_exc(exc)
        return
    unknown = _unknown_hooks(host.pm, plugin)
    if unknown:
        host.fail(name, f"implements hook(s) no spec declares: {', '.join(unknown)}")
        return
    record.hooks = sorted(
        caller.name for caller in (host.pm.get_hookcallers(plugin) or []) if caller.has_spec()
    )


def load_plugins(
    selection: PluginSelection = PluginSelection(),
    *,
    extra: Sequence[tuple[str, object]] = (),
    include_entry_points: bool = True,
) -> PluginHost:
    """Discover, filter, load and register plugins; never raises for a bad plugin.

    ``extra`` registers in-process plugins (tests, embedding applications) next to the
    entry-point ones, under the given names, subject to the same validation.
    """
    host = PluginHost(pm=new_plugin_manager(), records={})
    to_load: dict[str, EntryPoint] = {}
    for ep in _discover() if include_entry_points else []:
        dist = ep.dist
        record = PluginRecord(
            name=ep.name,
            distribution=dist.metadata["Name"] if dist is not None else None,
            version=dist.version if dist is not None else None,
            module=ep.value,
        )
        if ep.name in host.records:
            other = host.records[ep.name]
            record.status = "failed"
            record.error = (
                f"plugin name {ep.name!r} is already used by {other.distribution} {other.version}"
            )
            host.records[f"{ep.name} ({record.distribution})"] = record
            continue
        host.records[ep.name] = record
        record.requires_core = core_requirement(dist)
        if record.requires_core is not None:
            try:
                compatible = is_compatible(record.requires_core)
            except Exception as exc:
                record.status = "failed"
                record.error = f"unreadable recoil-core range {record.requires_core!r}: {exc}"
                continue
            if not compatible:
                record.status = "incompatible"
                record.error = (
                    f"requires recoil-core {record.requires_core}, running {KERNEL_VERSION}"
                )
                continue
        if not selection.wants(ep.name):
            record.status = "disabled"
            continue
        to_load[ep.name] = ep

    loaded, errors = _load_entry_points(list(to_load.values()))
    for name in to_load:
        if name in errors:
            record = host.records[name]
            record.status = "failed"
            record.error = _format_exc(errors[name])
            continue
        _register(host, name, loaded[name])

    for name, plugin in extra:
        host.records[name] = PluginRecord(
            name=name, distribution=None, version=None, module=repr(plugin)
        )
        if not selection.wants(name) and include_entry_points:
            host.records[name].status = "disabled"
            continue
        _register(host, name, plugin)
    return host


def _load_entry_points(
    eps: Sequence[EntryPoint],
) -> tuple[dict[str, object], dict[str, BaseException]]:
    """Load entry points through stevedore; return plugins and failures by name."""
    if not eps:
        return {}, {}
    from stevedore import NamedExtensionManager

    errors: dict[str, BaseException] = {}

    def on_failure(_manager: Any, failed: EntryPoint, exc: BaseException) -> None:
        errors[failed.name] = exc
        log.debug("plugin %s failed to load", failed.name, exc_info=exc)

    wanted = {ep.name: ep.value for ep in eps}
    manager: NamedExtensionManager[Any] = NamedExtensionManager(
        namespace=ENTRY_POINT_GROUP,
        names=list(wanted),
        on_load_failure_callback=on_failure,
    )
    loaded: dict[str, object] = {}
    for ext in manager.extensions:
        if wanted.get(ext.name) == ext.entry_point.value:
            loaded[ext.name] = ext.plugin
    for name in wanted:
        if name not in loaded and name not in errors:
            errors[name] = ImportError("entry point could not be loaded")
    return loaded, errors


def iter_records(host: PluginHost, hook: str | None = None) -> Iterable[PluginRecord]:
    for record in host.sorted_records():
        if hook is None or hook in record.hooks:
            yield record
