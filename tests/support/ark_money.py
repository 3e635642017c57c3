"""The money promise of an episode run against the fake Ark server, and how tests drive it
(an integration-test support module: the kernel's runner with the seeddance provider).

``check_money(ark, backend, project, episode)`` is the kernel's
:func:`recoil_core.testing._suite.money.check_money` with what a
:class:`~recoil_seeddance.testing.fake_ark.FakeArkServer` counted and billed (``billed_usd``,
priced at the shipped table); ``run_episode`` runs the real runner in-process with the
seeddance provider, ``cli_env`` and ``run_recoil`` the real ``recoil`` CLI against the fake.

Importing this module sets ``RECOIL_SEEDDANCE_FIND_CONSISTENCY_S`` (unless set) to 0.05 s:
the fake Ark's task list is consistent at once, so in-process runs need not wait Ark's
default 15 s between the two searches that settle a lost create (read when the seeddance
plugin registers its spec, so import this module before building a registry).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from recoil_seeddance.models import model_info
from recoil_seeddance.pricing import price_table
from recoil_seeddance.testing.fake_ark import FakeArkServer

from recoil_core.model import CanonicalPlan
from recoil_core.registry import Registry
from recoil_core.runner import RunReport
from recoil_core.testing._suite import money as _money
from recoil_core.testing._suite.money import (
    MoneyCounts,
    every_version,
    filesystem,
    persisted_scenes,
    run_recoil,
    small_plan,
)

__all__ = [
    "PLUGINS",
    "SENTINEL_KEY",
    "MoneyCounts",
    "billed_usd",
    "check_money",
    "cli_env",
    "every_version",
    "filesystem",
    "persisted_scenes",
    "run_episode",
    "run_recoil",
    "small_plan",
]

SENTINEL_KEY = "SENTINEL-ark-key-money-5c1e0b7a"
"""An Ark key no account has, for fake servers of tests that look for it where no key
may be (outputs, files, errors)."""

PLUGINS = ("filesystem", "grouping", "video", "i2v", "r2v-multi", "seeddance")
"""The plugins an episode run against the fake Ark loads."""

os.environ.setdefault("RECOIL_SEEDDANCE_FIND_CONSISTENCY_S", "0.05")


class ArkView(Protocol):
    """The fake Ark as the money checks read it (a server, or one episode's share of it)."""

    def stats(self) -> dict[str, Any]: ...

    def task(self, task_id: str) -> dict[str, Any]: ...


def run_episode(
    plan: CanonicalPlan,
    registry: Registry,
    backend: Any,
    env: Mapping[str, str],
    **options: Any,
) -> RunReport:
    """:func:`recoil_core.testing._suite.money.run_episode` with the seeddance provider."""
    options.setdefault("provider", "seeddance")
    return _money.run_episode(plan, registry, backend, env, **options)


def cli_env(
    ark: FakeArkServer, root: Path, *, key: str | None = None, poll_s: str = "0.02"
) -> dict[str, str]:
    """This process's environment for a ``recoil`` CLI run against ``ark``, projects in ``root``.

    Recoil and Ark settings are replaced: ``key`` (default: the server's own) as
    ``ARK_API_KEY``, the Seedance provider polling every ``poll_s`` seconds, and a lost
    create searched for again after 0.2 s (the fake's task list is consistent at once).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECOIL_", "ARK_"))}
    env.update(
        ARK_API_KEY=ark.api_key if key is None else key,
        ARK_BASE_URL=ark.base_url,
        RECOIL_PROJECTS_ROOT=str(root / "projects"),
        RECOIL_ANIMATIC_CACHE=str(root / "animatic-cache"),
        RECOIL_SEEDDANCE_POLL_S=poll_s,
        RECOIL_SEEDDANCE_FIND_CONSISTENCY_S="0.2",
    )
    return env


def billed_usd(ark: ArkView) -> dict[str, float]:
    """What the fake Ark billed, per task, in USD at the shipped price table."""
    table = price_table()
    out: dict[str, float] = {}
    for task_id, tokens in ark.stats()["tokens_by_task"].items():
        task = ark.task(task_id)
        info = model_info(task["model"])
        audio = task.get("generate_audio") if info.supports_audio else None
        price = table.usd_per_mtok(
            info.family,
            resolution=task.get("resolution"),
            generate_audio=audio if isinstance(audio, bool) else None,
        )
        out[task_id] = table.cost_usd(tokens, price)
    return out


def check_money(
    ark: ArkView, backend: Any, project: str, episode: str, *, complete: bool = True
) -> MoneyCounts:
    """Assert the money promise for one episode run against ``ark`` and return the counts
    (:func:`recoil_core.testing._suite.money.check_money`, billed at the shipped price table)."""
    return _money.check_money(
        ark.stats(), billed_usd(ark), backend, project, episode, complete=complete
    )
