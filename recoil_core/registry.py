"""The one typed view of what plugins registered: name maps of strategies, runners, etc.

Only this module calls the registration hooks, through pluggy's own view of them
(``pm.hook.<name>.get_hookimpls()``, in pluggy's call order, each implementation called
with the arguments it declares). It validates what each plugin returns when the plugins
load. Names are owned explicitly: a name two plugins register belongs to neither until
the studio picks one (``--prefer NAME=DIST`` / ``RECOIL_PREFER``); the plugins' other
names keep working. Nothing here imports a lazy registration's target unless asked to
verify, or the object is used.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from importlib import import_module
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs
import pluggy
from pluggy import HookImpl

from recoil_core.errors import (
    NameConflictError,
    PluginError,
    UnavailableNameError,
    UnknownNameError,
)
from recoil_core.lazy import LazyRunner, LazyStrategy, lazy_parts
from recoil_core.plugins import DEFAULT_SELECTION, PluginHost, PluginRecord, load_plugins
from recoil_core.settings import PluginSelection, normalize_distribution

if TYPE_CHECKING:
    from recoil_core.contracts.backend import BackendSpec
    from recoil_core.contracts.gates import PreflightGate, SceneEvent, TakeEvent
    from recoil_core.contracts.grouping import GroupingStrategy
    from recoil_core.contracts.provider import CostEstimator, ProviderSpec
    from recoil_core.contracts.runner import ModalityRunner

log = logging.getLogger(__name__)

T = TypeVar("T")


@attrs.frozen
class Registered(Generic[T]):
    """A registered object and the plugin it came from."""

    obj: T
    plugin: str
    distribution: str | None
    version: str | None

    def origin(self) -> str:
        dist = self.distribution or "(in-process)"
        return f"{dist} {self.version or ''}".strip() + f" (plugin {self.plugin!r})"

    def owner_name(self) -> str:
        """What ``--prefer NAME=...`` takes to pick this one: the distribution, else the
        plugin name (in-process plugins)."""
        return self.distribution or self.plugin

    def matches(self, owner: str) -> bool:
        """Whether ``owner`` (a distribution or plugin name) designates this registration."""
        if owner == self.plugin:
            return True
        wanted = normalize_distribution(owner)
        return self.distribution is not None and normalize_distribution(self.distribution) == wanted

    def to_dict(self) -> dict[str, str | None]:
        return {"plugin": self.plugin, "distribution": self.distribution, "version": self.version}


@attrs.frozen
class _Kind(Generic[T]):
    hook: str
    label: str
    prefix: str
    type_check: Callable[[object], bool]
    key: Callable[[T], str]


def _is(contract: str, *known: type) -> Callable[[object], bool]:
    """``isinstance`` against the contract ``module:Class``, imported at the first check:
    the contract modules load only when a plugin registers something of their kind (the
    plugin has imported them already). ``known``: classes that satisfy the contract,
    checked first (the lazy registrations)."""
    module, _, name = contract.partition(":")

    def check(obj: object) -> bool:
        if isinstance(obj, known):
            return True
        return isinstance(obj, getattr(import_module(module), name))

    return check


STRATEGIES: _Kind[GroupingStrategy] = _Kind(
    "recoil_grouping_strategies",
    "grouping strategy",
    "grouping",
    _is("recoil_core.contracts.grouping:GroupingStrategy", LazyStrategy),
    lambda s: s.name,
)
RUNNERS: _Kind[ModalityRunner] = _Kind(
    "recoil_modality_runners",
    "modality runner",
    "runner",
    _is("recoil_core.contracts.runner:ModalityRunner", LazyRunner),
    lambda r: r.modality,
)
PROVIDERS: _Kind[ProviderSpec] = _Kind(
    "recoil_providers",
    "provider",
    "provider",
    _is("recoil_core.contracts.provider:ProviderSpec"),
    lambda p: p.name,
)
ESTIMATORS: _Kind[CostEstimator] = _Kind(
    "recoil_cost_estimators",
    "cost estimator",
    "estimator",
    _is("recoil_core.contracts.provider:CostEstimator"),
    lambda e: e.provider,
)
BACKENDS: _Kind[BackendSpec] = _Kind(
    "recoil_persistence_backends",
    "persistence backend",
    "backend",
    _is("recoil_core.contracts.backend:BackendSpec"),
    lambda b: b.name,
)
GATES: _Kind[PreflightGate] = _Kind(
    "recoil_preflight_gates",
    "preflight gate",
    "gate",
    _is("recoil_core.contracts.gates:PreflightGate"),
    lambda g: g.name,
)
KINDS: tuple[_Kind[Any], ...] = (STRATEGIES, RUNNERS, PROVIDERS, ESTIMATORS, BACKENDS, GATES)
OBSERVER_HOOKS = {
    "recoil_on_take_event": "observer:take",
    "recoil_on_scene_event": "observer:scene",
    "recoil_asset_references": "references:asset",
}

KNOWN_PROVIDERS: Mapping[str, str] = {
    "grouping:continuity": "recoil-plugins-grouping",
    "grouping:solo": "recoil-plugins-grouping",
    "grouping:oner": "recoil-plugins-grouping",
    "grouping:coverage": "recoil-coverage",
    "runner:image_t2i": "recoil-plugins-video",
    "runner:video_i2v": "recoil-i2v",
    "runner:r2v_multi": "recoil-r2v-multi",
    "provider:animatic": "recoil-animatic",
    "estimator:animatic": "recoil-animatic",
    "provider:seeddance": "recoil-seeddance",
    "estimator:seeddance": "recoil-seeddance",
    "gate:seeddance-tiers": "recoil-seeddance",
    "backend:filesystem": "recoil-core",
    "backend:postgres": "recoil-postgres",
}
"""Which distribution of the Recoil project provides a name: how an unknown name's error
says what to install when no loaded plugin registers it."""

PREFER_HELP = "--prefer NAME=DISTRIBUTION (repeatable) or RECOIL_PREFER=NAME=DISTRIBUTION[,...]"


@attrs.frozen
class Contest:
    """A name more than one plugin registers, and who owns it (``None``: nobody yet)."""

    prefix: str
    label: str
    key: str
    claimants: tuple[Registered[Any], ...]
    preferred: str | None
    owner: Registered[Any] | None

    @property
    def name(self) -> str:
        return f"{self.prefix}:{self.key}"

    def advice(self) -> str:
        choices = " or ".join(f"--prefer {self.key}={c.owner_name()}" for c in self.claimants)
        plugins = ",".join(sorted({c.plugin for c in self.claimants}))
        unmet = (
            f"The preference {self.key}={self.preferred} names none of them. "
            if self.preferred is not None
            else ""
        )
        return (
            f"{unmet}Choose its owner with {choices} (or RECOIL_PREFER), "
            f"or disable a plugin (--disable-plugins {plugins})."
        )

    def error(self) -> NameConflictError:
        return NameConflictError(
            self.label, self.key, [c.origin() for c in self.claimants], self.advice()
        )

    def note(self, plugin: str) -> str:
        """The conflict as the plugin ``plugin``'s ``recoil plugins list`` error."""
        others = [c.origin() for c in self.claimants if c.plugin != plugin]
        if not others:
            return (
                f"{self.name}: the preference {self.key}={self.preferred} names another "
                f"distribution, which does not register it"
            )
        return (
            f"{self.name} is also registered by {' and '.join(others)}; "
            f"choose its owner with --prefer {self.key}=DISTRIBUTION"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "claimants": [c.to_dict() for c in self.claimants],
            "owner": self.owner.to_dict() if self.owner is not None else None,
            "preferred": self.preferred,
        }


