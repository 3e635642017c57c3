"""A render node: a procrastinate worker whose jobs claim takes and run them, fenced."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from procrastinate import JobContext
from procrastinate import exceptions as procrastinate_errors
from procrastinate.jobs import Status
from recoil_postgres.backend import PostgresBackend
from recoil_postgres.create_guard import create_lock_key
from recoil_postgres.leases import Claim, EpisodeBudget, LeaseLostError, Statement, TakeLeases

from recoil_core.api import (
    FINAL_TAKE_STATES,
    BudgetExhaustedError,
    CreateHeldError,
    LedgerEntry,
    RecoilError,
    Scene,
    SceneVersionConflictError,
    owes,
)
from recoil_procrastinate.config import CRASH_EXIT, QUEUE, TASK, NodeSettings
from recoil_procrastinate.executor import TakeRunner
from recoil_procrastinate.queue import (
    PENDING_JOBS,
    backend_for,
    defer_take,
    ensure_queue_tables,
    make_app,
)

__all__ = ["FencedBackend", "Node", "TakeBudget", "run_node"]

log = logging.getLogger(__name__)


class _Crash:
    """Exits the process at once at the configured point (``RECOIL_WORKER_CRASH_AT``), or
    stops it there (``RECOIL_WORKER_PAUSE_AT``: SIGSTOP; SIGCONT wakes it)."""

    def __init__(self, point: str | None, pause: str | None = None) -> None:
        self.point = point
        self.pause = pause

    def __call__(self, point: str) -> None:
        if point == self.point:
            os._exit(CRASH_EXIT)
        if point == self.pause:
            self.pause = None  # once
            os.kill(os.getpid(), signal.SIGSTOP)

    def downloaded(self, part: Path) -> None:
        """``mid_download``: the job's output was written to its ``.part`` file; cut the
        file to half its bytes, as a process killed while writing it leaves it, and exit
        before it is placed."""
        if self.point == "mid_download":
            with part.open("r+b") as out:
                out.truncate(out.seek(0, os.SEEK_END) // 2)
            os._exit(CRASH_EXIT)

    @property
    def watches_downloads(self) -> bool:
        return self.point == "mid_download"


def _unlock(lock: int) -> Statement:
    return ("SELECT pg_advisory_unlock(%(key)s)", {"key": lock})


class TakeBudget:
    """:class:`EpisodeBudget` bound to one take (through its :class:`FencedBackend`).

    The kernel reserves a take's money, takes the key of its create, then writes
    ``submitting`` before sending it; nothing between reads the database or acts on the
    reservation. So :meth:`reserve` only notes the amount, and the statement that reserves
    it (one conditional UPDATE, as before) goes with the next of those: the key's
    acquisition (one round trip for both), or for a new take, whose key is taken with its
    ``submitting`` write (:meth:`NodeCreateGuard.defer`), that write, which it gates.
    When it does not fit the cap, the key is not kept, nothing is written, and
    :class:`BudgetExhaustedError` stops the take there, as a refused reservation would
    have. A reservation still noted when anything else of the budget is read or written,
    or before another state write, is sent on its own first."""

    def __init__(self, fenced: FencedBackend) -> None:
        self._fenced = fenced

    def reserve(self, amount: Decimal) -> bool:
        self._fenced._reserve += amount
        return True

    def hold(self, amount: Decimal) -> None:
        fenced = self._fenced
        fenced.flush_budget()
        fenced._budget.hold(fenced._claim.take_id, amount, fenced._claim)

    def release(self) -> None:
        """Freed when the job ends, with the lease (one round trip for both; fenced, like
        a state write), or before the next reservation of this take; a take's final state
        write frees it already. A reservation never sent is dropped."""
        self._fenced._reserve = Decimal(0)
        self._fenced._release_hold = not self._fenced._let_go

    def within_cap(self) -> bool:
        self._fenced.flush_budget()
        return self._fenced._budget.within_cap()

    def remaining(self) -> float:
        self._fenced.flush_budget()
        return self._fenced._budget.remaining()


class NodeKeys:
    """The create keys a node process holds, or is taking, across its jobs. An advisory
    lock is re-entrant within its session, and a node's jobs share one session, so the
    database cannot tell two jobs of one node apart (a job still sending a create after
    its lease ran out, and a new job of the same take on the same node): this set does,
    one job at a time per key."""

    def __init__(self) -> None:
        self._held: set[int] = set()
        self._mutex = threading.Lock()

    def take(self, lock: int) -> bool:
        """Mark ``lock`` as this job's: False when another job of the node has it."""
        with self._mutex:
            if lock in self._held:
                return False
            self._held.add(lock)
            return True

    def give(self, lock: int) -> None:
        with self._mutex:
            self._held.discard(lock)


