"""Kill the runner at every persistence boundary, resume, and check nobody paid twice.

The real runner, the real Seedance provider and a fake Ark server on 127.0.0.1; the only
stand-in is a backend proxy that "dies" (raises and refuses every later call, like a
killed process) just before or just after its N-th write. For every N a second, fresh
runner resumes the episode until it completes, then the money invariants are checked
(``check_money``, also used by the other money tests).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
from recoil_seeddance.models import model_info
from recoil_seeddance.pricing import price_table

from recoil_core.interfaces import BackendContext
from recoil_core.model import CanonicalPlan, ChargeKind, Scene, TakeState
from recoil_core.persistence.protocol import PersistenceBackend
from recoil_core.registry import Registry, build_registry
from recoil_core.runner import EpisodeRunner, RunOptions, RunReport
from recoil_core.runner.episode import needs_attention
from recoil_core.settings import PluginSelection
from recoil_core.testing.fake_ark import FakeArkServer
from recoil_core.testing.plans import canonical_plan, canonical_shot

SENTINEL_KEY = "SENTINEL-ark-key-money-5c1e0b7a"
PLUGINS = ("filesystem", "grouping", "video", "i2v", "r2v-multi", "seeddance")
WRITES = frozenset(
    {
        "create_scene",
        "save_scene",
        "stage_candidate",
        "conform",
        "append_ledger",
        "save_derivation",
    }
)


class Killed(BaseException):
    """The simulated process death (a BaseException: nothing in the runner may swallow it)."""


class DyingBackend:
    """A backend that dies just before (``after=False``) or just after its ``at``-th write."""

    def __init__(self, inner: PersistenceBackend, *, at: int, after: bool) -> None:
        self._inner = inner
        self._at = at
        self._after = after
        self.writes = 0
        self.dead = False

    def __getattr__(self, name: str) -> Any:
        if self.dead:
            raise Killed(f"dead before {name}")
        attr = getattr(self._inner, name)
        if name not in WRITES:
            return attr

        def write(*args: Any, **kwargs: Any) -> Any:
            if self.dead:
                raise Killed(f"dead before {name}")
            self.writes += 1
            if self.writes == self._at and not self._after:
                self.dead = True
                raise Killed(f"killed before write {self._at} ({name})")
            result = attr(*args, **kwargs)
            if self.writes == self._at and self._after:
                self.dead = True
                raise Killed(f"killed after write {self._at} ({name})")
            return result

        return write


@pytest.fixture(scope="module")
def registry() -> Registry:
    return build_registry(PluginSelection(load_only=PLUGINS))


@pytest.fixture
def ark() -> Iterator[FakeArkServer]:
    with FakeArkServer(api_key=SENTINEL_KEY) as server:
        yield server


def ark_env(ark: FakeArkServer, **extra: str) -> dict[str, str]:
    return {"ARK_API_KEY": ark.api_key, "ARK_BASE_URL": ark.base_url, **extra}


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


# ---------------------------------------------------------------------- the invariants


@attrs.define
class MoneyCounts:
    takes: int = 0
    succeeded: int = 0
    creates: int = 0
    duplicates: int = 0
    lost_renders: int = 0
    ledger_usd: float = 0.0
    billed_usd: float = 0.0


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
    to exactly one take step; every succeeded take has its render and sidecar, with the
    sidecar's sha256 matching the file; the ledger equals what the server billed, job by
    job; a take not final is reported by ``needs_attention`` (``complete``: none is left).
    """
    stats = ark.stats()
    counts = MoneyCounts(creates=stats["creates_total"])
    counts.duplicates = sum(n - 1 for n in stats["creates_by_fingerprint"].values() if n > 1)
    assert counts.duplicates == 0, f"duplicate creates: {stats['creates_by_fingerprint']}"

    jobs: dict[str, str] = {}
    for scene in persisted_scenes(backend, project, episode):
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


def unknown_steps(backend: PersistenceBackend, project: str, episode: str) -> list[Any]:
    return [
        step
        for scene in persisted_scenes(backend, project, episode)
        for beat in scene.beats
        for take in beat.takes
        if take.state == TakeState.UNKNOWN
        for step in take.workflow.steps
        if step.job_id is None and step.seed is not None
    ]


def resume_like_a_user(
    plan: CanonicalPlan,
    registry: Registry,
    backend: PersistenceBackend,
    ark: FakeArkServer,
    **options: Any,
) -> RunReport:
    """Re-run; if takes end ``unknown`` (killed between saving ``submitting`` and the create
    reaching Ark), check the provider's side as the attention message asks (no task with the
    step's seed), then re-run with ``resubmit_unknown``."""
    report = run_episode(plan, registry, backend, ark_env(ark), **options)
    if report.complete:
        return report
    unknown = unknown_steps(backend, plan.project, plan.episode_id)
    assert unknown, f"incomplete without unknown takes: {report.attention}"
    seeds = {ark.task(tid)["seed"] for tid in ark.task_ids()}
    assert not {step.seed for step in unknown} & seeds, "an unknown take's task exists"
    return run_episode(plan, registry, backend, ark_env(ark), resubmit_unknown=True, **options)