@attrs.frozen
class Claim:
    """One name a plugin registered: the object (None if the plugin failed), whether the
    plugin owns the name, and the contest over it if another plugin registered it too."""

    name: str
    obj: object
    owned: bool
    contest: Contest | None


class NameMap(Mapping[str, T]):
    """The names of one kind that have an owner. Reading an entry resolves it: a lazy
    registration is imported (a ``PluginError`` naming its plugin if it cannot be). A
    contested name is neither present nor absent: reading it, or asking whether it is
    there, raises :class:`~recoil_core.errors.NameConflictError`."""

    def __init__(self, registry: Registry, kind: _Kind[T]) -> None:
        self._registry = registry
        self._kind = kind

    def __getitem__(self, name: str) -> T:
        try:
            return self._registry._get(self._kind, name)
        except UnknownNameError:
            raise KeyError(name) from None

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._registry._owners[self._kind.hook]))

    def __len__(self) -> int:
        return len(self._registry._owners[self._kind.hook])


class Registry:
    """Name maps of everything the loaded plugins registered.

    With ``verify``, every lazy registration's target is imported now and a plugin whose
    target cannot be imported is ``failed`` (what ``plugins list --check`` and strict mode
    do); otherwise targets are imported when they are used.
    """

    def __init__(
        self,
        host: PluginHost,
        selection: PluginSelection = DEFAULT_SELECTION,
        *,
        verify: bool = False,
    ) -> None:
        self.host = host
        self.selection = selection
        self.verified = verify
        self._owners: dict[str, dict[str, Registered[Any]]] = {k.hook: {} for k in KINDS}
        self._contests: dict[str, dict[str, Contest]] = {k.hook: {} for k in KINDS}
        self._order: dict[str, list[tuple[str, Registered[Any]]]] = {k.hook: [] for k in KINDS}
        self._lost: dict[str, dict[str, str]] = {k.hook: {} for k in KINDS}
        self._usable: set[tuple[str, str]] = set()
        """(hook, name) looked up before, with every lazy part imported: a run looks a
        provider up for every poll, and checking its fields each time costs CPU."""
        self._collect()

    # ------------------------------------------------------------------ building

    def _collect(self) -> None:
        calls: dict[str, list[tuple[str, list[tuple[str, Registered[Any]]]]]] = {}
        for kind in KINDS:
            calls[kind.hook] = []
            for impl in _call_order(self.host.pm, kind.hook):
                record = self.host.records[impl.plugin_name]
                items = self._call(kind, impl, record) if record.status == "ok" else None
                if items is not None:
                    calls[kind.hook].append((impl.plugin_name, items))
        if self.verified:
            for name in sorted({name for pairs in calls.values() for name, _ in pairs}):
                problem = self._verify(name, calls)
                if problem is not None and self.host.records[name].status == "ok":
                    self.host.fail(name, problem)
        for kind in KINDS:
            for name, items in calls[kind.hook]:
                if self.host.records[name].status == "ok":
                    self._order[kind.hook] += items
                else:  # remembered, to say why the name is missing when asked for
                    for key, _ in items:
                        self._lost[kind.hook].setdefault(key, name)
            self._assign(kind)
        self._describe()

    def _call(
        self, kind: _Kind[Any], impl: HookImpl, record: PluginRecord
    ) -> list[tuple[str, Registered[Any]]] | None:
        """Call one registration implementation and validate what it returned; on any
        problem fail the plugin and return None."""
        name = impl.plugin_name
        try:
            result = _call_impl(impl, {})
        except Exception as exc:
            self.host.fail(name, f"{kind.hook} raised {type(exc).__name__}: {exc}")
            return None
        if result is None:
            result = []
        if not isinstance(result, list | tuple):
            self.host.fail(name, f"{kind.hook} returned {type(result).__name__}, not a list")
            return None
        items: list[tuple[str, Registered[Any]]] = []
        for obj in result:
            problem = None
            if not kind.type_check(obj):
                problem = f"{kind.hook} returned {type(obj).__name__}, not a {kind.label}"
            elif any(existing == kind.key(obj) for existing, _ in items):
                problem = f"{kind.hook} returned {kind.label} {kind.key(obj)!r} twice"
            if problem is not None:
                self.host.fail(name, problem)
                for key, _ in items:
                    self._lost[kind.hook].setdefault(key, name)
                return None
            entry = Registered(obj, name, record.distribution, record.version)
            items.append((kind.key(obj), entry))
        return items

    def _verify(
        self, plugin: str, calls: Mapping[str, list[tuple[str, list[tuple[str, Any]]]]]
    ) -> str | None:
        """Import every lazy target ``plugin`` registered; the first failure, as its error."""
        for kind in KINDS:
            for name, items in calls[kind.hook]:
                if name != plugin:
                    continue
                for key, entry in items:
                    for part in lazy_parts(entry.obj):
                        try:
                            part.load()
                        except Exception as exc:
                            return f"{kind.label} {key!r}: {exc}"
        return None

    def _assign(self, kind: _Kind[Any]) -> None:
        claims: dict[str, list[Registered[Any]]] = {}
        for key, entry in self._order[kind.hook]:
            claims.setdefault(key, []).append(entry)
        for key, entries in claims.items():
            preferred = self.selection.preferred(kind.prefix, key)
            if preferred is None and len(entries) == 1:
                self._owners[kind.hook][key] = entries[0]
                continue
            chosen = [e for e in entries if preferred is not None and e.matches(preferred)]
            owner = chosen[0] if len(chosen) == 1 else None
            if owner is not None:
                self._owners[kind.hook][key] = owner
            if len(entries) > 1 or owner is None:
                claimants = tuple(sorted(entries, key=lambda e: (e.owner_name(), e.plugin)))
                self._contests[kind.hook][key] = Contest(
                    kind.prefix, kind.label, key, claimants, preferred, owner
                )

    def _describe(self) -> None:
        """Fill each record's ``provides`` and ``conflicts``; an unresolved conflict makes
        the plugin's status ``conflict``."""
        for name, record in self.host.records.items():
            if record.status != "ok":
                continue
            provides = [
                f"{kind.prefix}:{key}"
                for kind in KINDS
                for key, entry in self._owners[kind.hook].items()
                if entry.plugin == name
            ]
            provides += [label for hook, label in OBSERVER_HOOKS.items() if hook in record.hooks]
            record.provides = sorted(provides)
            contests = sorted(
                (
                    contest
                    for kind in KINDS
                    for contest in self._contests[kind.hook].values()
                    if any(c.plugin == name for c in contest.claimants)
                ),
                key=lambda contest: contest.name,
            )
            record.conflicts = [contest.to_dict() for contest in contests]
            open_ = [contest for contest in contests if contest.owner is None]
            if open_:
                record.status = "conflict"
                record.error = "; ".join(contest.note(name) for contest in open_)

    # ------------------------------------------------------------------ lookups

    def _get(self, kind: _Kind[T], name: str) -> T:
        found = self._owners[kind.hook].get(name)
        if found is None:
            contest = self._contests[kind.hook].get(name)
            if contest is not None and contest.owner is None:
                raise contest.error()
            raise self._unknown(kind, name)
        if (kind.hook, name) in self._usable:  # looked up before: its parts imported
            return found.obj  # type: ignore[no-any-return]
        for part in lazy_parts(found.obj):
            try:
                part.load()
            except Exception as exc:
                raise PluginError(
                    f"{kind.label} {name!r} from {found.origin()} cannot be used: {exc}. "
                    f"Reinstall or upgrade {found.owner_name()}, or disable the plugin "
                    f"(--disable-plugins {found.plugin}); `recoil plugins list --check` "
                    "checks every plugin"
                ) from exc
        self._usable.add((kind.hook, name))
        obj: T = found.obj
        return obj

    def _unknown(self, kind: _Kind[Any], name: str) -> UnknownNameError:
        available = sorted(self._owners[kind.hook])
        reason = self._why_missing(kind, name)
        if reason is None:
            return UnknownNameError(kind.label, name, available)
        return UnavailableNameError(kind.label, name, available, reason)

    def _why_missing(self, kind: _Kind[Any], name: str) -> str | None:
        """Why no loaded plugin provides ``name``, when Recoil can tell."""
        lost = self._lost[kind.hook].get(name)
        if lost is not None:
            failed = self.host.records[lost]
            return f"The plugin {_label(failed)} registers it but failed: {failed.error}"
        distribution = KNOWN_PROVIDERS.get(f"{kind.prefix}:{name}")
        if distribution is not None:
            records = [
                r
                for r in self.host.sorted_records()
                if r.distribution is not None
                and normalize_distribution(r.distribution) == distribution
            ]
            if not records:
                return (
                    f"It is provided by {distribution}, which is not installed: "
                    f"pip install {distribution}"
                )
            return _status_reason(records[0], f"It is provided by {distribution}")
        record = self.host.records.get(name)
        if record is not None and record.status in ("failed", "disabled", "incompatible"):
            return _status_reason(record, "The plugin of that name may provide it")
        return None

    def _all(self, kind: _Kind[T]) -> NameMap[T]:
        return NameMap(self, kind)

    def origin(self, kind: _Kind[Any], name: str) -> Registered[Any] | None:
        """The owner of ``name``, with its plugin and distribution (None: no owner)."""
        return self._owners[kind.hook].get(name)

    def contests(self) -> list[Contest]:
        """Every name more than one plugin registers (resolved or not), sorted."""
        found = [c for kind in KINDS for c in self._contests[kind.hook].values()]
        return sorted(found, key=lambda contest: contest.name)

    def registered_by(self, plugin: str) -> list[Claim]:
        """Everything ``plugin`` registered, sorted by ``kind:name``, with who owns each
        name; for a plugin that failed, the names it registered before it did."""
        claims = [
            Claim(
                f"{kind.prefix}:{key}",
                entry.obj,
                self._owners[kind.hook].get(key) is entry,
                self._contests[kind.hook].get(key),
            )
            for kind in KINDS
            for key, entry in self._order[kind.hook]
            if entry.plugin == plugin
        ]
        claims += [
            Claim(f"{kind.prefix}:{key}", None, False, None)
            for kind in KINDS
            for key, name in self._lost[kind.hook].items()
            if name == plugin
        ]
        return sorted(claims, key=lambda claim: claim.name)

    def claimants(self, name: str) -> list[str]:
        """The plugins that registered ``name`` (``continuity`` or ``grouping:continuity``)."""
        found = {
            entry.plugin
            for kind in KINDS
            for key, entry in self._order[kind.hook]
            if name in (key, f"{kind.prefix}:{key}")
        }
        return sorted(found)

    @property
    def strategies(self) -> Mapping[str, GroupingStrategy]:
        return self._all(STRATEGIES)

    @property
    def runners(self) -> Mapping[str, ModalityRunner]:
        return self._all(RUNNERS)

    @property
    def providers(self) -> Mapping[str, ProviderSpec]:
        return self._all(PROVIDERS)

    @property
    def estimators(self) -> Mapping[str, CostEstimator]:
        return self._all(ESTIMATORS)

    @property
    def backends(self) -> Mapping[str, BackendSpec]:
        return self._all(BACKENDS)

    @property
    def gates(self) -> Sequence[PreflightGate]:
        """Every gate, in pluggy's call order. Gates are never looked up by name, so a
        contested gate name with no owner runs every claimant: installing a plugin never
        removes a check."""
        gates = []
        for key, entry in self._order[GATES.hook]:
            owner = self._owners[GATES.hook].get(key)
            if owner is None or owner is entry:
                gates.append(entry.obj)
        return gates

    def strategy(self, name: str) -> GroupingStrategy:
        return self._get(STRATEGIES, name)

    def runner(self, modality: str) -> ModalityRunner:
        return self._get(RUNNERS, modality)

    def provider(self, name: str) -> ProviderSpec:
        return self._get(PROVIDERS, name)

    def backend(self, name: str) -> BackendSpec:
        return self._get(BACKENDS, name)

    def estimator(self, provider: str) -> CostEstimator | None:
        """The estimator of ``provider`` (None: it has none). A contested one raises."""
        if provider not in self._owners[ESTIMATORS.hook]:
            contest = self._contests[ESTIMATORS.hook].get(provider)
            if contest is not None and contest.owner is None:
                raise contest.error()
            return None
        return self._get(ESTIMATORS, provider)

    def provider_version(self, name: str) -> str | None:
        found = self._owners[PROVIDERS.hook].get(name)
        return found.version if found is not None else None

    # ------------------------------------------------------------------ observers

    def notify_take(self, event: TakeEvent) -> None:
        self._notify("recoil_on_take_event", {"event": event})

    def notify_scene(self, event: SceneEvent) -> None:
        self._notify("recoil_on_scene_event", {"event": event})

    def _notify(self, hook: str, kwargs: Mapping[str, object]) -> None:
        """Call every implementation in pluggy's order, each with the arguments it takes."""
        for impl in _call_order(self.host.pm, hook):
            try:
                _call_impl(impl, kwargs)
            except Exception:
                log.warning(
                    "observer %s of %s raised; ignored", impl.plugin_name, hook, exc_info=True
                )