class NodeCreateGuard:
    """The create guard (see :class:`recoil_core.api.CreateGuard`) of the take a node
    holds: each key is a session advisory lock (``recoil_postgres.create_guard``'s key
    and meaning) on the node's lease connection. A new step's key is taken by its
    ``submitting`` write (:meth:`defer`), another's with the take's noted reservation in
    one round trip (:meth:`acquire`); a key goes back with the next statements the node
    sends for the take (its next state write, or the job's end), not in a round trip of
    its own. It goes back only once the kernel settled its create, and holding it a
    little longer only makes another node wait that much longer. :class:`NodeKeys` keeps
    two jobs of one node from holding one key."""

    def __init__(self, fenced: FencedBackend) -> None:
        self._fenced = fenced

    def acquire(self, key: str) -> bool:
        return self._fenced.acquire_create(key)

    def defer(self, key: str) -> bool:
        """Take the key with the step's ``submitting`` write (asked for a step never
        sent): one round trip for the reservation, the key and the write."""
        return self._fenced.defer_create(key)

    def release(self, key: str) -> None:
        self._fenced.release_create(key)


_IDLE_STATES = frozenset({None, "planned"})
"""A take's last fenced states in which nothing of it was sent (a final take's hold is
released with its final state write)."""


class FencedBackend:
    """The backend as the node holding ``claim`` writes through it: a scene write is a
    fenced write of the claimed take's beat (compare-and-set on the lease's epoch and the
    take's last written state); everything else goes to the backend as is. Scenes are
    created by ``recoil run`` before takes are queued, never by a node."""

    write_batch = None  # each fenced write is its own transaction
    inline_write_batches = False

    def __init__(
        self,
        backend: PostgresBackend,
        leases: TakeLeases,
        claim: Claim,
        crash: _Crash,
        scene: tuple[Scene, int] | None = None,
        keys: NodeKeys | None = None,
    ) -> None:
        self._backend = backend
        self._leases = leases
        self._claim = claim
        self._state = claim.state
        self._crash = crash
        self._budget = EpisodeBudget(leases, claim.project, claim.episode)
        self._scene = scene
        self._charges: list[Statement] = []
        """Charges not sent yet: each goes with the next fenced write (before it, whatever
        the fence says), or when the job ends."""
        self._release_hold = False
        self._reserve = Decimal(0)
        """A reservation noted, not sent yet (see :class:`TakeBudget`)."""
        self._keys: set[int] = set()
        """Create keys this job holds (advisory locks on the lease connection)."""
        self._node_keys = keys if keys is not None else NodeKeys()
        self._unlocks: list[int] = []
        """Create keys given back, not sent yet: they go after the next fenced write."""
        self._deferred: tuple[int, str] | None = None
        """A create key (lock, key) to take with the next ``submitting`` write."""
        self._let_go = False
        """The take's hold and lease were released with its final state write (one round
        trip for the three; both fenced): the job's end has nothing left to send."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def load_active(self, project: str, episode: str, scene_id: str) -> tuple[Scene, int] | None:
        """The claimed take's scene as read with the claim (once), else as stored now."""
        found, self._scene = self._scene, None
        claim = self._claim
        if found is not None and (project, episode, scene_id) == (
            claim.project,
            claim.episode,
            claim.scene_id,
        ):
            return found
        return self._backend.load_active(project, episode, scene_id)

    def create_scene(self, project: str, episode: str, scene: Scene) -> int:
        raise RecoilError(
            f"scene {scene.scene_id} is not stored: run `recoil run PLAN --executor "
            "procrastinate` again to write the episode's scenes before nodes work it"
        )

    def save_scene(
        self, project: str, episode: str, scene: Scene, *, expected_version: int
    ) -> None:
        claim = self._claim
        take = next(
            (
                t
                for b in scene.beats
                if b.beat_id == claim.beat_id
                for t in b.takes
                if t.take_id == claim.take_id
            ),
            None,
        )
        new_state = take.state.value if take is not None else self._state or "planned"
        if self._state == "submitting" and new_state == "submitted":
            self._crash("after_create")
        gates: list[Statement] = []
        reserving, deferred = False, None
        releases: list[Statement] = []
        if new_state == "submitting":  # the reservation and the create key gate the write
            reserving, deferred, self._deferred = bool(self._reserve), self._deferred, None
            releases = self._budget_statements(gate=True)
            self._reserve = Decimal(0)  # sent
            if reserving:
                gates.append(releases.pop())
            if deferred is not None:
                gates.append(self._leases.create_key_gate(deferred[0]))
        else:
            self.flush_budget()
        # final, and no job of it can bill any more (the kernel then frees its reservation)
        settles = take is not None and take.state in FINAL_TAKE_STATES and not owes(take)
        if settles:  # nothing of the take can bill any more: let go of it with this write
            self._give_back_all()
        charges = (*self._charges, *releases)
        unlocks = self._unlock_statements()
        lets_go = (
            (
                self._budget.release_statement(claim.take_id, claim),
                self._leases.release_statement(claim),
            )
            if settles
            else ()
        )
        charged = len(self._charges)
        try:
            answers = self._leases.write_take_fenced(
                claim,
                scene,
                expected_state=self._state,
                new_state=new_state,
                expected_version=expected_version,
                before=charges,
                gates=tuple(gates),
                after=(*unlocks, *lets_go),
            )
        except (LeaseLostError, SceneVersionConflictError):
            self._sent(charged, unlocks)  # they ran with the refused write
            self._let_go = self._let_go or settles
            if deferred is not None:  # its gate took the key
                self._give_back(deferred[0])
            raise
        except BaseException:
            if deferred is not None:  # its gate may have run: a session lock outlives a
                self._give_back(deferred[0])  # rollback (unlocking a free key: a no-op)
            raise
        self._sent(charged, unlocks)
        self._let_go = self._let_go or settles
        if deferred is not None:
            if not all(answers):  # nothing was written, and the key was not taken
                self._node_keys.give(deferred[0])
            else:
                self._keys.add(deferred[0])
        if reserving:
            self._reserved(answers[0])  # BudgetExhaustedError: nothing was written
        if deferred is not None and not answers[-1]:
            raise CreateHeldError(deferred[1])  # nothing was written
        self._state = new_state
        if new_state == "submitting":
            self._crash("after_submitting")
        elif new_state == "submitted":
            self._crash("mid_poll")

    def append_ledger(self, entry: LedgerEntry) -> bool:
        """The charge and the move of its money from the take's hold to ``spent``, one
        statement (a charge is a fact: it is recorded whoever holds the lease), sent with
        the next fenced write, before it (the take's state says ``succeeded`` only after
        its charge), or when the job ends. Returns True: a charge made twice (a retry of
        a take whose node died after charging) is recorded once, by its entry id."""
        self._crash("before_charge")
        self._charges.append(self._budget.charge_statement(entry))
        return True

    def _sent(self, charges: int, unlocks: tuple[Statement, ...]) -> None:
        """``charges`` charges and ``unlocks`` unlocks were sent: forget them, and let
        the node's other jobs take those keys now (not before: an unlock sent after
        another job took the key again would undo that job's taking)."""
        del self._charges[:charges]
        for lock in self._unlocks[: len(unlocks)]:
            self._node_keys.give(lock)
        del self._unlocks[: len(unlocks)]

    def _budget_statements(self, *, gate: bool = False) -> list[Statement]:
        """The hold's release asked for, then the reservation noted (a release asked for
        before must not free it; ``gate``: as a gate of a fenced write): statements to
        send now, in this order."""
        statements: list[Statement] = []
        if self._release_hold:
            self._release_hold = False
            statements.append(self._budget.release_statement(self._claim.take_id, self._claim))
        if self._reserve:
            reserve = self._budget.reserve_gate if gate else self._budget.reserve_statement
            statements.append(reserve(self._claim.take_id, self._reserve, self._claim))
        return statements

    def _reserve_answer(self, row: Any) -> None:
        """The row of a reservation sent on its own: LeaseLostError when the claim no
        longer holds the take, BudgetExhaustedError when the amount did not fit (nothing
        was reserved in either case)."""
        reserved, held = (False, True) if row is None else (bool(row[0]), bool(row[1]))
        if not held:
            claim = self._claim
            self._reserve = Decimal(0)
            raise LeaseLostError(
                claim.take_id, claim.worker, claim.epoch, "another worker claimed the take"
            )
        self._reserved(reserved)

    def _reserved(self, fitted: bool) -> None:
        """The answer to a reservation sent: BudgetExhaustedError when it did not fit."""
        self._reserve = Decimal(0)
        if not fitted:
            raise BudgetExhaustedError(remaining=max(0.0, self._budget.remaining()))
        self._crash("after_reservation")

    def flush_budget(self) -> None:
        """Send the hold's release asked for and the reservation noted, if any (one round
        trip); BudgetExhaustedError when the reservation does not fit the cap."""
        reserving = bool(self._reserve)
        statements = self._budget_statements()
        if statements:
            rows = self._leases.together(*statements)
            if reserving:
                self._reserve_answer(rows[-1])

    def acquire_create(self, key: str) -> bool:
        """Take a create key, with the reservation noted (and a release asked for before
        it) in the same round trip: True when taken; BudgetExhaustedError (the key is
        given back) when the reservation does not fit."""
        lock = create_lock_key(self._backend.schema, key)
        if not self._node_keys.take(lock):
            return False  # another job of this node (or this one) holds it
        reserving = bool(self._reserve)
        unlocks = self._unlock_statements()
        try:
            rows = self._leases.together(
                *unlocks,
                *self._budget_statements(),
                ("SELECT pg_try_advisory_lock(%(key)s)", {"key": lock}),
            )
        except BaseException:
            self._give_back(lock)  # it may have been taken before the error
            raise
        self._sent(0, unlocks)
        got = rows[-1] is not None and bool(rows[-1][0])
        if got:
            self._keys.add(lock)
        else:
            self._node_keys.give(lock)
        if reserving:
            try:
                self._reserve_answer(rows[-2])
            except (BudgetExhaustedError, LeaseLostError):
                self.release_create(key)
                raise
        return got

    def defer_create(self, key: str) -> bool:
        """Note a create key to take with the next ``submitting`` write (its gate)."""
        lock = create_lock_key(self._backend.schema, key)
        if self._deferred is not None or not self._node_keys.take(lock):
            return False  # another noted, or held in this node: ask the usual way
        self._deferred = (lock, key)
        return True

    def release_create(self, key: str) -> None:
        """Give a create key back with the next statements sent for the take (a key noted
        and never written is dropped)."""
        lock = create_lock_key(self._backend.schema, key)
        if self._deferred is not None and self._deferred[0] == lock:
            self._deferred = None  # never written: never taken
            self._node_keys.give(lock)
        self._release_lock(lock)

    def _release_lock(self, lock: int) -> None:
        if lock in self._keys:
            self._keys.discard(lock)
            self._give_back(lock)

    def _give_back_all(self) -> None:
        for lock in list(self._keys):
            self._release_lock(lock)

    def _unlock_statements(self) -> tuple[Statement, ...]:
        """The unlocks of the keys given back and not sent yet."""
        return tuple(_unlock(lock) for lock in self._unlocks)

    def _give_back(self, lock: int) -> None:
        """The key is this job's no more: unlocked with the next statements sent, after
        which another job of the node may take it (:meth:`_sent`)."""
        self._unlocks.append(lock)

    @property
    def create_guard(self) -> NodeCreateGuard:
        """Create keys on the lease connection (see :class:`NodeCreateGuard`)."""
        return NodeCreateGuard(self)

    def finish(self, *, holds_lease: bool) -> None:
        """The job ends: its charges not sent yet, then (``holds_lease``) the release of the
        take's hold when it was asked for or nothing of the take can bill (no state
        written yet, or ``planned``: a node killed after its reservation, before
        ``submitting``, left a hold that a retry stopped by the cap would otherwise keep),
        then the lease: one round trip. The hold and lease releases are fenced: only
        while this claim holds the take."""
        statements = list(self._charges)
        if holds_lease and not self._let_go:
            if self._release_hold or self._state in _IDLE_STATES:
                statements.append(self._budget.release_statement(self._claim.take_id, self._claim))
            statements.append(self._leases.release_statement(self._claim))
        self._give_back_all()  # the kernel gives each key back; a cancelled run may not
        unlocks = self._unlock_statements()
        if statements or unlocks:
            self._leases.together(*statements, *unlocks)
        self._sent(len(self._charges), unlocks)
        self._release_hold = False
        self._reserve = Decimal(0)  # noted, never sent: nothing was reserved

    @property
    def let_go(self) -> bool:
        """Whether the take's lease was released with its final state write."""
        return self._let_go

    @property
    def take_budget(self) -> TakeBudget:
        """The shared cap as this take sees it (see ``recoil_core.runner.nodes``)."""
        return TakeBudget(self)


