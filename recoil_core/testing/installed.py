"""What the installed distributions provide, loaded as ``recoil`` loads it without any
``RECOIL_*`` setting (entry points, version ranges, name ownership, lazy registrations),
for tests of an installed plugin::

    strategy = installed_strategy("by_character")
    groups = strategy.assemble(shots, grouping_context(shots))

Each raises the error ``recoil`` would print: an unknown name, a name two distributions
claim, a lazy target that cannot be imported.
"""

from __future__ import annotations

from recoil_core.interfaces import BackendSpec, GroupingStrategy, ModalityRunner, ProviderSpec
from recoil_core.registry import build_registry

__all__ = ["installed_backend", "installed_provider", "installed_runner", "installed_strategy"]


def installed_strategy(name: str) -> GroupingStrategy:
    """The grouping strategy ``name`` (what ``--strategy name`` runs)."""
    return build_registry().strategy(name)


def installed_runner(modality: str) -> ModalityRunner:
    """The modality runner that builds units of ``modality``."""
    return build_registry().runner(modality)


def installed_provider(name: str) -> ProviderSpec:
    """The provider spec ``name`` (what ``--provider name`` uses); ``factory`` makes the
    provider from a :class:`~recoil_core.interfaces.ProviderContext`."""
    return build_registry().provider(name)


def installed_backend(name: str) -> BackendSpec:
    """The persistence backend spec ``name`` (what ``RECOIL_BACKEND=name`` uses)."""
    return build_registry().backend(name)
