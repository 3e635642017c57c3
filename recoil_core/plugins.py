"""Plugin discovery and loading: entry points -> stevedore -> one pluggy PluginManager.

A plugin that is incompatible with this kernel, disabled, fails to import, fails hook
validation, implements an unknown hook, or registers something invalid is recorded and
skipped; it never takes the others down. Nothing here runs at import time.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from importlib.metadata import Distribution, EntryPoint, entry_points
from types import ModuleType
from typing import Any, Literal

import attrs
import pluggy

from recoil_core import hookspecs
from recoil_core._version import kernel_version as running_kernel_version
from recoil_core.settings import PluginSelection, normalize_distribution

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "recoil.plugins"
KERNEL_DISTRIBUTION = "recoil-core"

Status = Literal["ok", "failed", "disabled", "incompatible", "conflict"]
DEFAULT_SELECTION = PluginSelection()
"""Load every discovered plugin, not strict."""


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
    conflicts: list[dict[str, Any]] = attrs.field(factory=list)
    """Names it registers that another plugin registers too (see ``Contest.to_dict``)."""

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


_REQUIREMENT = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*"
    r"\(?(?P<spec>[^;()@]*?)\)?\s*(?P<marker>;.*)?$"
)


def core_requirement(requires: Iterable[str] | None) -> str | None:
    """The ``recoil-core`` version range among ``Requires-Dist`` lines, e.g. ``>=0.1,<0.2``.

    A small parser on purpose: ``packaging.requirements`` costs more start-up time than
    the rest of ``recoil plugins list``'s own work. Requirements with a marker are ignored.
    """
    for raw in requires or ():
        match = _REQUIREMENT.match(raw)
        if match is None or match["marker"]:
            continue
        if normalize_distribution(match["name"]) != KERNEL_DISTRIBUTION:
            continue
        return canonical_range(match["spec"])
    return None


_CLAUSE_ORDER = {"~=": 0, "==": 0, "===": 0, ">=": 1, ">": 1, "!=": 2, "<=": 3, "<": 3}


def canonical_range(spec: str) -> str | None:
    """A version range as people write it, lower bound first: ``<0.3, >=0.2`` (the order
    build tools write ``Requires-Dist`` in) becomes ``>=0.2,<0.3``. None if empty."""
    clauses = [clause.strip() for clause in spec.replace(" ", "").split(",") if clause.strip()]

    def rank(clause: str) -> int:
        operator = re.match(r"[~=!<>]*", clause)
        return _CLAUSE_ORDER.get(operator[0] if operator else "", 0)

    return ",".join(sorted(clauses, key=rank)) or None


_SIMPLE_CLAUSE = re.compile(r"^(>=|<=|==|!=|<|>)(\d+(?:\.\d+)*)$")
_COMPARE: dict[str, Callable[[tuple[int, ...], tuple[int, ...]], bool]] = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
}


def _release(version: str, length: int) -> tuple[int, ...]:
    parts = tuple(int(p) for p in version.split("."))
    return parts + (0,) * (length - len(parts))


def _simple_contains(spec: str, kernel_version: str) -> bool | None:
    """Decide plain numeric ranges (``>=0.1,<0.2``) without importing packaging; else None."""
    if not re.fullmatch(r"\d+(?:\.\d+)*", kernel_version):
        return None
    result = True
    for raw in spec.split(","):
        clause = _SIMPLE_CLAUSE.match(raw.strip())
        if clause is None:
            return None
        op, bound = clause[1], clause[2]
        width = max(len(bound.split(".")), len(kernel_version.split(".")))
        result = result and _COMPARE[op](_release(kernel_version, width), _release(bound, width))
    return result


def is_compatible(spec: str | None, kernel_version: str | None = None) -> bool:
    """Whether ``kernel_version`` (default: this kernel's) satisfies the range ``spec``
    (no range: compatible)."""
    if not spec:
        return True
    if kernel_version is None:
        kernel_version = running_kernel_version()
    simple = _simple_contains(spec, kernel_version)
    if simple is not None:
        return simple
    from packaging.specifiers import SpecifierSet

    return SpecifierSet(spec).contains(kernel_version, prereleases=True)


@attrs.define
class PluginHost:
    """The loaded plugin manager and a record per discovered plugin."""

    pm: pluggy.PluginManager
    records: dict[str, PluginRecord]
    metadata_files: list[str] = attrs.field(factory=list)
    """The metadata file read for each discovered plugin's distribution (what
    ``recoil plugins list`` shows of its name, version and kernel range comes from it)."""

    @property
    def failures(self) -> list[PluginRecord]:
        """Plugins that were wanted but could not be loaded or registered."""
        return [r for r in self.sorted_records() if r.status == "failed"]

    @property
    def problems(self) -> list[PluginRecord]:
        """Failed plugins, plugins whose recoil-core range excludes this kernel, and plugins
        registering a name another one registers too, with no owner chosen."""
        return [
            r for r in self.sorted_records() if r.status in ("failed", "incompatible", "conflict")
        ]

    def sorted_records(self) -> list[PluginRecord]:
        return [self.records[name] for name in sorted(self.records)]

    def fail(self, name: str, error: str) -> None:
        """Mark a registered plugin as failed and unregister it."""
        record = self.records[name]
        record.status = "failed"
        record.error = error
        record.provides = []
        record.conflicts = []
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin=plugin, name=name)


def new_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


def _discover() -> list[EntryPoint]:
    return sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def _headers(dist: Distribution) -> dict[str, list[str]]:
    """The header fields of ``dist``'s metadata, by lower-case name (``name``, ``version``
    and ``requires-dist`` as ``dist.metadata`` gives them; folded values are not
    dedented). Read by hand: ``dist.metadata`` runs the email parser over the whole file,
    long description included, for the three fields used here."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or dist.read_text("") or ""
    fields: dict[str, list[str]] = {}
    values: list[str] | None = None
    for line in text.splitlines():
        if not line:  # the headers end at the first empty line
            break
        if line[0] in " \t":  # a folded header goes on
            if values:
                values[-1] += "\n" + line
            continue
        name, sep, value = line.partition(":")
        values = fields.setdefault(name.strip().lower(), []) if sep else None
        if values is not None:
            values.append(value.lstrip(" \t"))
    return fields


