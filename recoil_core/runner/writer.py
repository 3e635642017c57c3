"""The runner's writer: every take's writes made durable in batches.

Scene saves, renders and ledger appends are blocking file (or database) work. The event
loop hands them to the writer and awaits them; writes that arrive while a batch is being
written and synced wait for the next batch, so at concurrency 100 one commit makes tens
of them durable at once. A batch runs inside the backend's optional ``write_batch()``
(see :class:`~recoil_core.persistence.protocol.PersistenceBackend`); a backend without one
makes each write durable on its own.

No caller is told its write is done before the batch holding it has committed, so the
rule "persist each state before the side effect that follows it" holds per take.

An ``urgent`` write (a take's ``submitting`` state, which a held provider slot and its paid
create wait on) goes into the next batch ahead of the others queued, and that batch holds
urgent writes only: a ``submitting`` write of a new scene is one appended line (see
:mod:`recoil_core.persistence.fs_new_scenes`), so a batch of them commits in a few
milliseconds, while a full batch (renders, sidecars, scene documents) takes several times
that. The others keep their order. Each caller awaits its own write, so no take ever has
two writes queued and reordering across takes changes nothing but who waits.

Where a batch runs: on one writer thread, so the loop never waits on the backend
(PostgreSQL: network round trips; the filesystem: file creates, renames and ``syncfs``,
during which the thread lets go of the interpreter lock and the loop goes on with the
HTTP work). A backend whose writes never block may set ``inline_write_batches = True`` to
have its batches run on the event loop itself, saving the hand-offs of the interpreter
lock; the loop then pauses for one batch at a time, and the jobs queued in one turn of the
loop form one batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

T = TypeVar("T")

MAX_BATCH = 32
"""Writes per batch at most: a burst (a hundred takes starting at once) is committed in
several batches, so the first takes move on while the rest are written."""


@attrs.define(slots=True)
class _Job:
    function: Callable[[], Any]
    future: asyncio.Future[Any]
    outcome: tuple[bool, Any] = (False, None)


class BatchWriter:
    """Runs blocking writes in batches, each inside ``batch()`` when given: on one
    thread, or on the event loop with ``inline``."""

    def __init__(
        self,
        batch: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
        *,
        inline: bool = False,
        name: str = "recoil-writer",
    ) -> None:
        self._batch = batch
        self._inline = inline
        self._name = name
        self._ready = threading.Condition()
        self._pending: list[_Job] = []
        self._urgent: list[_Job] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    async def call(
        self, function: Callable[..., T], /, *args: Any, urgent: bool = False, **kwargs: Any
    ) -> T:
        """Run ``function(*args, **kwargs)`` in the next batch; return once it is durable.

        ``urgent``: ahead of the non-urgent writes queued (see the module docstring).
        Exceptions the function raises come back here; if the batch's commit fails, every
        write in the batch gets that error. A cancelled caller does not stop its write.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        job = _Job(lambda: function(*args, **kwargs), future)
        if self._inline:
            if self._closed:
                raise RuntimeError("the writer is closed")
            (self._urgent if urgent else self._pending).append(job)
            if self._queued() == 1:  # the first of a batch: run it once the loop is free
                loop.call_soon(self._run_inline)
            return await future
        with self._ready:
            if self._closed:
                raise RuntimeError("the writer is closed")
            self._loop = loop
            (self._urgent if urgent else self._pending).append(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            elif self._queued() == 1:
                self._ready.notify()
        return await future

    def _queued(self) -> int:
        return len(self._urgent) + len(self._pending)

    def _next_batch(self) -> list[_Job]:
        """Up to :data:`MAX_BATCH` queued jobs: the urgent ones if any are queued (a batch
        of them only, which commits in a fraction of the time of a full one), else the
        others in order (caller holds the lock)."""
        queue = self._urgent if self._urgent else self._pending
        jobs = queue[:MAX_BATCH]
        del queue[:MAX_BATCH]  # in place: a caller may hold either list
        return jobs

    def _run_inline(self, *, reschedule: bool = True) -> None:
        """Write every job queued since the last batch, on the event loop."""
        jobs = self._next_batch()
        if not jobs:
            return
        try:
            self._write(jobs)
        finally:
            _settle(jobs)  # wakes the callers first: the next batch is queued behind them
            if self._queued() and reschedule:
                asyncio.get_running_loop().call_soon(self._run_inline)

    def close(self) -> None:
        """Finish the writes already handed over, then stop (the thread, if any)."""
        if self._inline:
            self._closed = True
            while self._queued():  # jobs of cancelled callers still get written
                self._run_inline(reschedule=False)
            return
        with self._ready:
            self._closed = True
            self._ready.notify()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._queued() and not self._closed:
                    self._ready.wait()
                if not self._queued():
                    return
                jobs = self._next_batch()
                loop = self._loop
            self._write(jobs)
            if loop is not None:
                # a closed loop (RuntimeError) has nobody waiting any more
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_settle, jobs)

    def _write(self, jobs: list[_Job]) -> None:
        try:
            with self._batch() if self._batch is not None else contextlib.nullcontext():
                for job in jobs:
                    try:
                        job.outcome = (True, job.function())
                    except Exception as exc:  # this write failed; the rest of the batch goes on
                        job.outcome = (False, exc)
        except BaseException as exc:  # the commit failed (or a write died): nothing promised
            for job in jobs:
                job.outcome = (False, exc)
            if self._inline and isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise  # on the loop's own thread: let the interrupt end the run


def _settle(jobs: list[_Job]) -> None:
    for job in jobs:
        if job.future.done():  # the caller was cancelled
            continue
        ok, value = job.outcome
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)
