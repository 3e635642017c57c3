"""Live provider instances for one run, with their concurrency and rate limits."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

from recoil_core.contracts.provider import Provider, ProviderContext, ProviderSpec
from recoil_core.plugin_code import guarded, origin_of
from recoil_core.registry import PROVIDERS, Registry


class ProviderPool:
    """Creates each provider once per run and hands out its limits."""

    def __init__(
        self, registry: Registry, env: Mapping[str, str], settings: Mapping[str, Any]
    ) -> None:
        self._registry = registry
        self._ctx = ProviderContext(env=env, settings=settings)
        self._live: dict[str, Provider] = {}
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._limiters: dict[str, Any] = {}

    def spec(self, name: str) -> ProviderSpec:
        return self._registry.provider(name)

    def get(self, name: str) -> Provider:
        live = self._live.get(name)
        if live is None:
            with self.guard(name):
                live = self.spec(name).factory(self._ctx)
            self._live[name] = live
        return live

    def guard(self, name: str) -> AbstractContextManager[None]:
        """Run the block as the provider's plugin code (see :func:`guarded`)."""
        return guarded(f"provider {name!r}", origin_of(self._registry, PROVIDERS, name))

    def problems(self, name: str) -> list[str]:
        spec = self.spec(name)
        if spec.check is None:
            return []
        with self.guard(name):
            return list(spec.check(self._ctx))

    def slot(self, name: str) -> ProviderSlot:
        """A hold on one of the provider's job slots: at most the provider's declared
        concurrency, and at most the run's ``concurrency`` setting, at once."""
        semaphore = self._slots.get(name)
        if semaphore is None:
            limit = self.spec(name).limits.concurrency
            wanted = self._ctx.settings.get("concurrency")
            if isinstance(wanted, int) and wanted > 0:
                limit = min(limit, wanted)
            semaphore = asyncio.Semaphore(max(1, limit))
            self._slots[name] = semaphore
        return ProviderSlot(semaphore)

    async def pace(self, name: str) -> None:
        """Wait for the provider's requests-per-minute budget before a create."""
        rpm = self.spec(name).limits.requests_per_minute
        if not rpm:
            return
        limiter = self._limiters.get(name)
        if limiter is None:
            from aiolimiter import AsyncLimiter

            limiter = AsyncLimiter(rpm, 60.0)
            self._limiters[name] = limiter
        await limiter.acquire()

    async def aclose(self) -> None:
        for provider in self._live.values():
            await provider.aclose()
        self._live.clear()


class ProviderSlot:
    """``async with`` holds a provider job slot; :meth:`release` gives it back early (once
    the job's provider work is done, while the take still writes its results)."""

    def __init__(self, semaphore: asyncio.Semaphore) -> None:
        self._semaphore = semaphore
        self._held = False

    async def __aenter__(self) -> ProviderSlot:
        await self._semaphore.acquire()
        self._held = True
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.release()

    def release(self) -> None:
        if self._held:
            self._held = False
            self._semaphore.release()