def _first(fields: dict[str, list[str]] | None, name: str) -> str | None:
    found = fields.get(name) if fields is not None else None
    return found[0] if found else None


def _format_exc(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _unknown_hooks(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """Hooks no spec declares, except those marked ``optionalhook`` (as pluggy's
    ``check_pending``)."""
    unknown = set()
    for caller in pm.get_hookcallers(plugin) or []:
        if caller.has_spec():
            continue
        impls = [impl for impl in caller.get_hookimpls() if impl.plugin is plugin]
        if any(not impl.optionalhook for impl in impls):
            unknown.add(caller.name)
    return sorted(unknown)


def _wrappers(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """Hooks the plugin implements as a (hook)wrapper: the registry calls each
    implementation on its own, so a wrapper would never wrap anything."""
    return sorted(
        caller.name
        for caller in pm.get_hookcallers(plugin) or []
        for impl in caller.get_hookimpls()
        if impl.plugin is plugin and (impl.wrapper or impl.hookwrapper)
    )


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
    wrappers = _wrappers(host.pm, plugin)
    if wrappers:
        host.fail(
            name,
            f"implements {', '.join(wrappers)} as a hook wrapper; Recoil calls every "
            "implementation on its own, so implement it as a plain @hookimpl",
        )
        return
    record.hooks = sorted(
        caller.name for caller in (host.pm.get_hookcallers(plugin) or []) if caller.has_spec()
    )


def _key(ep: EntryPoint, distribution: str | None, shared: set[str]) -> str:
    """The plugin manager's name for ``ep``: its entry-point name, qualified with its
    distribution when another distribution uses the same entry-point name."""
    return f"{ep.name} ({distribution or 'unknown distribution'})" if ep.name in shared else ep.name


def load_plugins(
    selection: PluginSelection = DEFAULT_SELECTION,
    *,
    extra: Sequence[tuple[str, object]] = (),
    include_entry_points: bool = True,
) -> PluginHost:
    """Discover, filter, load and register plugins; never raises for a bad plugin.

    Two distributions declaring the same entry-point name both load, each registered as
    ``NAME (DISTRIBUTION)``: neither replaces the other, and what they register is
    subject to the registry's name ownership like any other plugin's.

    ``extra`` registers in-process plugins (tests, embedding applications) next to the
    entry-point ones, under the given names, subject to the same validation.
    """
    host = PluginHost(pm=new_plugin_manager(), records={})
    discovered = _discover() if include_entry_points else []
    counts = Counter(ep.name for ep in discovered)
    shared = {name for name, count in counts.items() if count > 1}
    to_load: dict[str, EntryPoint] = {}
    for ep in discovered:
        meta = _headers(ep.dist) if ep.dist is not None else None
        folder = getattr(ep.dist, "_path", None)  # a PathDistribution's .dist-info folder
        if folder is not None:
            host.metadata_files += [
                os.path.join(folder, "METADATA"),
                os.path.join(folder, "PKG-INFO"),
            ]
        record = PluginRecord(
            name=ep.name,
            distribution=_first(meta, "name"),
            version=_first(meta, "version"),
            module=ep.value,
        )
        key = _key(ep, record.distribution, shared)
        if key in host.records:  # the same distribution declares the name twice
            record.status = "failed"
            record.error = f"entry point {ep.name!r} is declared twice by {record.distribution}"
            host.records[f"{key} ({ep.value})"] = record
            continue
        host.records[key] = record
        record.requires_core = core_requirement(
            meta.get("requires-dist") if meta is not None else None
        )
        if not selection.wants(ep.name):
            record.status = "disabled"
            continue
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
                    f"requires recoil-core {record.requires_core}, "
                    f"running {running_kernel_version()}"
                )
                continue
        to_load[key] = ep

    loaded, errors = _load_entry_points(list(to_load.values()))
    for key, ep in to_load.items():
        if id(ep) in errors:
            record = host.records[key]
            record.status = "failed"
            record.error = _format_exc(errors[id(ep)])
            continue
        _register(host, key, loaded[id(ep)])

    for name, plugin in extra:
        record = PluginRecord(name=name, distribution=None, version=None, module=_module_of(plugin))
        if name in host.records:
            other = host.records[name]
            record.status = "failed"
            record.error = (
                f"plugin name {name!r} is already used by {other.distribution} {other.version}"
            )
            host.records[f"{name} (in-process)"] = record
            continue
        host.records[name] = record
        if not selection.wants(name) and include_entry_points:
            record.status = "disabled"
            continue
        _register(host, name, plugin)
    return host


def _module_of(plugin: object) -> str:
    module = getattr(plugin, "__name__", None) if isinstance(plugin, ModuleType) else None
    return module or f"{type(plugin).__module__}:{type(plugin).__qualname__}"


def _load_entry_points(
    eps: Sequence[EntryPoint],
) -> tuple[dict[int, object], dict[int, BaseException]]:
    """Load entry points through stevedore; return plugins and failures by ``id(ep)``."""
    if not eps:
        return {}, {}
    from stevedore import NamedExtensionManager

    errors: dict[int, BaseException] = {}

    def on_failure(_manager: Any, failed: EntryPoint, exc: BaseException) -> None:
        errors[id(failed)] = exc
        log.debug("plugin %s failed to load", failed.name, exc_info=exc)

    def load(batch: list[EntryPoint]) -> list[Any]:
        # Hand stevedore the entry points already discovered: it then loads exactly these
        # (same distributions, no second scan of sys.path, no on-disk entry-point cache).
        NamedExtensionManager.ENTRY_POINT_CACHE[ENTRY_POINT_GROUP] = batch
        manager: NamedExtensionManager[Any] = NamedExtensionManager(
            namespace=ENTRY_POINT_GROUP,
            names=[ep.name for ep in batch],
            on_load_failure_callback=on_failure,
        )
        return list(manager.extensions)

    try:
        extensions = load(list(eps))
    except AssertionError:
        # stevedore re-raises AssertionError from a plugin's import instead of
        # reporting it; load one by one so only the guilty plugin fails.
        extensions = []
        for ep in eps:
            try:
                extensions += load([ep])
            except AssertionError as exc:
                errors[id(ep)] = exc
    wanted = {id(ep) for ep in eps}
    loaded = {id(ext.entry_point): ext.plugin for ext in extensions}
    loaded = {key: plugin for key, plugin in loaded.items() if key in wanted}
    for ep in eps:
        if id(ep) not in loaded and id(ep) not in errors:
            errors[id(ep)] = ImportError("entry point could not be loaded")
    return loaded, errors


def iter_records(host: PluginHost, hook: str | None = None) -> Iterable[PluginRecord]:
    """Records sorted by name; with ``hook``, only plugins implementing that hook."""
    for record in host.sorted_records():
        if hook is None or hook in record.hooks:
            yield record
