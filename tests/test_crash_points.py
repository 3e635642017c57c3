"""Kill the runner at every persistence boundary, resume, and check nobody paid twice.

The real runner, the real Seedance provider and a fake Ark server on 127.0.0.1; the only
stand-in is a backend proxy that "dies" (raises and refuses every later call, like a
killed process) just before or just after its N-th write. For every N a second, fresh
runner resumes the episode until it completes, then the money invariants are checked
(``check_money`` of ``tests/_money.py``, shared with the other money tests).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ark_money import (
    PLUGINS,
    check_money,
    filesystem,
    persisted_scenes,
    run_episode,
    small_plan,
)
from recoil_seeddance.testing.fake_ark import FakeArkServer

from recoil_core.model import CanonicalPlan, StepState, TakeState
from recoil_core.persistence.protocol import PersistenceBackend
from recoil_core.registry import Registry, build_registry
from recoil_core.runner import RunReport
from recoil_core.settings import PluginSelection

SENTINEL_KEY = "SENTINEL-ark-key-money-5c1e0b7a"
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
    """A backend that dies just before (``after=False``) its ``at``-th write, or just after
    that write became durable (``after=True``).

    The runner makes its writes inside the backend's ``write_batch()``, where a write is
    durable only when the batch commits; so "after" dies as the batch holding the write
    exits, having committed (with the rest of its batch). "Before" dies inside the batch:
    the writes made before it in that batch are dropped, as a real kill would drop them.
    """

    def __init__(self, inner: PersistenceBackend, *, at: int, after: bool) -> None:
        self._inner = inner
        self._at = at
        self._after = after
        self.writes = 0
        self.dead = False
        self._batches = 0
        self._dying = False

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
                if self._batches:  # durable when the batch commits: die then
                    self._dying = True
                    return result
                self.dead = True
                raise Killed(f"killed after write {self._at} ({name})")
            return result

        return write

    @contextlib.contextmanager
    def write_batch(self) -> Iterator[None]:
        if self.dead:
            raise Killed("dead before a write batch")
        self._batches += 1
        try:
            with self._inner.write_batch():  # type: ignore[attr-defined]
                yield
        finally:
            self._batches -= 1
        if self._dying:
            self.dead = True
            raise Killed(f"killed after write {self._at} (its batch committed)")


@pytest.fixture(scope="module")
def registry() -> Registry:
    return build_registry(PluginSelection(load_only=PLUGINS))


@pytest.fixture
def ark() -> Iterator[FakeArkServer]:
    with FakeArkServer(api_key=SENTINEL_KEY) as server:
        yield server


def ark_env(ark: FakeArkServer, **extra: str) -> dict[str, str]:
    return {"ARK_API_KEY": ark.api_key, "ARK_BASE_URL": ark.base_url, **extra}


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
    # per take: submitting (creating its scene), job id, render with charge, success; and
    # the derivation manifest
    assert writes >= 9
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


def killed_in_first_write(
    root: Path, registry: Registry, ark: FakeArkServer, *, after: bool
) -> tuple[CanonicalPlan, PersistenceBackend]:
    """Run a one-shot plan (max_takes=1) that dies in its first write (``after``: once that
    write's batch committed); return the plan and a fresh backend on what was left."""
    plan = small_plan(1)
    dying = DyingBackend(filesystem(registry, root), at=1, after=after)
    with pytest.raises(Killed):
        run_episode(plan, registry, dying, ark_env(ark), max_takes=1)
    return plan, filesystem(registry, root)


def test_take_killed_in_its_first_write_leaves_nothing_and_max_takes_1_still_renders(
    tmp_path: Path, registry: Registry, ark: FakeArkServer
) -> None:
    """A new take is first written as ``submitting``, right before its create; dying inside
    that write (the run's first) leaves no take behind, and the re-run's take is the beat's
    one attempt."""
    plan, backend = killed_in_first_write(tmp_path / "p", registry, ark, after=False)
    assert persisted_scenes(backend, plan.project, plan.episode_id) == []
    assert ark.creates_total == 0

    report = run_episode(plan, registry, backend, ark_env(ark), max_takes=1)

    assert report.complete
    (scene,) = persisted_scenes(backend, plan.project, plan.episode_id)
    assert [t.state for t in scene.beats[0].takes] == [TakeState.SUCCEEDED]
    assert ark.creates_total == 1
    check_money(ark, backend, plan.project, plan.episode_id)


def test_reserved_take_on_disk_is_cancelled_and_replaced_within_max_takes_1(
    tmp_path: Path, registry: Registry, ark: FakeArkServer
) -> None:
    """A take saved while still ``reserved`` (another beat of its scene wrote the scene while
    it waited for a provider slot, or an older Recoil wrote it) never reached Ark: it is
    cancelled and must not use the beat's one attempt."""
    plan, backend = killed_in_first_write(tmp_path / "p", registry, ark, after=True)
    (scene_id,) = backend.list_scenes(plan.project, plan.episode_id)
    scene, version = backend.load_active(plan.project, plan.episode_id, scene_id)
    (take,) = scene.beats[0].takes
    assert take.state == TakeState.SUBMITTING and ark.creates_total == 0
    take.state = TakeState.RESERVED  # as it was before its submitting save
    for step in take.workflow.steps:
        step.state, step.submitting_at = StepState.PLANNED, None
    backend.save_scene(plan.project, plan.episode_id, scene, expected_version=version)

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