# ---------------------------------------------------------------------- the crash points


def count_writes(plan: CanonicalPlan, registry: Registry, root: Path) -> int:
    with FakeArkServer(api_key=SENTINEL_KEY) as ark:
        backend = DyingBackend(filesystem(registry, root), at=0, after=False)
        report = run_episode(plan, registry, backend, ark_env(ark), concurrency=1)
        assert report.complete
        return backend.writes


@pytest.mark.parametrize("after", [False, True], ids=["before-write", "after-write"])
def test_killed_at_every_write_resumes_without_paying_twice_or_losing_a_render(
    tmp_path: Path, registry: Registry, after: bool
) -> None:
    plan = small_plan(2)
    writes = count_writes(plan, registry, tmp_path / "count")
    assert writes >= 10  # scenes, reserve, submitting, job id, charge, success per take
    for at in range(1, writes + 1):
        root = tmp_path / f"at{at}"
        with FakeArkServer(api_key=SENTINEL_KEY) as ark:
            dying = DyingBackend(filesystem(registry, root), at=at, after=after)
            with pytest.raises(Killed):
                run_episode(plan, registry, dying, ark_env(ark), concurrency=1)
            backend = filesystem(registry, root)
            report = resume_like_a_user(plan, registry, backend, ark, concurrency=1)
            assert report.complete, f"write {at}: {report.attention or report.take_counts}"
            counts = check_money(ark, backend, plan.project, plan.episode_id)
            assert counts.succeeded == 2, f"write {at}"
            assert counts.creates == sum(
                1
                for s in persisted_scenes(backend, plan.project, plan.episode_id)
                for b in s.beats
                for t in b.takes
                for st in t.workflow.steps
                if st.job_id
            )


def test_take_killed_before_its_paid_call_is_replaced_within_max_takes_1(
    tmp_path: Path, registry: Registry, ark: FakeArkServer
) -> None:
    """A new scene is written with its reserved take (the run's 1st write); dying right after
    it leaves a take that never reached Ark. It is cancelled and must not use the beat's one
    attempt."""
    plan = small_plan(1)
    root = tmp_path / "p"
    dying = DyingBackend(filesystem(registry, root), at=1, after=True)
    with pytest.raises(Killed):
        run_episode(plan, registry, dying, ark_env(ark), max_takes=1)
    backend = filesystem(registry, root)
    (scene,) = persisted_scenes(backend, plan.project, plan.episode_id)
    assert [t.state for t in scene.beats[0].takes] == [TakeState.RESERVED]
    assert ark.creates_total == 0

    report = run_episode(plan, registry, backend, ark_env(ark), max_takes=1)

    assert report.complete
    (scene,) = persisted_scenes(backend, plan.project, plan.episode_id)
    states = [t.state for t in scene.beats[0].takes]
    assert states == [TakeState.CANCELLED, TakeState.SUCCEEDED]
    assert ark.creates_total == 1
    check_money(ark, backend, plan.project, plan.episode_id)


def test_leftover_partial_download_of_a_killed_run_is_removed_on_resume(
    tmp_path: Path, registry: Registry, ark: FakeArkServer
) -> None:
    plan = small_plan(1)
    root = tmp_path / "p"
    backend = filesystem(registry, root)
    renders = Path(backend.renders_dir(plan.project, plan.episode_id))
    leftover = renders / ".EP001_SH01_take_0.video.999999.part"
    leftover.write_bytes(b"half a video")

    report = run_episode(plan, registry, backend, ark_env(ark))

    assert report.complete
    assert not leftover.exists()
    assert sorted(p.name for p in renders.iterdir()) == [
        "EP001_SH1_take1.mp4",
        "EP001_SH1_take1.mp4.json",
    ]


def test_resubmit_unknown_looks_the_task_up_again_before_paying_for_a_second_one(
    tmp_path: Path, registry: Registry, ark: FakeArkServer
) -> None:
    """The create was made but its answer lost, and the lookup failed then: ``unknown``.
    A later ``--resubmit-unknown`` finds the task now and adopts it instead of creating."""
    plan = small_plan(1)
    backend = filesystem(registry, tmp_path / "p")
    ark.inject("create", "drop")
    ark.inject("list", "status", status_code=400)

    first = run_episode(plan, registry, backend, ark_env(ark))

    assert not first.complete and first.take_counts == {"unknown": 1}
    assert ark.creates_total == 1
    second = run_episode(plan, registry, backend, ark_env(ark), resubmit_unknown=True)
    assert second.complete
    assert ark.creates_total == 1
    counts = check_money(ark, backend, plan.project, plan.episode_id)
    assert (counts.succeeded, counts.duplicates) == (1, 0)
