"""A run harness: a real registry, a real filesystem backend in a temp root, and a scripted
provider, so a test drives the real episode runner through its public API.

Typical use::

    harness = RunHarness(tmp_path, strategies=[MyStrategy()], estimate=1.0)
    report = harness.run(plan, budget_usd=10)
    assert harness.provider.created == 1
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from recoil_core.contracts.backend import BackendContext
from recoil_core.contracts.grouping import GroupingStrategy
from recoil_core.contracts.runner import ModalityRunner
from recoil_core.model import CanonicalPlan
from recoil_core.persistence.protocol import PersistenceBackend
from recoil_core.registry import Registry, build_registry
from recoil_core.runner import EpisodeRunner, RunOptions, RunReport
from recoil_core.settings import PluginSelection
from recoil_core.testing.doubles import (
    ScriptedProvider,
    StaticRunner,
    fixed_estimator,
    make_plugin,
    scripted_provider_spec,
)

__all__ = ["BASE_PLUGINS", "HARNESS_PLUGIN", "RunHarness"]

HARNESS_PLUGIN = "recoil-test-harness"
"""The name the harness registers its own plugin (provider, estimator, runners) under."""
BASE_PLUGINS = ("filesystem", "grouping", "coverage")
"""Installed plugins the harness loads when it is given no ``strategies``: the built-in
filesystem backend and, when installed, the standard grouping strategies."""


class RunHarness:
    """Real kernel pieces around a scripted provider; everything lives under ``root``.

    - ``provider``: the :class:`~recoil_core.testing.doubles.ScriptedProvider` serving
      every modality as ``scripted`` (default: each job succeeds at no cost).
    - ``estimate``: what the ``scripted`` estimator charges per step, in USD.
    - ``strategies``: the grouping strategies to run with. When given, they are the only
      ones (no installed strategy is loaded) and the first is the default ``strategy``.
      When left out, the installed ``grouping`` and ``coverage`` plugins provide them.
    - ``runners``: the modality runners to build workflows with (default: a
      :class:`~recoil_core.testing.doubles.StaticRunner` for ``video_i2v`` and
      ``r2v_multi``; ``[]`` for none, e.g. to use installed runners named in ``plugins``).
    - ``extra_plugins``: ``(name, plugin)`` pairs registered in-process, as an installed
      distribution would be (your plugin module, a
      :func:`~recoil_core.testing.doubles.make_plugin` object).
    - ``plugins``: names of installed plugins to load besides those (default:
      ``("filesystem",)`` with ``strategies``, else :data:`BASE_PLUGINS`).
    - ``provider_concurrency``, ``download_in_slot``, ``cancellable_states``,
      ``find_consistency_s``: the scripted provider's spec.
    """

    def __init__(
        self,
        root: Path,
        *,
        provider: ScriptedProvider | None = None,
        estimate: float = 0.0,
        strategies: Sequence[GroupingStrategy] | None = None,
        runners: Sequence[ModalityRunner] | None = None,
        extra_plugins: Sequence[tuple[str, object]] = (),
        plugins: Sequence[str] | None = None,
        provider_concurrency: int = 100,
        download_in_slot: bool = True,
        cancellable_states: Sequence[str] = (),
        find_consistency_s: float = 0.0,
    ) -> None:
        self.root = root
        self.projects_root = root / "projects"
        self.provider = provider or ScriptedProvider()
        self.strategies = list(strategies or ())
        self.runners = list(
            runners
            if runners is not None
            else [StaticRunner("video_i2v"), StaticRunner("r2v_multi")]
        )
        if plugins is None:
            plugins = ("filesystem",) if strategies is not None else BASE_PLUGINS
        plugin = make_plugin(
            strategies=self.strategies,
            providers=[
                scripted_provider_spec(
                    self.provider,
                    concurrency=provider_concurrency,
                    download_in_slot=download_in_slot,
                    cancellable_states=cancellable_states,
                    find_consistency_s=find_consistency_s,
                )
            ],
            estimators=[fixed_estimator("scripted", estimate)],
            runners=self.runners,
        )
        extras = [(HARNESS_PLUGIN, plugin), *extra_plugins]
        self.registry: Registry = build_registry(
            PluginSelection(load_only=(*plugins, *(name for name, _ in extras))),
            extra=extras,
        )
        self.backend: PersistenceBackend = self.new_backend()

    def new_backend(self) -> PersistenceBackend:
        """Another backend object over the same root (as a second writer would have)."""
        spec = self.registry.backend("filesystem")
        return spec.factory(BackendContext(projects_root=self.projects_root))

    def runner(self, plan: CanonicalPlan, **options: Any) -> EpisodeRunner:
        """An episode runner for ``plan``; ``options`` are ``recoil run``'s (``strategy``,
        ``budget_usd``, ``max_takes``, ``strategy_options``...). The provider defaults to
        ``scripted`` and polling does not wait."""
        options.setdefault("provider", "scripted")
        options.setdefault("poll_interval_s", 0.0)
        if self.strategies:
            options.setdefault("strategy", self.strategies[0].name)
        return EpisodeRunner(
            plan, registry=self.registry, backend=self.backend, options=RunOptions(**options)
        )

    def run(self, plan: CanonicalPlan, **options: Any) -> RunReport:
        """Run ``plan`` to the end (see :meth:`runner` for ``options``) and return the report:
        ``take_counts``, ``charged_usd``, ``attention``, ``scenes``..."""
        return asyncio.run(self.runner(plan, **options).run())

    def files(self) -> list[Path]:
        """Every file under the projects root (empty when nothing was written)."""
        if not self.projects_root.exists():
            return []
        return sorted(p for p in self.projects_root.rglob("*") if p.is_file())