ABORT_POLL_S = 300.0
"""How often a worker asks procrastinate for abort requests of its running jobs."""


class Node:
    """One worker process: its backend, leases, and the take job procrastinate runs."""

    def __init__(self, settings: NodeSettings, take_runner: TakeRunner, worker: str) -> None:
        self.settings = settings
        self.take_runner = take_runner
        self.worker = worker
        self.backend = backend_for(settings)
        self.leases = TakeLeases(self.backend)
        self.crash = _Crash(settings.crash_at, settings.pause_at)
        self.keys = NodeKeys()
        self._host = os.uname().nodename
        self._next_heartbeat = 0.0
        """When the worker's next heartbeat is due (``time.monotonic()``)."""
        self._runs: dict[tuple[str, str], tuple[str | None, dict[str, Any]]] = {}
        self.app = make_app(settings)
        self.app.task(name=TASK, queue=QUEUE, pass_context=True)(self.take_job)

    async def take_job(self, context: JobContext, /, **job: str) -> None:
        settings = self.settings
        claimed = await asyncio.to_thread(
            self.leases.claim_and_load,
            job["project"],
            job["episode"],
            job["take_id"],
            scene_id=job["scene_id"],
            beat_id=job["beat_id"],
            worker=self.worker,
            lease_s=settings.lease_s,
            also=self._heartbeat_due(),
        )
        if claimed is None:  # another live worker holds it: look again when its lease ends
            left = await asyncio.to_thread(
                self.leases.lease_left, job["project"], job["episode"], job["take_id"]
            )
            await defer_take(self.app, job, schedule_in={"seconds": max(left, 0.1)})
            return
        claim = claimed.claim
        self.crash("after_claim")
        run = await self._node_run(job["project"], job["episode"], claimed.run_saved_at)
        if run is None:
            log.warning("no run stored for %s/%s; skipping", job["project"], job["episode"])
            await asyncio.to_thread(self.leases.release, claim)
            return
        fenced = FencedBackend(
            self.backend, self.leases, claim, self.crash, claimed.scene, self.keys
        )
        renewing = asyncio.create_task(self._renew(claim, fenced))
        lost = False
        try:
            outcome = await self.take_runner(
                job,
                run,
                fenced,
                defer_polls=settings.defer_polls,
                resend_after_s=settings.resend_after_s,
                slot_polls_s=settings.slot_polls_s,
                **({"downloaded": self.crash.downloaded} if self.crash.watches_downloads else {}),
            )
        except LeaseLostError as exc:
            lost = True
            log.warning("%s", exc)
            return
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            await asyncio.to_thread(fenced.finish, holds_lease=not lost)
        following, after_s = outcome["job"], outcome["after_s"]
        if following is None:
            return
        if after_s is not None:  # its job still runs (or its lost create may still be on
            # its way from a frozen node): look again later, holding no slot
            delay = max(after_s, settings.poll_s)
            await defer_take(self.app, following, schedule_in={"seconds": delay})
        elif following["take_id"] != job["take_id"]:
            await defer_take(self.app, following)
        # else the same take, left pending (a job outliving --job-timeout, a lost create for
        # a person): the next `recoil run --executor procrastinate` queues it again

    async def _node_run(
        self, project: str, episode: str, saved_at: str | None
    ) -> dict[str, Any] | None:
        """The episode's node run, read once per save (``saved_at``, from the claim)."""
        if saved_at is None:
            return None
        kept = self._runs.get((project, episode))
        if kept is not None and kept[0] == saved_at:
            return kept[1]
        run = await asyncio.to_thread(self.leases.load_node_run, project, episode)
        if run is not None:
            self._runs[(project, episode)] = (saved_at, run)
        return run

    async def _renew(self, claim: Claim, fenced: FencedBackend) -> None:
        while True:
            await asyncio.sleep(self.settings.lease_s / 3)
            if fenced.let_go:
                return  # released with the take's final state
            if not await asyncio.to_thread(self.leases.renew, claim, self.settings.lease_s):
                if not fenced.let_go:
                    log.warning("lease of take %s lost", claim.take_id)
                return

    def _heartbeat_due(self) -> tuple[Statement, ...]:
        """The worker's heartbeat if one is due (it then goes with the caller's statements,
        and the next is due a heartbeat interval later), else nothing."""
        now = time.monotonic()
        if now < self._next_heartbeat:
            return ()
        self._next_heartbeat = now + self.settings.heartbeat_s
        return (self.leases.heartbeat_statement(self.worker, host=self._host, pid=os.getpid()),)

    async def _heartbeat(self) -> None:
        """Heartbeats while no claim carries one (a busy node's go with its claims)."""
        while True:
            due = self._heartbeat_due()
            if due:
                await asyncio.to_thread(self.leases.together, *due)
            await asyncio.sleep(max(0.0, self._next_heartbeat - time.monotonic()))

    def _pending(self) -> int:
        """Take jobs waiting or running, on the lease connection (the queue's tables were
        made when the node started)."""
        (row,) = self.leases.together((PENDING_JOBS, {"task": TASK}))
        return 0 if row is None else int(row[0])

    async def retry_stalled(self) -> int:
        """Put the jobs of workers that stopped sending heartbeats back in the queue."""
        manager = self.app.job_manager
        stalled = await manager.get_stalled_jobs(
            task_name=TASK, seconds_since_heartbeat=self.settings.stalled_s
        )
        retried = 0
        for job in stalled:
            try:
                await manager.retry_job(job)
                retried += 1
            except procrastinate_errors.UniqueViolation:
                # its take is already queued again (the dead worker queued its next poll,
                # or a run queued it): that job resumes the take; this one is done
                assert job.id is not None
                with contextlib.suppress(procrastinate_errors.ConnectorException):
                    await manager.finish_job_by_id_async(
                        job.id, status=Status.ABORTED, delete_job=False
                    )
            except procrastinate_errors.ConnectorException as exc:
                log.warning("stalled job %s not retried: %r", job.id, exc)  # another node did
        return retried

    async def _recover(self) -> None:
        """Retry stalled jobs while the node works (``--once`` too: a dead node's takes
        are not left until the queue runs dry), a few times per ``stalled_s``: a worker
        is found stalled no sooner than that."""
        while True:
            await self.retry_stalled()
            await asyncio.sleep(max(self.settings.poll_s, self.settings.stalled_s / 3))

    def _worker_options(
        self, *, concurrency: int, queues: tuple[str, ...], wait: bool
    ) -> dict[str, Any]:
        return {
            "queues": list(queues) or [QUEUE],
            "name": self.worker,
            "concurrency": concurrency,
            "wait": wait,
            "install_signal_handlers": wait,
            "fetch_job_polling_interval": self.settings.poll_s,
            # a take job is never aborted (a take is stopped through its lease): look for
            # abort requests rarely, not every 5 s
            "abort_job_polling_interval": ABORT_POLL_S,
            "update_heartbeat_interval": self.settings.heartbeat_s,
            "stalled_worker_timeout": self.settings.stalled_s,
            "delete_jobs": "successful",
        }

    async def run(self, *, concurrency: int, once: bool, queues: tuple[str, ...]) -> None:
        await asyncio.to_thread(ensure_queue_tables, self.settings.dsn)
        sides = [asyncio.create_task(self._heartbeat())]
        try:
            async with self.app.open_async():
                sides.append(asyncio.create_task(self._recover()))
                while True:  # once: drain, until no take job is left waiting or running
                    if once:
                        await self.retry_stalled()
                    options = self._worker_options(
                        concurrency=concurrency, queues=queues, wait=not once
                    )
                    try:
                        await self.app.run_worker_async(**options)
                    except procrastinate_errors.ConnectorException as exc:
                        # e.g. a job this node was too slow to report on was retried by
                        # another node meanwhile (its take is fenced): work on
                        log.warning("worker loop restarted after a queue error: %r", exc)
                        continue
                    if not once or await asyncio.to_thread(self._pending) == 0:
                        return
                    await asyncio.sleep(self.settings.poll_s)
        finally:
            for side in sides:
                side.cancel()
            await asyncio.gather(*sides, return_exceptions=True)
            close = getattr(self.take_runner, "aclose", None)
            if close is not None:
                await close()
            await asyncio.to_thread(self.leases.leave, self.worker)
            self.leases.close()
            self.backend.close()


async def run_node(
    settings: NodeSettings,
    take_runner: TakeRunner,
    *,
    concurrency: int,
    once: bool,
    queues: tuple[str, ...],
    worker: str,
) -> None:
    await Node(settings, take_runner, worker).run(concurrency=concurrency, once=once, queues=queues)
