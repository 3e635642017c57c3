"""Live provider instances for one run, with their concurrency and rate limits."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from recoil_core.interfaces import Provider, ProviderContext, ProviderSpec
from recoil_core.registry import Registry


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
            live = self.spec(name).factory(self._ctx)
            self._live[name] = live
        return live

    def problems(self, name: str) -> list[str]:
        spec = self.spec(name)
        return list(spec.check(self._ctx)) if spec.check is not None else []

    def slot(self, name: str) -> asyncio.Semaphore:
        slot = self._slots.get(name)
        if slot is None:
            slot = asyncio.Semaphore(max(1, self.spec(name).limits.concurrency))
            self._slots[name] = slot
        return slot

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
