"""A fake Ark (Seedance) task API on 127.0.0.1 for tests and benchmarks, with fault knobs.

In-process::

    with FakeArkServer(api_key="k", queue_s=0.0) as ark:
        ...  # point ARK_BASE_URL at ark.base_url, ARK_API_KEY at ark.api_key
        ark.inject("create", "drop")  # the next create is made, but its response is lost
        assert ark.stats()["creates_total"] == 1

As a separate process (prints its base URL, one line, on stdout, then serves until
SIGTERM/SIGINT)::

    python -m recoil_seeddance.testing.fake_ark --port 0 --print-port --api-key k --latency-ms 50

A parent process reads counters from ``GET <base_url>/_fake/stats``, changes knobs with
``POST /_fake/knobs`` (a JSON object of knob values) and adds faults with
``POST /_fake/faults`` (a JSON object of :meth:`FakeArkServer.inject` arguments).

Task life follows the real Ark rules, with the server's clocks injectable (``clock`` for
task progression, ``wall_clock`` for ``created_at``/``updated_at`` and the list window):

- A task is ``queued`` until it starts ``running``: it starts at the first look at it (a GET,
  a list, a DELETE) that comes after it was polled once, or at least ``queue_s / 2`` seconds
  after creation (so with the default ``queue_s=0`` it is ``running`` from the first look on;
  a test that needs a cancellable ``queued`` task sets ``queue_s`` and never polls it, or
  sets ``hold_queued``, which keeps every queued task queued until it is set false).
- It finishes on the first poll (a GET, or a list naming it in ``filter.task_ids``) that is
  both its ``polls_to_finish``-th and at least ``queue_s`` seconds after creation (a later
  list or DELETE also finishes it once both hold). ``never_finish`` keeps it ``running``.
- ``DELETE /tasks/{id}`` depends on the status: ``queued`` becomes ``cancelled`` (200);
  ``running`` cannot be cancelled (400 ``OperationDenied.InvalidState``; the task goes on to
  finish and be billed); ``cancelled`` cannot be deleted again (same 400); a finished task
  (``succeeded``, ``failed``, ``expired``; the fake never expires a task) is deleted from
  history (later GET: 404 ``task_not_found``; list: gone) while its bill stands in
  ``stats()``. ``stats()`` counts
  ``finished_tasks_deleted`` (ids in ``deleted_task_ids``), ``cancels_refused`` and
  ``cancelled_deletes_refused``. Cancelled tasks are purged 24 h (wall clock) after the cancel.
- A succeeded task's video URL is signed afresh by each GET of the task (an old URL
  answers 403 ``Request has expired``, knob ``expired_media_urls``); the video itself is
  kept 24 h (wall clock) after the task ended, then every URL answers 404 ``NoSuchKey``
  (:meth:`FakeArkServer.pass_time` ages the tasks for a test).
- List (``GET /tasks``) answers ``{"total", "items"}`` newest first, filtered by
  ``filter.model`` (exactly the string the create sent), ``filter.status``,
  ``filter.service_tier`` and ``filter.task_ids`` (a poll of each named task). Only tasks
  created in the last 7 days (wall clock) are listable; GET by id still finds older ones.
  List items are thinner than a GET: ``id``, ``model``, ``status``, ``seed``, ``created_at``,
  ``updated_at``, ``usage``, ``content`` (``video_url`` when succeeded), ``service_tier``,
  ``generate_audio``, ``safety_identifier``, and the error as ``failure_reason``; no
  ``resolution``, ``ratio`` or ``duration``. A GET answers the full task (error as ``error``).
- ``safety_identifier`` (a string of at most 64 characters; longer or not a string: 400
  ``InvalidParameter``) is accepted at create, stored and echoed on GET and list items.

Prompt markers choose per-task outcomes: ``[[moderate-output]]`` (failed with
``OutputVideoSensitiveContentDetected``, not billed), ``[[moderate-output-billed]]``
(same, billed), ``[[moderate-input]]`` (create answers 400
``InputTextSensitiveContentDetected``), ``[[never-finish]]`` (stays running),
``[[fail]]`` (failed with ``InternalServiceError``).
Succeeded tasks bill ``usage.completion_tokens = width * height * (24 * duration + 1) // 1024``.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import secrets
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from recoil_core.testing.fake_http import (
    Answer,
    DropConnection,
    FakeService,
    FaultQueue,
    serve_until_signalled,
    set_knobs,
)
from recoil_core.testing.fake_http import json_answer as _json

__all__ = ["DIMENSIONS", "MEDIA_RETENTION_S", "FakeArkServer", "Fault", "billed_tokens", "main"]

Op = Literal["create", "get", "list", "delete", "media"]
FaultKind = Literal["status", "drop", "malformed", "slow"]

TASKS_PATH = "/api/v3/contents/generations/tasks"

LIST_WINDOW_S = 7 * 24 * 3600
"""Only tasks created this many seconds ago or less are listable (GET by id still works)."""
MEDIA_RETENTION_S = 24 * 3600
"""A succeeded task's video is deleted this many seconds after the task ended: every URL
of it, fresh or not, then answers 404."""
CANCELLED_PURGE_S = 24 * 3600
"""Cancelled tasks are purged from history this many seconds after the cancel."""
SAFETY_IDENTIFIER_MAX = 64
MAX_REFERENCE_IMAGES_V2 = 9
"""Seedance 2.0 takes at most this many reference images in one request (400 past it)."""
FINISHED = frozenset({"succeeded", "failed", "expired"})
# Ark documents no error code for a DELETE the task's status forbids (a running or an
# already cancelled task). OperationDenied.InvalidState is the code Ark's error table uses
# for an operation on a resource in the wrong state (a context cache or file being
# updated); the fake answers it with HTTP 400, as a refused request, not as a 403 that
# clients read as a refused API key.
DELETE_REFUSED_CODE = "OperationDenied.InvalidState"

DIMENSIONS: Mapping[str, Mapping[str, tuple[int, int]]] = {
    "480p": {
        "16:9": (864, 480),
        "4:3": (736, 544),
        "1:1": (640, 640),
        "3:4": (544, 736),
        "9:16": (480, 864),
        "21:9": (960, 416),
    },
    "720p": {
        "16:9": (1280, 720),
        "4:3": (1112, 834),
        "1:1": (960, 960),
        "3:4": (834, 1112),
        "9:16": (720, 1280),
        "21:9": (1470, 630),
    },
    "1080p": {
        "16:9": (1920, 1080),
        "4:3": (1664, 1248),
        "1:1": (1440, 1440),
        "3:4": (1248, 1664),
        "9:16": (1080, 1920),
        "21:9": (2206, 946),
    },
}
"""Output size per resolution and ratio; ``adaptive`` bills as 16:9."""

KNOWN_MODELS = frozenset(
    {
        "seedance-1-0-pro-250528",
        "seedance-1-0-pro-fast-251015",
        "seedance-1-0-lite-t2v-250428",
        "seedance-1-0-lite-i2v-250428",
        "seedance-1-5-pro-251215",
        "dreamina-seedance-2-0-260128",
        "dreamina-seedance-2-0-fast-260128",
    }
)


def billed_tokens(resolution: str, ratio: str, duration: int) -> int:
    """Output tokens the fake bills for a succeeded clip."""
    sizes = DIMENSIONS.get(resolution, DIMENSIONS["720p"])
    width, height = sizes.get(ratio, sizes["16:9"])
    return width * height * (24 * duration + 1) // 1024


@dataclass
class Fault:
    """A scripted misbehaviour for the next ``times`` requests of one operation.

    ``status``: answer ``status_code`` with an Ark error body (``code``); on create, a
    5xx is answered after the task was made (an ambiguous create), a 4xx before; with
    ``before_create`` a 5xx is answered before anything was made (a lost create that
    made nothing: only a search can tell the client so).
    ``drop``: close the connection without answering (on create: after making the task).
    ``malformed``: answer 200 with a truncated JSON body (on create: after making the task).
    ``slow``: wait ``delay_s`` before answering normally (on create: after making the task).
    """

    op: Op
    kind: FaultKind
    times: int = 1
    status_code: int = 500
    code: str = "InternalServiceError"
    retry_after: float | None = None
    delay_s: float = 0.0
    before_create: bool = False


@dataclass
class Knobs:
    """Behaviour switches, changeable at runtime through :meth:`FakeArkServer.set`."""

    latency_s: float = 0.0
    queue_s: float = 0.0
    polls_to_finish: int = 1
    never_finish: bool = False
    hold_queued: bool = False
    """While true, queued tasks stay queued (the account's queue is full)."""
    output_moderation: bool = False
    moderation_billed: bool = False
    expired_media_urls: int = 0
    """How many of each task's media URLs answer 403 (a GET of the task then issues a fresh one)."""
    media_not_ready: int = 0
    """How many first downloads of each task answer 400 ``video_not_ready``."""
    media_size: int = 4096
    page_size_max: int = 100


@dataclass
class _Task:
    id: str
    model: str
    content: list[Any]
    seed: int
    resolution: str
    ratio: str
    duration: int
    generate_audio: bool | None
    service_tier: str | None
    safety_identifier: str | None
    fingerprint: str
    outcome: str
    created_at: int
    created_clock: float
    polls: int = 0
    status: str = "queued"
    updated_at: int = 0
    tokens: int = 0
    error_code: str | None = None
    media_gen: int = 0
    expired_gens: set[int] = field(default_factory=set)
    downloads: int = 0

    def _common_json(self, base_url: str) -> dict[str, Any]:
        """The fields both a GET and a list item carry."""
        body: dict[str, Any] = {
            "id": self.id,
            "model": self.model,
            "status": self.status,
            "seed": self.seed,
            "created_at": self.created_at,
            "updated_at": self.updated_at or self.created_at,
        }
        if self.generate_audio is not None:
            body["generate_audio"] = self.generate_audio
        if self.service_tier is not None:
            body["service_tier"] = self.service_tier
        if self.safety_identifier is not None:
            body["safety_identifier"] = self.safety_identifier
        if self.status == "succeeded":
            body["content"] = {"video_url": f"{base_url}/_media/{self.id}/{self.media_gen}.mp4"}
        if self.tokens:
            body["usage"] = {"completion_tokens": self.tokens, "total_tokens": self.tokens}
        return body

    def _error_json(self) -> dict[str, str] | None:
        if self.error_code is None:
            return None
        return {"code": self.error_code, "message": f"fake: {self.error_code}"}

    def as_json(self, base_url: str) -> dict[str, Any]:
        """The task as a GET answers it: everything, the error as ``error``."""
        body = self._common_json(base_url)
        body["resolution"] = self.resolution
        body["ratio"] = self.ratio
        body["duration"] = self.duration
        error = self._error_json()
        if error is not None:
            body["error"] = error
        return body

    def as_list_item(self, base_url: str) -> dict[str, Any]:
        """The task as a list item: no resolution, ratio or duration; the error as
        ``failure_reason``."""
        body = self._common_json(base_url)
        error = self._error_json()
        if error is not None:
            body["failure_reason"] = error
        return body


class _HttpError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


_Drop = DropConnection
"""Close the connection without an answer."""


_MARKER_OUTCOMES = (
    ("[[moderate-output-billed]]", "moderated_billed"),
    ("[[moderate-output]]", "moderated"),
    ("[[never-finish]]", "never"),
    ("[[fail]]", "fail"),
)


class FakeArkServer(FakeService):
    """A fake Ark API on 127.0.0.1 (random free port by default), served from a thread."""

    def __init__(
        self,
        *,
        api_key: str = "fake-ark-key",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        **knobs: Any,
    ) -> None:
        self.api_key = api_key
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._knobs = Knobs()
        set_knobs(self._knobs, knobs, "fake Ark")
        self._faults: FaultQueue[Fault] = FaultQueue()
        self._tasks: dict[str, _Task] = {}
        self._ids = itertools.count(1)
        self._instance = secrets.token_hex(4)
        self._creates_total = 0
        self._creates_by_fingerprint: dict[str, int] = {}
        self._requests: dict[str, int] = {}
        self._tokens_by_task: dict[str, int] = {}
        self._media_auth_headers = 0
        self._deleted_task_ids: list[str] = []
        self._cancels_refused = 0
        self._cancelled_deletes_refused = 0
        self._cancelled_purged = 0
        super().__init__(port=port, name="fake-ark")

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        """What a client uses as ``ARK_BASE_URL`` (ends in ``/api/v3``)."""
        return f"http://127.0.0.1:{self.port}/api/v3"

    # ------------------------------------------------------------------ knobs and faults

    def set(self, **knobs: Any) -> None:
        """Change knobs (see :class:`Knobs`) while serving."""
        with self._lock:
            set_knobs(self._knobs, knobs, "fake Ark")

    def pass_time(self, seconds: float) -> None:
        """As if ``seconds`` of wall-clock time passed for every task known now: their
        ``created_at``/``updated_at`` move back (so a video kept 24 h, the 7-day list
        window and the cancelled-task purge see them that much older)."""
        with self._lock:
            shift = int(seconds)
            for task in self._tasks.values():
                task.created_at -= shift
                if task.updated_at:
                    task.updated_at -= shift

    def inject(
        self,
        op: Op,
        kind: FaultKind,
        *,
        times: int = 1,
        status_code: int = 500,
        code: str | None = None,
        retry_after: float | None = None,
        delay_s: float = 0.0,
        before_create: bool = False,
    ) -> None:
        """Script a fault for the next ``times`` requests of ``op`` (see :class:`Fault`)."""
        if code is None:
            code = {429: "RateLimitExceeded", 400: "InvalidParameter"}.get(
                status_code, "InternalServiceError"
            )
        fault = Fault(op, kind, times, status_code, code, retry_after, delay_s, before_create)
        self._faults.add(fault)

    def _take_fault(self, op: Op) -> Fault | None:
        return self._faults.take(op)

    # ------------------------------------------------------------------ counters

    def stats(self) -> dict[str, Any]:
        """Counters: creates, per-fingerprint creates, tokens billed (deleted tasks' bills
        included), requests, tasks still in history, and what DELETEs did: finished tasks
        erased from history (``finished_tasks_deleted``, ids in ``deleted_task_ids``),
        cancels refused because the task was running (``cancels_refused``), deletes refused
        because the task was already cancelled (``cancelled_deletes_refused``) and cancelled
        tasks purged after 24 h (``cancelled_tasks_purged``)."""
        with self._lock:
            return {
                "creates_total": self._creates_total,
                "creates_by_fingerprint": dict(self._creates_by_fingerprint),
                "tokens_billed_total": sum(self._tokens_by_task.values()),
                "tokens_by_task": dict(self._tokens_by_task),
                "requests": dict(self._requests),
                "media_requests_with_auth": self._media_auth_headers,
                "tasks": {tid: task.status for tid, task in self._tasks.items()},
                "finished_tasks_deleted": len(self._deleted_task_ids),
                "deleted_task_ids": list(self._deleted_task_ids),
                "cancels_refused": self._cancels_refused,
                "cancelled_deletes_refused": self._cancelled_deletes_refused,
                "cancelled_tasks_purged": self._cancelled_purged,
            }

    @property
    def creates_total(self) -> int:
        """How many tasks were created (including those whose response was dropped)."""
        with self._lock:
            return self._creates_total

    def task(self, task_id: str) -> dict[str, Any]:
        """The task as the API shows it (without advancing it)."""
        with self._lock:
            return self._tasks[task_id].as_json(self.root_url)

    def task_ids(self) -> list[str]:
        """Ids of the tasks it holds, oldest first."""
        with self._lock:
            return list(self._tasks)

    @staticmethod
    def fingerprint(body: Mapping[str, Any]) -> str:
        """sha256 of the create fields that make two requests the same generation."""
        keys = ("model", "content", "seed", "resolution", "ratio", "duration", "generate_audio")
        material = json.dumps({k: body.get(k) for k in keys}, sort_keys=True)
        return hashlib.sha256(material.encode()).hexdigest()

    # ------------------------------------------------------------------ request handling

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        """Answer one request: (status, headers, body). Raises _Drop to close silently."""
        url = urlsplit(raw_path)
        path = url.path.rstrip("/")
        controlled = self.control(method, path, body)
        if controlled is not None:
            return controlled
        op = _op_for(method, path)
        if op is None:
            return _json(404, _error_body("NotFound", f"no route {method} {path}"))
        with self._lock:
            self._requests[op] = self._requests.get(op, 0) + 1
            latency = self._knobs.latency_s
        if latency > 0:
            time.sleep(latency)
        if op == "media":
            return self._media(path, headers)
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return _json(
                401, _error_body("AuthenticationError", "the API key is missing or invalid")
            )
        fault = self._take_fault(op)
        try:
            if op == "create":
                return self._create(body, fault)
            if fault is not None:
                _apply_fault(fault)
            if op == "get":
                return self._get(path.rsplit("/", 1)[1], fault)
            if op == "list":
                return self._list(parse_qs(url.query), fault)
            return self._delete(path.rsplit("/", 1)[1])
        except _HttpError as err:
            return _json(err.status, _error_body(err.code, err.message), err.headers)

    def _create(self, raw: bytes, fault: Fault | None) -> Answer:
        if (
            fault is not None
            and fault.kind == "status"
            and (fault.status_code < 500 or fault.before_create)
        ):
            raise _fault_error(fault)
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise _HttpError(400, "InvalidParameter", "the request body is not JSON") from exc
        task = self._validate_and_make(body)
        if fault is not None:
            if fault.kind == "status":
                raise _fault_error(fault)
            if fault.kind == "drop":
                raise _Drop
            if fault.kind == "malformed":
                return 200, {"Content-Type": "application/json"}, b'{"id": "' + task.id.encode()
            time.sleep(fault.delay_s)
        return _json(200, {"id": task.id})

    def _validate_and_make(self, body: Mapping[str, Any]) -> _Task:
        model = body.get("model")
        if model not in KNOWN_MODELS:
            raise _HttpError(
                404, "InvalidEndpointOrModel.NotFound", f"model {model!r} does not exist"
            )
        content = body.get("content")
        if not isinstance(content, list) or not content:
            raise _HttpError(400, "InvalidParameter", "content must be a non-empty list")
        roles: list[str] = []
        prompt = ""
        for index, item in enumerate(content):
            if item.get("type") == "text":
                prompt += str(item.get("text", ""))
            elif item.get("type") == "image_url":
                role = item.get("role")
                url = (item.get("image_url") or {}).get("url")
                if role not in ("first_frame", "last_frame", "reference_image") or not url:
                    raise _HttpError(
                        400, "InvalidParameter", f"content[{index}]: role and url are required"
                    )
                roles.append(role)
            else:
                raise _HttpError(400, "InvalidParameter", f"content[{index}]: unknown type")
        is_v2 = str(model).startswith("dreamina-seedance-2")
        if is_v2 and "reference_image" in roles and ({"first_frame", "last_frame"} & set(roles)):
            raise _HttpError(
                400, "InvalidParameter", "first/last frame cannot be mixed with reference media"
            )
        if is_v2 and roles.count("reference_image") > MAX_REFERENCE_IMAGES_V2:
            raise _HttpError(
                400,
                "InvalidParameter",
                f"at most {MAX_REFERENCE_IMAGES_V2} reference images, got "
                f"{roles.count('reference_image')}",
            )
        if is_v2 and body.get("service_tier") is not None:
            raise _HttpError(400, "InvalidParameter", "service_tier is not supported")
        safety_identifier = body.get("safety_identifier")
        if safety_identifier is not None and (
            not isinstance(safety_identifier, str) or len(safety_identifier) > SAFETY_IDENTIFIER_MAX
        ):
            raise _HttpError(
                400,
                "InvalidParameter",
                f"safety_identifier must be a string of at most {SAFETY_IDENTIFIER_MAX} characters",
            )
        if "[[moderate-input]]" in prompt:
            raise _HttpError(
                400, "InputTextSensitiveContentDetected", "the prompt may contain sensitive content"
            )
        outcome = next((o for marker, o in _MARKER_OUTCOMES if marker in prompt), "succeed")
        seed = body.get("seed", -1)
        duration = int(body.get("duration", 5))
        with self._lock:
            task_id = f"cgt-{self._instance}-{next(self._ids):06d}"
            now = int(self._wall_clock())
            task = _Task(
                id=task_id,
                model=str(model),
                content=list(content),
                seed=int(seed) if seed is not None and int(seed) >= 0 else 1234,
                resolution=str(body.get("resolution", "720p")),
                ratio=str(body.get("ratio", "16:9")),
                duration=duration,
                generate_audio=body.get("generate_audio"),
                service_tier=body.get("service_tier"),
                safety_identifier=safety_identifier,
                fingerprint=self.fingerprint(body),
                outcome=outcome,
                created_at=now,
                created_clock=self._clock(),
            )
            self._tasks[task_id] = task
            self._creates_total += 1
            self._creates_by_fingerprint[task.fingerprint] = (
                self._creates_by_fingerprint.get(task.fingerprint, 0) + 1
            )
        return task

    def _advance(self, task: _Task, *, count_poll: bool) -> None:
        """Move a task along its life (caller holds the lock).

        A queued task starts running at a look that comes after an earlier poll, or once
        ``queue_s / 2`` seconds have passed; it finishes at a look where it has had
        ``polls_to_finish`` polls and ``queue_s`` seconds have passed (never, with
        ``never_finish`` or ``[[never-finish]]``). ``count_poll``: this look is a poll.
        """
        if task.status not in ("queued", "running"):
            return
        knobs = self._knobs
        age = self._clock() - task.created_clock
        if knobs.hold_queued and task.status == "queued":
            return
        if task.status == "queued" and (task.polls >= 1 or age >= knobs.queue_s / 2):
            task.status = "running"
            task.updated_at = int(self._wall_clock())
        if count_poll:
            task.polls += 1
        if task.outcome == "never" or knobs.never_finish:
            return
        if task.polls < knobs.polls_to_finish or age < knobs.queue_s:
            return
        task.updated_at = int(self._wall_clock())
        tokens = billed_tokens(task.resolution, task.ratio, task.duration)
        outcome = task.outcome
        if outcome == "succeed" and knobs.output_moderation:
            outcome = "moderated_billed" if knobs.moderation_billed else "moderated"
        if outcome == "succeed":
            task.status, task.tokens = "succeeded", tokens
        elif outcome in ("moderated", "moderated_billed"):
            task.status, task.error_code = "failed", "OutputVideoSensitiveContentDetected"
            task.tokens = tokens if outcome == "moderated_billed" else 0
        else:
            task.status, task.error_code = "failed", "InternalServiceError"
        if task.tokens:
            self._tokens_by_task[task.id] = task.tokens

    def _purge_cancelled(self) -> None:
        """Drop cancelled tasks 24 h (wall clock) after their cancel (caller holds the lock)."""
        now = self._wall_clock()
        for task_id in [
            t.id
            for t in self._tasks.values()
            if t.status == "cancelled" and now - t.updated_at >= CANCELLED_PURGE_S
        ]:
            del self._tasks[task_id]
            self._cancelled_purged += 1

    def _poll(self, task: _Task) -> None:
        """A client asked for the task's state (a GET, or a list naming it): move it along,
        counting the poll, and sign a fresh media URL if the last one expired (caller holds
        the lock)."""
        self._advance(task, count_poll=True)
        if task.media_gen in task.expired_gens:
            task.media_gen += 1

    def _get(self, task_id: str, fault: Fault | None) -> Answer:
        with self._lock:
            self._purge_cancelled()
            task = self._tasks.get(task_id)
            if task is None:
                raise _HttpError(404, "task_not_found", f"task {task_id} not found")
            self._poll(task)
            payload = task.as_json(self.root_url)
        if fault is not None and fault.kind == "malformed":
            return 200, {"Content-Type": "application/json"}, json.dumps(payload).encode()[:-7]
        return _json(200, payload)

    def _list(self, query: Mapping[str, list[str]], fault: Fault | None) -> Answer:
        def one(name: str, default: str = "") -> str:
            return query.get(name, [default])[0]

        page_num = max(1, int(one("page_num", "1")))
        page_size = max(1, min(int(one("page_size", "10")), self._knobs.page_size_max))
        model = one("filter.model")
        status = one("filter.status")
        service_tier = one("filter.service_tier")
        ids = set(query.get("filter.task_ids", []))
        with self._lock:
            self._purge_cancelled()
            oldest = self._wall_clock() - LIST_WINDOW_S
            listable = [t for t in self._tasks.values() if t.created_at >= oldest]
            if ids:  # a list naming tasks asks for their state: that is a poll of each
                tasks = [t for t in listable if t.id in ids]
                for task in tasks:
                    self._poll(task)
            else:
                tasks = listable
                for task in tasks:
                    self._advance(task, count_poll=False)
            tasks.sort(key=lambda t: (t.created_at, t.id), reverse=True)
            chosen = [
                t
                for t in tasks
                if (not model or t.model == model)
                and (not status or t.status == status)
                and (not service_tier or t.service_tier == service_tier)
            ]
            page = chosen[(page_num - 1) * page_size : page_num * page_size]
            items = [t.as_list_item(self.root_url) for t in page]
        body = json.dumps({"items": items, "total": len(chosen)}).encode()
        if fault is not None and fault.kind == "malformed":
            body = body[:-5]
        return 200, {"Content-Type": "application/json"}, body

    def _delete(self, task_id: str) -> Answer:
        """Cancel a queued task; refuse a running or cancelled one; erase a finished one from
        history (its bill stands)."""
        with self._lock:
            self._purge_cancelled()
            task = self._tasks.get(task_id)
            if task is None:
                raise _HttpError(404, "task_not_found", f"task {task_id} not found")
            self._advance(task, count_poll=False)
            if task.status == "queued":
                task.status = "cancelled"
                task.updated_at = int(self._wall_clock())
            elif task.status == "running":
                self._cancels_refused += 1
                raise _HttpError(
                    400,
                    DELETE_REFUSED_CODE,
                    f"task {task_id} is running and cannot be cancelled",
                )
            elif task.status == "cancelled":
                self._cancelled_deletes_refused += 1
                raise _HttpError(400, DELETE_REFUSED_CODE, f"task {task_id} is already cancelled")
            else:
                assert task.status in FINISHED
                del self._tasks[task_id]
                self._deleted_task_ids.append(task_id)
        return _json(200, {})

    def _media(self, path: str, headers: Mapping[str, str]) -> Answer:
        parts = path.split("/")  # ["", "_media", task_id, "<gen>.mp4"]
        fault = self._take_fault("media")
        if fault is not None:
            if fault.kind == "status":
                err = _fault_error(fault)
                return _json(err.status, _error_body(err.code, err.message), err.headers)
            if fault.kind == "drop":
                raise _Drop
            if fault.kind == "malformed":
                return 200, {"Content-Type": "video/mp4"}, b"\x00\x00\x00"
            time.sleep(fault.delay_s)
        with self._lock:
            if "authorization" in headers:
                self._media_auth_headers += 1
            task = self._tasks.get(parts[2]) if len(parts) == 4 else None
            if task is None or task.status != "succeeded":
                return _json(404, _error_body("NotFound", "no such object"))
            if self._wall_clock() - (task.updated_at or task.created_at) >= MEDIA_RETENTION_S:
                return _json(404, _error_body("NoSuchKey", "The specified key does not exist."))
            gen = int(parts[3].split(".")[0])
            if gen != task.media_gen or gen in task.expired_gens:
                return _json(403, _error_body("AccessDenied", "Request has expired"))
            if gen < self._knobs.expired_media_urls:
                task.expired_gens.add(gen)
                return _json(403, _error_body("AccessDenied", "Request has expired"))
            task.downloads += 1
            if task.downloads <= self._knobs.media_not_ready:
                return _json(400, _error_body("video_not_ready", "the video is not ready yet"))
            size = self._knobs.media_size
        return 200, {"Content-Type": "video/mp4"}, media_bytes(task.id, size)


def media_bytes(task_id: str, size: int = 4096) -> bytes:
    """The deterministic MP4-ish bytes the fake serves for a task (differs per task)."""
    head = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + task_id.encode()
    filler = hashlib.sha256(task_id.encode()).digest()
    body = head + filler * (max(0, size - len(head)) // len(filler) + 1)
    return body[: max(size, len(head))]


def _op_for(method: str, path: str) -> Op | None:
    if path.startswith("/_media/"):
        return "media" if method == "GET" else None
    if path == TASKS_PATH:
        return {"POST": "create", "GET": "list"}.get(method)  # type: ignore[return-value]
    if path.startswith(TASKS_PATH + "/") and path.count("/") == TASKS_PATH.count("/") + 1:
        return {"GET": "get", "DELETE": "delete"}.get(method)  # type: ignore[return-value]
    return None


def _apply_fault(fault: Fault) -> None:
    if fault.kind == "status":
        raise _fault_error(fault)
    if fault.kind == "drop":
        raise _Drop
    if fault.kind == "slow":
        time.sleep(fault.delay_s)


def _fault_error(fault: Fault) -> _HttpError:
    headers = {}
    if fault.retry_after is not None:
        headers["Retry-After"] = f"{fault.retry_after:g}"
    return _HttpError(fault.status_code, fault.code, "fake fault", headers)


def _error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "param": "", "type": ""}}


