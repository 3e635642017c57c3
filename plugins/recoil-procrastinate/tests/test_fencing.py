"""Leases and fencing: a take's state is written only by the worker holding its lease."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from recoil_postgres.backend import PostgresBackend
from recoil_postgres.leases import Claim, EpisodeBudget, LeaseLostError, TakeLeases
from recoil_procrastinate.node import FencedBackend, NodeKeys, _Crash

from recoil_core.api import BudgetExhaustedError, CreateHeldError, Scene, StepState, TakeState
from recoil_core.testing.conformance import EPISODE, PROJECT, charge, coverage_scene


@pytest.fixture
def backend(database_dsn: str, tmp_path: Path) -> Iterator[PostgresBackend]:
    with PostgresBackend(database_dsn, renders_root=tmp_path) as store:
        yield store


def _scene_and_take(backend: PostgresBackend) -> tuple[str, str, str]:
    scene = coverage_scene()
    backend.create_scene(PROJECT, EPISODE, scene)
    beat = scene.beats[0]
    return scene.scene_id, beat.beat_id, beat.takes[0].take_id


def _claimed(backend: PostgresBackend) -> tuple[str, str, TakeLeases, Claim]:
    """The test scene's take, claimed by worker ``a`` for a minute: scene id, take id,
    the leases and the claim."""
    scene_id, beat_id, take_id = _scene_and_take(backend)
    leases = TakeLeases(backend)
    claim = leases.claim_take(
        PROJECT, EPISODE, take_id, scene_id=scene_id, beat_id=beat_id, worker="a", lease_s=60.0
    )
    assert claim is not None
    return scene_id, take_id, leases, claim


def test_a_write_with_a_stale_epoch_is_refused_and_changes_nothing(
    backend: PostgresBackend,
) -> None:
    scene_id, beat_id, take_id = _scene_and_take(backend)
    leases = TakeLeases(backend)
    where = {"scene_id": scene_id, "beat_id": beat_id}
    first = leases.claim_take(PROJECT, EPISODE, take_id, **where, worker="a", lease_s=0.0)
    assert first is not None and first.epoch == 1
    # the lease expired at once: worker b takes the take over under a new epoch
    second = leases.claim_take(PROJECT, EPISODE, take_id, **where, worker="b", lease_s=60.0)
    assert second is not None and second.epoch == 2
    before = backend.load_active(PROJECT, EPISODE, scene_id)
    loaded = backend.load_active(PROJECT, EPISODE, scene_id)
    assert before is not None and loaded is not None

    stale, version = loaded
    stale.beats[0].takes[0].state = TakeState.FAILED
    stale.beats[0].takes[0].workflow.steps[0].state = StepState.FAILED
    with pytest.raises(LeaseLostError, match="b holds it now at epoch 2"):
        leases.write_take_fenced(
            first, stale, expected_state=None, new_state="failed", expected_version=version
        )

    after = backend.load_active(PROJECT, EPISODE, scene_id)
    assert after is not None and after == before
    assert after[0].beats[0].takes[0].state == TakeState.SUCCEEDED
    assert leases.refusals(PROJECT, EPISODE) == 1
    # the holder's own write goes through, and a second write expecting the old state does not
    fresh, version = after
    fresh.beats[0].takes[0].error = "checked"
    leases.write_take_fenced(
        second, fresh, expected_state=None, new_state="succeeded", expected_version=version
    )
    with pytest.raises(LeaseLostError, match="moved on to succeeded"):
        leases.write_take_fenced(
            second, fresh, expected_state=None, new_state="succeeded", expected_version=version
        )
    written = backend.load_active(PROJECT, EPISODE, scene_id)
    assert written is not None and written[0].beats[0].takes[0].error == "checked"


def test_a_live_lease_keeps_other_workers_out_until_it_is_released(
    backend: PostgresBackend,
) -> None:
    scene_id, beat_id, take_id = _scene_and_take(backend)
    leases = TakeLeases(backend)
    where = {"scene_id": scene_id, "beat_id": beat_id}
    held = leases.claim_take(PROJECT, EPISODE, take_id, **where, worker="a", lease_s=60.0)
    assert held is not None
    assert leases.claim_take(PROJECT, EPISODE, take_id, **where, worker="b", lease_s=60.0) is None
    assert leases.lease_left(PROJECT, EPISODE, take_id) > 0
    assert leases.renew(held, 60.0)
    leases.release(held)
    assert leases.lease_left(PROJECT, EPISODE, take_id) == 0
    taken = leases.claim_take(PROJECT, EPISODE, take_id, **where, worker="b", lease_s=60.0)
    assert taken is not None and taken.epoch == held.epoch + 1
    assert not leases.renew(held, 60.0)


def test_a_fenced_write_replaces_only_its_beat(backend: PostgresBackend) -> None:
    scene_id, _take_id, leases, claim = _claimed(backend)
    found = backend.load_active(PROJECT, EPISODE, scene_id)
    assert found is not None
    ours, version = found
    ours.beats[0].takes[0].error = "ours"
    leases.write_take_fenced(
        claim, ours, expected_state=None, new_state="succeeded", expected_version=version
    )
    written = backend.load_active(PROJECT, EPISODE, scene_id)
    assert written is not None
    assert written[0].beats[0].takes[0].error == "ours"


def _taken_over(
    backend: PostgresBackend, *, cap: float
) -> tuple[str, str, EpisodeBudget, Claim, Claim]:
    """A take claimed by worker a, whose lease ran out at once, then by worker b; the
    episode capped at ``cap`` (nothing spent). Scene id, take id, budget and both claims."""
    scene_id, beat_id, take_id = _scene_and_take(backend)
    leases = TakeLeases(backend)
    budget = EpisodeBudget(leases, PROJECT, EPISODE)
    budget.set_cap(cap, count_ledger=False)
    where = {"scene_id": scene_id, "beat_id": beat_id}
    stale = leases.claim_take(PROJECT, EPISODE, take_id, **where, worker="a", lease_s=0.0)
    holder = leases.claim_take(PROJECT, EPISODE, take_id, **where, worker="b", lease_s=60.0)
    assert stale is not None and holder is not None
    return scene_id, take_id, budget, stale, holder


def test_the_shared_cap_refuses_a_reservation_past_it_and_a_stale_node_frees_nothing(
    backend: PostgresBackend,
) -> None:
    _scene_id, take_id, budget, stale, holder = _taken_over(backend, cap=1.0)

    assert budget.reserve(take_id, Decimal("0.7"))
    assert not budget.reserve("another_take", Decimal("0.4"))  # 0.7 + 0.4 > 1.0
    assert budget.state() == (Decimal("1.0"), Decimal(0), Decimal("0.7"))

    entry = charge(take_id, 0.25)
    assert budget.charge(entry)
    assert not budget.charge(entry)  # the same charge again: written once, counted once
    assert budget.state() == (Decimal("1.0"), Decimal("0.25"), Decimal("0.45"))
    assert [e.entry_id for e in backend.read_ledger(PROJECT, EPISODE)] == [entry.entry_id]

    budget.release(take_id, stale)  # lost its lease: the hold is b's
    assert budget.state() == (Decimal("1.0"), Decimal("0.25"), Decimal("0.45"))
    budget.release(take_id, holder)
    assert budget.state() == (Decimal("1.0"), Decimal("0.25"), Decimal(0))
    assert budget.reserve("another_take", Decimal("0.75"))


def _submitting(backend: PostgresBackend, scene_id: str) -> tuple[Scene, int]:
    """The scene with its first take moved to ``submitting`` (not written)."""
    found = backend.load_active(PROJECT, EPISODE, scene_id)
    assert found is not None
    scene, version = found
    scene.beats[0].takes[0].state = TakeState.SUBMITTING
    return scene, version


@pytest.mark.parametrize("cap", [1.0, 0.3])
def test_a_submitting_write_sends_the_reservation_and_create_key_with_it(
    backend: PostgresBackend, cap: float
) -> None:
    scene_id, take_id, leases, claim = _claimed(backend)
    budget = EpisodeBudget(leases, PROJECT, EPISODE)
    budget.set_cap(cap, count_ledger=False)
    fenced = FencedBackend(backend, leases, claim, _Crash(None))
    key = f"{take_id}/video"
    assert fenced.take_budget.reserve(Decimal("0.4"))  # noted: nothing sent yet
    assert fenced.create_guard.defer(key)
    assert budget.state() == (Decimal(repr(cap)), Decimal(0), Decimal(0))
    scene, version = _submitting(backend, scene_id)
    with PostgresBackend(backend._dsn, renders_root=backend.renders_root) as other:
        if cap < 0.4:  # does not fit: nothing written, nothing reserved, no key kept
            with pytest.raises(BudgetExhaustedError):
                fenced.save_scene(PROJECT, EPISODE, scene, expected_version=version)
            assert budget.state() == (Decimal("0.3"), Decimal(0), Decimal(0))
            assert other.create_guard.acquire(key)
            stored = backend.load_active(PROJECT, EPISODE, scene_id)
            assert stored is not None and stored[0].beats[0].takes[0].state != TakeState.SUBMITTING
            return
        fenced.save_scene(PROJECT, EPISODE, scene, expected_version=version)
        assert budget.state() == (Decimal("1.0"), Decimal(0), Decimal("0.4"))
        stored = backend.load_active(PROJECT, EPISODE, scene_id)
        assert stored is not None and stored[0].beats[0].takes[0].state == TakeState.SUBMITTING
        assert not other.create_guard.acquire(key)  # held from the write on
        fenced.create_guard.release(key)
        assert not other.create_guard.acquire(key)  # given back with the next statements
        fenced.take_budget.release()
        fenced.finish(holds_lease=True)
        assert other.create_guard.acquire(key)
        assert budget.state() == (Decimal("1.0"), Decimal(0), Decimal(0))


def test_a_submitting_write_whose_create_key_is_held_elsewhere_writes_nothing(
    backend: PostgresBackend,
) -> None:
    scene_id, take_id, leases, claim = _claimed(backend)
    fenced = FencedBackend(backend, leases, claim, _Crash(None))
    key = f"{take_id}/video"
    scene, version = _submitting(backend, scene_id)
    with PostgresBackend(backend._dsn, renders_root=backend.renders_root) as other:
        assert other.create_guard.acquire(key)
        assert fenced.create_guard.defer(key)
        with pytest.raises(CreateHeldError):
            fenced.save_scene(PROJECT, EPISODE, scene, expected_version=version)
        stored = backend.load_active(PROJECT, EPISODE, scene_id)
        assert stored is not None and stored[0].beats[0].takes[0].state != TakeState.SUBMITTING
        assert leases.refusals(PROJECT, EPISODE) == 0  # not a lost lease
        other.create_guard.release(key)
        fenced.finish(holds_lease=True)
        assert other.create_guard.acquire(key)  # the refused gate kept nothing


def test_a_final_state_write_frees_the_hold_and_the_lease_with_it(
    backend: PostgresBackend,
) -> None:
    scene_id, take_id, leases, claim = _claimed(backend)  # its take: succeeded, charged
    budget = EpisodeBudget(leases, PROJECT, EPISODE)
    budget.set_cap(1.0, count_ledger=False)
    assert budget.reserve(take_id, Decimal("0.4"))
    fenced = FencedBackend(backend, leases, claim, _Crash(None))
    found = backend.load_active(PROJECT, EPISODE, scene_id)
    assert found is not None
    fenced.save_scene(PROJECT, EPISODE, found[0], expected_version=found[1])
    assert fenced.let_go
    assert budget.state() == (Decimal("1.0"), Decimal(0), Decimal(0))
    assert leases.lease_left(PROJECT, EPISODE, take_id) == 0  # free for any worker
    fenced.take_budget.release()  # what the kernel does next changes nothing
    fenced.finish(holds_lease=True)
    assert budget.state() == (Decimal("1.0"), Decimal(0), Decimal(0))


def test_two_jobs_of_one_node_never_hold_the_same_create_key(backend: PostgresBackend) -> None:
    # a node's jobs share one session, where an advisory lock is re-entrant: a job still
    # holding a key (its lease ran out mid-create) keeps it from a new job of the same take
    scene_id, beat_id, take_id = _scene_and_take(backend)
    leases = TakeLeases(backend)
    keys = NodeKeys()
    where = {"scene_id": scene_id, "beat_id": beat_id}
    stale = leases.claim_take(PROJECT, EPISODE, take_id, **where, worker="a", lease_s=0.0)
    assert stale is not None
    first = FencedBackend(backend, leases, stale, _Crash(None), keys=keys)
    key = f"{take_id}/video"
    assert first.create_guard.defer(key)
    scene, version = _submitting(backend, scene_id)
    first.save_scene(PROJECT, EPISODE, scene, expected_version=version)
    again = leases.claim_take(PROJECT, EPISODE, take_id, **where, worker="a", lease_s=60.0)
    assert again is not None and again.epoch == stale.epoch + 1
    second = FencedBackend(backend, leases, again, _Crash(None), keys=keys)
    assert not second.create_guard.defer(key)
    assert not second.create_guard.acquire(key)
    first.create_guard.release(key)
    first.finish(holds_lease=False)
    assert second.create_guard.acquire(key)
    with PostgresBackend(backend._dsn, renders_root=backend.renders_root) as other:
        assert not other.create_guard.acquire(key)
        second.create_guard.release(key)
        second.finish(holds_lease=True)
        assert other.create_guard.acquire(key)


def test_a_node_that_lost_its_lease_reserves_and_holds_nothing(backend: PostgresBackend) -> None:
    # the new holder frees the take's hold whole when it is done: money a stale node
    # reserved after that would be held for ever
    scene_id, take_id, budget, stale, holder = _taken_over(backend, cap=10.0)
    leases = budget.leases
    nothing = (Decimal("10.0"), Decimal(0), Decimal(0))

    assert not budget.reserve(take_id, Decimal("1"), stale)
    budget.hold(take_id, Decimal("1"), stale)
    assert budget.state() == nothing
    fenced = FencedBackend(backend, leases, stale, _Crash(None))
    assert fenced.take_budget.reserve(Decimal("1"))
    with pytest.raises(LeaseLostError):
        fenced.take_budget.within_cap()  # sends the noted reservation
    assert fenced.take_budget.reserve(Decimal("1"))
    assert fenced.create_guard.defer(f"{take_id}/video")
    scene, version = _submitting(backend, scene_id)
    with pytest.raises(LeaseLostError):  # the gated write: refused by the fence
        fenced.save_scene(PROJECT, EPISODE, scene, expected_version=version)
    assert budget.state() == nothing
    assert leases.refusals(PROJECT, EPISODE) == 1
    assert budget.reserve(take_id, Decimal("1"), holder)  # the holder's own