def _call_order(pm: pluggy.PluginManager, hook: str) -> list[HookImpl]:
    """The implementations of ``hook`` in the order pluggy calls them: ``tryfirst`` ones
    first, ``trylast`` ones last, otherwise the plugin registered last first."""
    return list(reversed(getattr(pm.hook, hook).get_hookimpls()))


def _call_impl(impl: HookImpl, kwargs: Mapping[str, object]) -> Any:
    """Call one implementation as pluggy does: with the arguments it declares, by position
    (an implementation may take fewer arguments than its spec)."""
    return impl.function(*[kwargs[arg] for arg in impl.argnames])


def _label(record: PluginRecord) -> str:
    dist = f"{record.distribution} {record.version or ''}".strip()
    return f"{record.name!r} ({dist or 'in-process'})"


def _status_reason(record: PluginRecord, subject: str) -> str:
    plugin = f"plugin {_label(record)}"
    if record.status == "disabled":
        return (
            f"{subject}; its {plugin} is disabled (--load-plugins / --disable-plugins, "
            "RECOIL_LOAD_PLUGINS / RECOIL_DISABLE_PLUGINS)"
        )
    if record.status == "incompatible":
        return (
            f"{subject}; its {plugin} is incompatible ({record.error}): install a release "
            "that supports this kernel"
        )
    if record.status == "failed":
        return f"{subject}; its {plugin} failed: {record.error}"
    return f"{subject}; its {plugin} is loaded but does not register it: upgrade it"


def build_registry(
    selection: PluginSelection = DEFAULT_SELECTION,
    *,
    extra: Sequence[tuple[str, object]] = (),
    include_entry_points: bool = True,
    verify: bool = False,
) -> Registry:
    """Load plugins and build the registry.

    ``verify`` (implied by ``selection.strict``) imports every lazy registration now. With
    ``selection.strict``, any failed, incompatible or conflicting plugin raises
    :class:`PluginError`.
    """
    host = load_plugins(selection, extra=extra, include_entry_points=include_entry_points)
    registry = Registry(host, selection, verify=verify or selection.strict)
    if selection.strict and host.problems:
        details = "; ".join(f"{r.name} ({r.status}): {r.error}" for r in host.problems)
        raise PluginError(
            f"strict plugin loading: {details}. Fix or disable these plugins "
            "(RECOIL_DISABLE_PLUGINS / --disable-plugins), choose owners of contested names "
            f"({PREFER_HELP}), or drop strict mode."
        )
    return registry
