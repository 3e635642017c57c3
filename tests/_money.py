"""The money promise of an episode run against the fake Ark server, and how tests drive it.

``check_money`` asserts nobody paid twice and nothing paid for was lost; the rest runs the
real runner in-process (``run_episode``) or the real ``recoil`` CLI (``cli_env``,
``run_recoil``) against a :class:`~recoil_seeddance.testing.fake_ark.FakeArkServer`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
from recoil_seeddance.models import model_info
from recoil_seeddance.pricing import price_table
from recoil_seeddance.testing.fake_ark import FakeArkServer

from recoil_core.interfaces import BackendContext
from recoil_core.model import CanonicalPlan, ChargeKind, Scene, TakeState
from recoil_core.persistence.protocol import PersistenceBackend
from recoil_core.registry import Registry
from recoil_core.runner import EpisodeRunner, RunOptions, RunReport
from recoil_core.runner.episode import needs_attention
from recoil_core.testing.plans import canonical_plan, canonical_shot
from recoil_core.testing.pytest_plugin import recoil_executable

PLUGINS = ("filesystem", "grouping", "video", "i2v", "r2v-multi", "seeddance")

# The fake Ark's task list is consistent at once: in-process runs need not wait Ark's
# default 15 s between the two searches that settle a lost create (read when the
# seeddance plugin registers its spec, so before any registry of these tests is built).
os.environ.setdefault("RECOIL_SEEDDANCE_FIND_CONSISTENCY_S", "0.05")


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
    return registry.backend("filesystem").factory(BackendContext(projects_root=root))


def run_episode(
    plan: CanonicalPlan,
    registry: Registry,
    backend: Any,
    env: Mapping[str, str],
    **options: Any,
) -> RunReport:
    options.setdefault("provider", "seeddance")
    options.setdefault("poll_interval_s", 0.0)
    runner = EpisodeRunner(
        plan, registry=registry, backend=backend, options=RunOptions(**options), env=env
    )
    return asyncio.run(runner.run())


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


def billed_usd(ark: FakeArkServer) -> dict[str, float]:
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


def persisted_scenes(backend: PersistenceBackend, project: str, episode: str) -> list[Scene]:
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
    ark: FakeArkServer,
    backend: PersistenceBackend,
    project: str,
    episode: str,
    *,
    complete: bool = True,
) -> MoneyCounts:
    """Assert the money promise for one episode and return the counts.

    Each create fingerprint reached the server at most once and every server task belongs
    to exactly one take step (of any scene version); every succeeded take has its render
    and sidecar, with the
    sidecar's sha256 matching the file; the ledger equals what the server billed, job by
    job; a take not final is reported by ``needs_attention`` (``complete``: none is left).
    """
    stats = ark.stats()
    counts = MoneyCounts(creates=stats["creates_total"])
    counts.duplicates = sum(n - 1 for n in stats["creates_by_fingerprint"].values() if n > 1)
    assert counts.duplicates == 0, f"duplicate creates: {stats['creates_by_fingerprint']}"

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
    server_tasks = set(stats["tasks"])
    assert stats["creates_total"] == len(jobs), "a create no take step knows about"
    assert server_tasks <= set(jobs), (
        f"tasks no take knows about: {sorted(server_tasks - set(jobs))}"
    )

    billed = billed_usd(ark)
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