# ---------------------------------------------------------------------- command line


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m recoil_seeddance.testing.fake_ark",
        description="Serve a fake Ark task API on 127.0.0.1 until SIGTERM/SIGINT.",
    )
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--print-port", action="store_true", help="print the base URL on stdout")
    parser.add_argument("--api-key", default="fake-ark-key")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every request")
    parser.add_argument("--queue-s", type=float, default=0.0, help="server seconds before done")
    parser.add_argument("--polls-to-finish", type=int, default=1)
    parser.add_argument("--never-finish", action="store_true")
    parser.add_argument("--output-moderation", action="store_true")
    parser.add_argument("--moderation-billed", action="store_true")
    parser.add_argument("--expired-media-urls", type=int, default=0)
    parser.add_argument("--media-not-ready", type=int, default=0)
    parser.add_argument("--media-size", type=int, default=4096)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the fake server in the foreground (see the module docstring)."""
    args = _parse(argv)
    server = FakeArkServer(
        api_key=args.api_key,
        port=args.port,
        latency_s=args.latency_ms / 1000.0,
        queue_s=args.queue_s,
        polls_to_finish=args.polls_to_finish,
        never_finish=args.never_finish,
        output_moderation=args.output_moderation,
        moderation_billed=args.moderation_billed,
        expired_media_urls=args.expired_media_urls,
        media_not_ready=args.media_not_ready,
        media_size=args.media_size,
    )

    return serve_until_signalled(server.http, server.base_url, print_url=args.print_port)


if __name__ == "__main__":
    sys.exit(main())
