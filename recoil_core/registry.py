"""The one typed view of what plugins registered: name maps of strategies, runners, etc.

Only this module calls the registration hooks. It validates what each plugin returns
when the plugins load, and refuses a name registered twice, naming both distributions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import attrs

from recoil_core.errors import PluginError, UnknownNameError
from recoil_core.interfaces import (
    BackendSpec,
    CostEstimator,
    GroupingStrategy,
    ModalityRunner,
    PreflightGate,
    ProviderSpec,
    SceneEvent,
    TakeEvent,
)
from recoil_core.plugins import DEFAULT_SELECTION, PluginHost, PluginRecord, load_plugins
from recoil_core.settings import PluginSelection

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


@attrs.frozen
class _Kind(Generic[T]):
    hook: str
    label: str
    prefix: str
    type_check: Callable[[object], bool]
    key: Callable[[T], str]


def _is(cls: type) -> Callable[[object], bool]:
    return lambda obj: isinstance(obj, cls)


STRATEGIES: _Kind[GroupingStrategy] = _Kind(
    "recoil_grouping_strategies",
    "grouping strategy",
    "grouping",
    _is(GroupingStrategy),
    lambda s: s.name,
)
RUNNERS: _Kind[ModalityRunner] = _Kind(
    "recoil_modality_runners",
    "modality runner",
    "runner",
    _is(ModalityRunner),
    lambda r: r.modality,
)
PROVIDERS: _Kind[ProviderSpec] = _Kind(
    "recoil_providers", "provider", "provider", _is(ProviderSpec), lambda p: p.name
)
ESTIMATORS: _Kind[CostEstimator] = _Kind(
    "recoil_cost_estimators",
    "cost estimator",
    "estimator",
    _is(CostEstimator),
    lambda e: e.provider,
)
BACKENDS: _Kind[BackendSpec] = _Kind(
    "recoil_persistence_backends",
    "persistence backend",
    "backend",
    _is(BackendSpec),
    lambda b: b.name,
)
GATES: _Kind[PreflightGate] = _Kind(
    "recoil_preflight_gates", "preflight gate", "gate", _is(PreflightGate), lambda g: g.name
)
KINDS: tuple[_Kind[Any], ...] = (STRATEGIES, RUNNERS, PROVIDERS, ESTIMATORS, BACKENDS, GATES)
OBSERVER_HOOKS = {
    "recoil_on_take_event": "observer:take",
    "recoil_on_scene_event": "observer:scene",
}


class Registry:
    """Name maps of everything the loaded plugins registered."""

    def __init__(self, host: PluginHost) -> None:
        self.host = host
        self._maps: dict[str, dict[str, Registered[Any]]] = {k.hook: {} for k in KINDS}
        self._collect()

    # ------------------------------------------------------------------ building

    def _collect(self) -> None:
        for name in sorted(n for n, r in self.host.records.items() if r.status == "ok"):
            record = self.host.records[name]
            staged = self._stage(name, record)
            if staged is None:
                continue
            for kind, items in staged.items():
                self._maps[kind.hook].update(items)
            record.provides = sorted(
                [f"{kind.prefix}:{key}" for kind, items in staged.items() for key in items]
                + [label for hook, label in OBSERVER_HOOKS.items() if hook in record.hooks]
            )

    def _stage(
        self, name: str, record: PluginRecord
    ) -> dict[_Kind[Any], dict[str, Registered[Any]]] | None:
        """Call one plugin's registration hooks; fail the plugin on any invalid result."""
        plugin = self.host.pm.get_plugin(name)
        staged: dict[_Kind[Any], dict[str, Registered[Any]]] = {}
        for kind in KINDS:
            impl = getattr(plugin, kind.hook, None)
            if impl is None or kind.hook not in record.hooks:
                continue
            try:
                result = impl()
            except Exception as exc:
                self.host.fail(name, f"{kind.hook} raised {type(exc).__name__}: {exc}")
                return None
            if result is None:
                result = []
            if not isinstance(result, list | tuple):
                self.host.fail(name, f"{kind.hook} returned {type(result).__name__}, not a list")
                return None
            items = list(result)
            for obj in items:
                if not kind.type_check(obj):
                    self.host.fail(
                        name, f"{kind.hook} returned {type(obj).__name__}, not a {kind.label}"
                    )
                    return None
                key = kind.key(obj)
                entry = Registered(obj, name, record.distribution, record.version)
                existing = self._maps[kind.hook].get(key) or staged.get(kind, {}).get(key)
                if existing is not None:
                    self.host.fail(
                        name,
                        f"{kind.label} {key!r} is already registered by {existing.origin()}; "
                        f"refused from {entry.origin()}",
                    )
                    return None
                staged.setdefault(kind, {})[key] = entry
        return staged

    # ------------------------------------------------------------------ lookups

    def _get(self, kind: _Kind[T], name: str) -> T:
        found = self._maps[kind.hook].get(name)
        if found is None:
            raise UnknownNameError(kind.label, name, list(self._maps[kind.hook]))
        obj: T = found.obj
        return obj

    def _all(self, kind: _Kind[T]) -> Mapping[str, T]:
        return {key: entry.obj for key, entry in sorted(self._maps[kind.hook].items())}

    def origin(self, kind: _Kind[Any], name: str) -> Registered[Any] | None:
        return self._maps[kind.hook].get(name)

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
        return list(self._all(GATES).values())

    def strategy(self, name: str) -> GroupingStrategy:
        return self._get(STRATEGIES, name)

    def runner(self, modality: str) -> ModalityRunner:
        return self._get(RUNNERS, modality)

    def provider(self, name: str) -> ProviderSpec:
        return self._get(PROVIDERS, name)

    def backend(self, name: str) -> BackendSpec:
        return self._get(BACKENDS, name)

    def estimator(self, provider: str) -> CostEstimator | None:
        found = self._maps[ESTIMATORS.hook].get(provider)
        return found.obj if found is not None else None

    def provider_version(self, name: str) -> str | None:
        found = self._maps[PROVIDERS.hook].get(name)
        return found.version if found is not None else None

    # ------------------------------------------------------------------ observers

    def notify_take(self, event: TakeEvent) -> None:
        self._notify("recoil_on_take_event", event)

    def notify_scene(self, event: SceneEvent) -> None:
        self._notify("recoil_on_scene_event", event)

    def _notify(self, hook: str, event: object) -> None:
        caller = getattr(self.host.pm.hook, hook)
        for impl in caller.get_hookimpls():
            try:
                impl.function(event=event)
            except Exception:
                log.warning(
                    "observer %s of %s raised; ignored", impl.plugin_name, hook, exc_info=True
                )


def build_registry(
    selection: PluginSelection = DEFAULT_SELECTION,
    *,
    extra: Sequence[tuple[str, object]] = (),
    include_entry_points: bool = True,
) -> Registry:
    """Load plugins and build the registry.

    With ``selection.strict``, any failed or incompatible plugin raises :class:`PluginError`.
    """
    host = load_plugins(selection, extra=extra, include_entry_points=include_entry_points)
    registry = Registry(host)
    if selection.strict and host.problems:
        details = "; ".join(f"{r.name} ({r.status}): {r.error}" for r in host.problems)
        raise PluginError(
            f"strict plugin loading: {details}. Fix or disable these plugins "
            "(RECOIL_DISABLE_PLUGINS / --disable-plugins), or drop strict mode."
        )
    return registry
