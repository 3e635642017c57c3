"""Polls of many tasks answered by one list request.

A run keeps up to its concurrency of tasks in flight, and each is polled every few
seconds. Instead of one ``GET /tasks/{id}`` per task per interval, polls that are waiting
at the same moment are answered together by one ``GET /tasks?filter.task_ids=...`` (Ark
returns the same task objects there). Fewer requests count against the account's rate
limit, and each poll costs a fraction of the CPU.

The list is only a shortcut: a task it does not show, or shows without everything needed
to bill it exactly (a final task without its usage, model or resolution), is asked for
on its own with GET, and so is every task of a batch whose list request failed. A lone
poll always goes straight to GET.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from recoil_core.api import JobStatus

log = logging.getLogger("recoil_seeddance")

GetOne = Callable[[str], Awaitable[JobStatus]]
ListMany = Callable[[Sequence[str]], Awaitable[Mapping[str, JobStatus]]]


class PollBatcher:
    """Coalesces concurrent :meth:`poll` calls into list requests of at most ``max_ids``.

    One round runs at a time: polls that arrive while a round's requests are out wait for
    the next round, which starts as soon as that one is answered. So a poll waits at most
    one round longer than it would alone, and the requests a run makes no longer grow
    with the number of tasks in flight.
    """

    def __init__(self, get_one: GetOne, list_many: ListMany, *, max_ids: int) -> None:
        self._get_one = get_one
        self._list_many = list_many
        self._max_ids = max(2, max_ids)
        self._waiting: dict[str, list[asyncio.Future[JobStatus]]] = {}
        self._rounds: asyncio.Task[None] | None = None

    async def poll(self, job_id: str) -> JobStatus:
        future: asyncio.Future[JobStatus] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(job_id, []).append(future)
        if self._rounds is None or self._rounds.done():
            self._rounds = asyncio.create_task(self._run_rounds(), name="seeddance-polls")
        return await future

    async def aclose(self) -> None:
        """Stop the rounds; polls still waiting are cancelled."""
        rounds, self._rounds = self._rounds, None
        if rounds is not None and not rounds.done():
            rounds.cancel()
            await asyncio.gather(rounds, return_exceptions=True)
        for futures in self._waiting.values():
            for future in futures:
                future.cancel()
        self._waiting.clear()

    async def _run_rounds(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, {}
            try:
                ids = list(batch)
                chunks = [ids[i : i + self._max_ids] for i in range(0, len(ids), self._max_ids)]
                await asyncio.gather(*(self._answer(chunk, batch) for chunk in chunks))
            finally:  # cancelled or broken: no poll is left waiting forever
                for futures in batch.values():
                    for future in futures:
                        future.cancel()

    async def _answer(
        self, ids: list[str], batch: Mapping[str, list[asyncio.Future[JobStatus]]]
    ) -> None:
        found: Mapping[str, JobStatus] = {}
        if len(ids) > 1:
            try:
                found = await self._list_many(ids)
            except Exception as exc:  # the list is a shortcut; each task is asked for alone
                log.info("polling %d tasks one by one: the list request failed (%s)", len(ids), exc)
                found = {}
        missing = [job_id for job_id in ids if job_id not in found]
        answers: list[Any] = await asyncio.gather(
            *(self._get_one(job_id) for job_id in missing), return_exceptions=True
        )
        results: dict[str, Any] = dict(found)
        results.update(zip(missing, answers, strict=True))
        for job_id in ids:
            outcome = results[job_id]
            for future in batch[job_id]:
                if future.done():  # the caller gave up (cancelled)
                    continue
                if isinstance(outcome, asyncio.CancelledError):
                    future.cancel()
                elif isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
