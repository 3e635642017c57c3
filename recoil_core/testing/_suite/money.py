"""The money promise of an episode run, as tests check it against a provider's fake server.

:func:`check_money` asserts nobody paid twice and nothing paid for was lost: every create the
server received belongs to exactly one take step, every succeeded take kept its render, and
the ledger equals what the server billed, job by job. It is provider-neutral: the caller
passes what the fake server counted (:class:`ServerCounts`) and what it billed per job. A
provider's tests wrap it for its own fake server (the fake Ark:
``tests/support/ark_money.py``: ``check_money(ark, ...)``).

:func:`run_recoil` runs the real ``recoil`` CLI; :func:`run_episode` the real runner in-process.
This module imports pytest (``pytest.approx``): it is for test code only.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypedDict

import attrs
import pytest

from recoil_core.contracts.backend import BackendContext
from recoil_core.model import CanonicalPlan, ChargeKind, Scene, TakeState
from recoil_core.persistence.protocol import PersistenceBackend
from recoil_core.registry import Registry
from recoil_core.runner import EpisodeRunner, RunOptions, RunReport
from recoil_core.runner.episode import needs_attention
from recoil_core.testing.plans import canonical_plan, canonical_shot
from recoil_core.testing.pytest_plugin import recoil_executable

__all__ = [
    "MoneyCounts",
    "ServerCounts",
    "check_money",
    "every_version",
    "filesystem",
    "persisted_scenes",
    "run_episode",
    "run_recoil",
    "small_plan",
]


class ServerCounts(TypedDict):
    """What a fake provider server counted: creates in all, creates per request fingerprint,
    and each task it holds (id to status)."""

    creates_total: int
    creates_by_fingerprint: Mapping[str, int]
    tasks: Mapping[str, Any]


def small_plan(shots: int = 2, **overrides: Any) -> CanonicalPlan:
    """``shots`` solo-able shots in different locations (one beat each under continuity)."""
    return canonical_plan(
        [
            canonical_shot(f"EP001_SH{i:02d}", i, location_id=f"LOC_{i}", duration_s=4.0)
            for i in range(1, shots + 1)
        ],
        **overrides,
    )


def filesystem(registry: Registry, root: Path) -> PersistenceBackend:
    """The ``filesystem`` backend of ``registry`` with its projects under ``root``."""
    backend: PersistenceBackend = registry.backend("filesystem").factory(
        BackendContext(projects_root=root)
    )
    return backend


def run_episode(
    plan: CanonicalPlan,
    registry: Registry,
    backend: Any,
    env: Mapping[str, str],
    **options: Any,
) -> RunReport:
    """Run ``plan`` in-process to its end (``options`` are :class:`RunOptions` fields;
    polling does not wait unless ``poll_interval_s`` says so)."""
    options.setdefault("poll_interval_s", 0.0)
    runner = EpisodeRunner(
        plan, registry=registry, backend=backend, options=RunOptions(**options), env=env
    )
    return asyncio.run(runner.run())


def run_recoil(
    env: Mapping[str, str], cwd: Path, *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``recoil *args`` to its end; output captured as text, a failure returned."""
    return subprocess.run(
        [recoil_executable(), *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@attrs.define
class MoneyCounts:
    """What one episode (or, summed with :meth:`add`, a campaign) created, billed and kept."""

    takes: int = 0
    succeeded: int = 0
    creates: int = 0
    duplicates: int = 0
    lost_renders: int = 0
    ledger_usd: float = 0.0
    billed_usd: float = 0.0

    def add(self, other: MoneyCounts) -> None:
        """Add ``other``'s counts to these."""
        for field in attrs.fields(MoneyCounts):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


def persisted_scenes(backend: PersistenceBackend, project: str, episode: str) -> list[Scene]:
    """The current version of every scene of the episode."""
    scenes = []
    for scene_id in backend.list_scenes(project, episode):
        scene = backend.load_scene(project, episode, scene_id)
        if scene is not None:
            scenes.append(scene)
    return scenes


def every_version(backend: PersistenceBackend, project: str, episode: str) -> list[Scene]:
    """Every stored version of every scene (an earlier version's paid takes count too)."""
    scenes = []
    for scene_id in backend.list_scenes(project, episode):
        manifest = backend.load_manifest(project, episode, scene_id)
        for entry in manifest.versions if manifest is not None else []:
            scene = backend.load_scene(project, episode, scene_id, entry.version)
            if scene is not None:
                scenes.append(scene)
    return scenes


def check_money(
    server: ServerCounts | Mapping[str, Any],
    billed: Mapping[str, float],
    backend: PersistenceBackend,
    project: str,
    episode: str,
    *,
    complete: bool = True,
) -> MoneyCounts:
    """Assert the money promise for one episode and return the counts.

    ``server`` is what the fake server counted, ``billed`` what it billed per task in USD.
    Each create fingerprint reached the server at most once and every server task belongs
    to exactly one take step (of any scene version); every succeeded take has its render
    and sidecar, with the sidecar's sha256 matching the file; the ledger equals what the
    server billed, job by job; a take not final is reported by ``needs_attention``
    (``complete``: none is left).
    """
    counts = MoneyCounts(creates=server["creates_total"])
    by_fingerprint: Mapping[str, int] = server["creates_by_fingerprint"]
    counts.duplicates = sum(n - 1 for n in by_fingerprint.values() if n > 1)
    assert counts.duplicates == 0, f"duplicate creates: {by_fingerprint}"

    jobs: dict[str, str] = {}
    for scene in every_version(backend, project, episode):
        attention = needs_attention(scene)
        for beat in scene.beats:
            for take in beat.takes:
                counts.takes += 1
                for step in take.workflow.steps:
                    if step.job_id:
                        assert step.job_id not in jobs, f"job {step.job_id} in two takes"
                        jobs[step.job_id] = f"{take.take_id}/{step.step_id}"
                if complete:
                    assert take.is_final, f"{take.take_id} left {take.state.value}"
                if not take.is_final:
                    assert any(line.startswith(take.take_id) for line in attention), (
                        f"{take.take_id} is {take.state.value} but not under attention"
                    )
                if take.state != TakeState.SUCCEEDED:
                    continue
                counts.succeeded += 1
                render = Path(take.render_path or "")
                sidecar = Path(take.sidecar_path or "")
                if not (render.is_file() and sidecar.is_file()):
                    counts.lost_renders += 1
                    continue
                recorded = json.loads(sidecar.read_text())["sha256"]
                assert recorded == hashlib.sha256(render.read_bytes()).hexdigest()
    assert counts.lost_renders == 0
    server_tasks = set(server["tasks"])
    assert server["creates_total"] == len(jobs), "a create no take step knows about"
    assert server_tasks <= set(jobs), (
        f"tasks no take knows about: {sorted(server_tasks - set(jobs))}"
    )

    ledger = backend.read_ledger(project, episode)
    ids = [e.entry_id for e in ledger]
    assert len(ids) == len(set(ids)), "a charge was recorded twice"
    by_job: dict[str, float] = {}
    for entry in ledger:
        assert entry.job_id is not None
        by_job[entry.job_id] = by_job.get(entry.job_id, 0.0) + entry.amount_usd
        if entry.kind == ChargeKind.SUCCEEDED:
            assert entry.amount_usd > 0
    assert by_job.keys() == billed.keys()
    for job_id, amount in billed.items():
        assert by_job[job_id] == pytest.approx(amount)
    counts.ledger_usd = sum(e.amount_usd for e in ledger)
    counts.billed_usd = sum(billed.values())
    assert counts.ledger_usd == pytest.approx(counts.billed_usd)
    return counts
