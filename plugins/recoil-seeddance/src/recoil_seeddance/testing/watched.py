"""The fake Ark server announcing every request it answers, so tests synchronise on what a
``recoil`` run does at the provider instead of on the clock.

:class:`WatchedArk` wakes whoever waits on its ``changed`` condition after each answer and
can hold creates (``hold_creates``: a create that made a task waits for ``release`` before
its answer goes back, so the run sending it is known to be inside that create);
:func:`wait_for` and :func:`wait_for_any` wait on it for a condition or for the runs' exits.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from recoil_core.testing.fake_http import Answer
from recoil_seeddance.testing.fake_ark import TASKS_PATH, FakeArkServer

__all__ = ["HOLD_LIMIT_S", "WatchedArk", "wait_for", "wait_for_any"]

HOLD_LIMIT_S = 30.0
"""The longest a held create waits for ``release`` (a test that forgets it still ends)."""


class WatchedArk(FakeArkServer):
    """The fake Ark server, announcing every answered request and able to hold creates."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.changed = threading.Condition()
        self.hold_creates = False
        self.release = threading.Event()
        self.creates_5xx = 0
        self.fingerprints: dict[str, str] = {}
        """Task id -> the fingerprint of the create that made it."""
        self.refusals = 0
        """Requests answered 401 (a wrong key)."""
        self.refusals_mark = 0
        """``refusals`` when the current run started (see :meth:`mark_run`)."""
        self.refused_creates = 0
        """Creates answered 401."""
        self.creates_after_refusal = 0
        """Creates answered 401 that arrived after the server had refused the same run once
        (a create already on its way at that moment counts too: an upper bound on the
        creates the CLI sent after it saw a refusal)."""
        self._made = threading.local()

    def _validate_and_make(self, body: Mapping[str, Any]) -> Any:
        task = super()._validate_and_make(body)
        self._made.task = True
        with self.changed:
            self.fingerprints[task.id] = task.fingerprint
        return task

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        self._made.task = False
        refused_before = self.refusals > self.refusals_mark
        answer = super().handle(method, raw_path, headers, body)
        is_create = method == "POST" and urlsplit(raw_path).path.rstrip("/") == TASKS_PATH
        with self.changed:
            if is_create and answer[0] >= 500:
                self.creates_5xx += 1
            if answer[0] == 401:
                self.refusals += 1
                self.refused_creates += is_create
                self.creates_after_refusal += is_create and refused_before
            self.changed.notify_all()
        if is_create and self.hold_creates and self._made.task:  # a create that made a task
            self.release.wait(HOLD_LIMIT_S)
        return answer

    def counters(self) -> tuple[int, int, int]:
        stats = self.stats()
        requests = stats["requests"]
        return stats["creates_total"], requests.get("get", 0), requests.get("media", 0)

    def mark_run(self) -> None:
        """A run starts: refusals from now on are this run's."""
        with self.changed:
            self.refusals_mark = self.refusals

    def created(self) -> set[str]:
        """Every task the server made (deleted ones included)."""
        stats = self.stats()
        return set(stats["tasks"]) | set(stats["deleted_task_ids"])


def wait_for(ark: WatchedArk, proc: subprocess.Popen[str], ready: Callable[[], bool]) -> bool:
    """Wait until ``ready()`` (re-checked on every request the server answers) or the run
    exits; True when ready while the run is still alive."""
    with ark.changed:
        while not ready():
            if proc.poll() is not None:
                return False
            ark.changed.wait(0.05)
    return proc.poll() is None


def wait_for_any(
    ark: WatchedArk, procs: list[subprocess.Popen[str]], ready: Callable[[], bool]
) -> list[subprocess.Popen[str]]:
    """Wait until ``ready()`` (re-checked on every request the server answers) or every run
    exited; the runs still alive (none when ``ready()`` never held)."""
    with ark.changed:
        while not ready():
            if all(proc.poll() is not None for proc in procs):
                return []
            ark.changed.wait(0.05)
    return [proc for proc in procs if proc.poll() is None]
