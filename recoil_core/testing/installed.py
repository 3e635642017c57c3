"""What the installed distributions provide, loaded as ``recoil`` loads it without any
``RECOIL_*`` setting (entry points, version ranges, name ownership, lazy registrations),
for tests of an installed plugin::

    strategy = installed_strategy("by_character")
    groups = strategy.assemble(shots, grouping_context(shots))

Each raises the error ``recoil`` would print: an unknown name, a name two distributions
claim, a lazy target that cannot be imported. :class:`InstalledPlugins` loads them once
and also runs the kernel's own steps on them (option checks, estimates).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from recoil_core.contracts.backend import BackendSpec
from recoil_core.contracts.gates import PreflightGate
from recoil_core.contracts.grouping import GroupingStrategy, OptionSpec
from recoil_core.contracts.provider import CostEstimator, ProviderSpec
from recoil_core.contracts.runner import ModalityRunner
from recoil_core.model import CanonicalPlan, Group, Workflow
from recoil_core.options import strategy_option_specs
from recoil_core.registry import KINDS, build_registry
from recoil_core.runner.planning import derive_groups
from recoil_core.runner.workflows import estimate_workflow
from recoil_core.settings import PluginSelection

__all__ = [
    "InstalledPlugins",
    "installed_backend",
    "installed_provider",
    "installed_runner",
    "installed_strategy",
]


def installed_strategy(name: str) -> GroupingStrategy:
    """The grouping strategy ``name`` (what ``--strategy name`` runs)."""
    return build_registry().strategy(name)


def installed_runner(modality: str) -> ModalityRunner:
    """The modality runner that builds units of ``modality``."""
    return build_registry().runner(modality)


def installed_provider(name: str) -> ProviderSpec:
    """The provider spec ``name`` (what ``--provider name`` uses); ``factory`` makes the
    provider from a :class:`~recoil_core.contracts.provider.ProviderContext`."""
    return build_registry().provider(name)


def installed_backend(name: str) -> BackendSpec:
    """The persistence backend spec ``name`` (what ``RECOIL_BACKEND=name`` uses)."""
    return build_registry().backend(name)


class InstalledPlugins:
    """The installed plugins, loaded once as ``recoil`` loads them: every one, or only those
    named (``InstalledPlugins("filesystem", "seeddance")``, as ``RECOIL_LOAD_PLUGINS`` would).

    Look names up (:meth:`strategy`, :meth:`runner`, :meth:`provider`...) and run the
    kernel's own steps on them: :meth:`derive_groups` checks options as ``recoil group``
    does, :meth:`estimate` prices a workflow as ``recoil run --dry-run`` does.
    """

    def __init__(self, *plugins: str) -> None:
        selection = PluginSelection(load_only=plugins) if plugins else PluginSelection()
        self._registry = build_registry(selection)

    def strategy(self, name: str) -> GroupingStrategy:
        """The grouping strategy ``name``."""
        return self._registry.strategy(name)

    def runner(self, modality: str) -> ModalityRunner:
        """The modality runner building units of ``modality``."""
        return self._registry.runner(modality)

    def provider(self, name: str) -> ProviderSpec:
        """The provider spec ``name``."""
        return self._registry.provider(name)

    def backend(self, name: str) -> BackendSpec:
        """The persistence backend spec ``name``."""
        return self._registry.backend(name)

    def estimator(self, provider: str) -> CostEstimator | None:
        """The cost estimator of ``provider``, or ``None`` when none is registered."""
        return self._registry.estimator(provider)

    @property
    def gates(self) -> Sequence[PreflightGate]:
        """Every registered preflight gate."""
        return self._registry.gates

    def distribution_of(self, registered: str) -> str | None:
        """The distribution that registered ``registered``, written as ``recoil plugins
        list`` shows it (``provider:animatic``, ``grouping:solo``, ``runner:video_i2v``);
        ``None`` when nothing installed registered it."""
        prefix, _, name = registered.partition(":")
        kinds = {kind.prefix: kind for kind in KINDS}
        if prefix not in kinds or not name:
            raise ValueError(f"{registered!r}: expected KIND:NAME, KIND one of {sorted(kinds)}")
        origin = self._registry.origin(kinds[prefix], name)
        return None if origin is None else origin.distribution

    def strategy_options(self, name: str) -> tuple[OptionSpec, ...]:
        """The options strategy ``name`` declares, as the kernel reads and checks them
        (``PluginError`` for a malformed declaration)."""
        return strategy_option_specs(self._registry.strategy(name))

    def derive_groups(
        self,
        plan: CanonicalPlan,
        strategy: str,
        *,
        options: Mapping[str, Any] | None = None,
        selected_pass_ids: Sequence[str] = (),
    ) -> list[Group]:
        """The groups ``recoil group --strategy strategy`` derives from ``plan``: options
        (``--option`` strings or typed values) checked against the strategy's declarations
        first (``OptionError``), coverage passes selected by id."""
        return derive_groups(
            plan,
            self._registry.strategy(strategy),
            selected_pass_ids=selected_pass_ids,
            options=options,
            registry=self._registry,
        )

    def estimate(self, workflow: Workflow) -> float:
        """What ``recoil run --dry-run`` estimates for ``workflow`` in USD: each step priced
        by its provider's estimator (0 without one), its ``estimate`` and
        ``estimate_source`` recorded on the step."""
        return estimate_workflow(self._registry, workflow)
