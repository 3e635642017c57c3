"""A fake Replicate predictions API on 127.0.0.1 for tests, with fault knobs.

In-process::

    with FakeReplicateServer(api_token="t") as replicate:
        ...  # REPLICATE_API_BASE=replicate.base_url, REPLICATE_API_TOKEN=replicate.api_token
        replicate.inject("create", "drop")  # the next create is made, its answer is lost
        assert replicate.stats()["creates_total"] == 1

What it follows (Replicate's public API reference and its data-retention page):

- Auth: every ``/v1`` call needs ``Authorization: Bearer <token>``; otherwise 401 with an
  RFC 7807 problem body (``title``, ``detail``, ``status``), like every error here.
- Create: ``POST /v1/models/{owner}/{name}/predictions`` for the official models it knows
  (``kwaivgi/kling-v2.1``, ``bytedance/seedance-1-pro``; their inputs validated: 422
  ``Input validation failed`` with ``invalid_fields``) and ``POST /v1/predictions`` with a
  ``version`` (``owner/name:<64 hex>`` or the bare id) for versioned models registered with
  :meth:`FakeReplicateServer.add_version` (unknown: 422). Inputs a model does not declare are
  accepted and kept on the prediction as sent. Answers 201 with the prediction. There is no
  idempotency key: a second create makes a second prediction.
- ``Prefer: wait`` or ``wait=n`` (n from 1 to 60, else 400) holds the create until the
  prediction is final or n seconds have passed: a prediction whose run (``queue_s`` plus its
  predict time) fits in n comes back final (without the fake really sleeping).
- Life: ``starting`` until the first look after creation (or ``queue_s / 2`` seconds; held
  with ``hold_starting``), then ``processing``; final at the first GET that is its
  ``polls_to_finish``-th and at least ``queue_s`` seconds after creation (``clock``).
  ``metrics.predict_time`` on every final prediction.
- Cancel: ``POST /v1/predictions/{id}/cancel`` answers the prediction. ``starting`` becomes
  ``canceled`` and bills nothing; ``processing`` becomes ``canceled`` with the predict time it
  ran (``cancel_predict_s``), billed for a versioned model; a final prediction is unchanged.
- List: ``GET /v1/predictions`` newest first, ``page_size`` (100) a page, ``next`` a URL with
  an opaque ``cursor`` (or null), ``created_after``/``created_before`` (ISO 8601) filters.
  Items are whole prediction objects.
- Retention: one hour (``wall_clock``; knob ``retention_s``) after a prediction completed,
  its ``input`` becomes
  ``{}``, its ``output`` null, ``data_removed`` true and its output file answers 404; the
  prediction and its bill stay.
- Billing (:meth:`stats` ``billed_usd_by_prediction``): an official model's succeeded
  prediction bills its output seconds at :data:`OFFICIAL_PRICES`; nothing when it failed or
  was canceled. A versioned model bills ``predict_time`` x its hardware's
  :data:`HARDWARE_PRICES`, whatever the outcome.

Prompt markers choose outcomes: ``[[moderate]]`` (failed, ``E005`` flagged as sensitive),
``[[fail]]`` (failed), ``[[never-finish]]`` (stays processing).

As a separate process (for kill soaks: prints its base URL, one line, then serves until
SIGTERM/SIGINT)::

    python -m recoil_replicate.testing.fake_replicate --port 0 --print-port --api-token t

A parent reads ``GET <root>/_fake/stats``, changes knobs with ``POST /_fake/knobs`` (a JSON
object of knob values), adds faults with ``POST /_fake/faults`` (the arguments of
:meth:`FakeReplicateServer.inject`) and registers versioned models with
``POST /_fake/versions`` (``{"ref", "hardware", "predict_s"}``, answering ``{"version"}``).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import itertools
import json
import secrets
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

from recoil_core.testing.fake_http import (
    Answer,
    DropConnection,
    FakeService,
    FaultQueue,
    serve_until_signalled,
    set_knobs,
)

__all__ = [
    "HARDWARE_PRICES",
    "OFFICIAL_PRICES",
    "RETENTION_S",
    "FakeReplicateServer",
    "ManualClock",
    "main",
    "media_bytes",
]

Op = Literal["create", "get", "list", "cancel", "media"]
FaultKind = Literal["status", "drop", "malformed", "slow"]

RETENTION_S = 3600.0
"""API predictions lose input, output, files and logs this long after they complete."""
MAX_WAIT_S = 60
FINAL = frozenset({"succeeded", "failed", "canceled"})
OFFICIAL_PRICES: Mapping[str, Mapping[str, float]] = {
    "kwaivgi/kling-v2.1": {"720p": 0.05, "1080p": 0.09},
    "bytedance/seedance-1-pro": {"480p": 0.03, "720p": 0.06, "1080p": 0.15},
}
"""USD per second of output video."""
HARDWARE_PRICES: Mapping[str, float] = {
    "cpu": 0.0001,
    "gpu-t4": 0.000225,
    "gpu-l40s": 0.000975,
    "gpu-a100-large": 0.0014,
    "gpu-h100": 0.001525,
}
"""USD per second of ``predict_time``."""
MODERATION_ERROR = (
    "E005: The input or output was flagged as sensitive. Please try again with different inputs."
)
SEEDANCE_RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21")


class ManualClock:
    """A clock a test moves by hand: ``clock.advance(3600)``."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


@dataclass
class Fault:
    """A scripted misbehaviour for the next ``times`` requests of one operation.

    ``status``: answer ``status_code`` with a problem body; on create a 5xx is answered
    after the prediction was made (unless ``before_create``), a 4xx before. ``drop``: close
    the connection without answering (on create: after making it). ``malformed``: a
    truncated JSON body. ``slow``: wait ``delay_s`` first.
    """

    op: Op
    kind: FaultKind
    times: int = 1
    status_code: int = 500
    retry_after: float | None = None
    delay_s: float = 0.0
    before_create: bool = False


@dataclass
class Knobs:
    """Behaviour switches, changeable while serving through :meth:`FakeReplicateServer.set`."""

    queue_s: float = 0.0
    polls_to_finish: int = 1
    hold_starting: bool = False
    never_finish: bool = False
    official_predict_s: float = 90.0
    """Predict time of an official video model's prediction."""
    cancel_predict_s: float = 5.0
    """Predict time a prediction cancelled while processing has run."""
    page_size: int = 100
    media_size: int = 4096
    retention_s: float = RETENTION_S
    """How long after completion input and output are removed (0: at once, as if the
    run that made the prediction was resumed after the hour)."""
    hour_passes_before_download: bool = False
    """The hour passes between the poll that sees a prediction succeeded and the first
    request for its output file: that request finds input and output removed (404)."""
    outcome: str | None = None
    """Outcome of predictions created from now on (``moderate``, ``fail``), whatever
    their prompt."""


@dataclass
class _Version:
    ref: str
    hardware: str
    predict_s: float


@dataclass
class _Prediction:
    id: str
    model: str
    version: str
    official: bool
    input: dict[str, Any]
    outcome: str
    predict_s: float
    created_at: float
    created_clock: float
    duration: int = 0
    resolution: str = ""
    hardware: str = ""
    status: str = "starting"
    polls: int = 0
    started_at: float | None = None
    completed_at: float | None = None
    predict_time: float | None = None
    error: str | None = None
    data_removed: bool = False
    billed_usd: float = 0.0
    media_auth: list[bool] = field(default_factory=list)

    def as_json(self, root: str) -> dict[str, Any]:
        output = None
        if self.status == "succeeded" and not self.data_removed:
            output = f"{root}/_media/{self.id}/output.mp4"
        body: dict[str, Any] = {
            "id": self.id,
            "model": self.model,
            "version": self.version,
            "input": {} if self.data_removed else dict(self.input),
            "output": output,
            "error": self.error,
            "logs": "" if self.data_removed else "fake: running",
            "status": self.status,
            "source": "api",
            "data_removed": self.data_removed,
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "completed_at": _iso(self.completed_at),
            "urls": {
                "get": f"{root}/v1/predictions/{self.id}",
                "cancel": f"{root}/v1/predictions/{self.id}/cancel",
                "web": f"https://replicate.com/p/{self.id}",
            },
        }
        if self.predict_time is not None:
            body["metrics"] = {"predict_time": self.predict_time}
        return body


class _HttpError(Exception):
    def __init__(self, status: int, title: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.body = {"title": title, "detail": detail, "status": status, **extra}
        self.headers: dict[str, str] = {}


_Drop = DropConnection
"""Close the connection without an answer."""


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class FakeReplicateServer(FakeService):
    """A fake Replicate API on 127.0.0.1 (a free port by default), served from a thread.

    ``clock`` drives prediction progress, ``wall_clock`` their timestamps, the list filters
    and the one-hour retention; pass a :class:`ManualClock` to move time by hand.
    """

    def __init__(
        self,
        *,
        api_token: str = "fake-replicate-token",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        **knobs: Any,
    ) -> None:
        self.api_token = api_token
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._knobs = Knobs()
        set_knobs(self._knobs, knobs, "fake Replicate")
        self._faults: FaultQueue[Fault] = FaultQueue()
        self._versions: dict[str, _Version] = {}
        self._predictions: dict[str, _Prediction] = {}
        self._ids = itertools.count(1)
        self._instance = secrets.token_hex(3)
        self._requests: dict[str, int] = {}
        self._cancels: list[tuple[str, str]] = []
        super().__init__(port=port, name="fake-replicate")

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        """What a client uses as ``REPLICATE_API_BASE`` (ends in ``/v1``)."""
        return f"{self.root_url}/v1"

    # ------------------------------------------------------------------ setup

    def set(self, **knobs: Any) -> None:
        """Change knobs (see :class:`Knobs`) while serving."""
        with self._lock:
            set_knobs(self._knobs, knobs, "fake Replicate")

    def pass_time(self, seconds: float) -> None:
        """As if ``seconds`` of wall-clock time passed for every prediction known now: its
        timestamps move back, so the one-hour retention and the list filters see it that
        much older (a test that cannot inject ``wall_clock``)."""
        with self._lock:
            for p in self._predictions.values():
                p.created_at -= seconds
                if p.started_at is not None:
                    p.started_at -= seconds
                if p.completed_at is not None:
                    p.completed_at -= seconds

    def add_version(self, ref: str, *, hardware: str = "gpu-t4", predict_s: float = 12.0) -> str:
        """Register a versioned model ``ref`` (``owner/name``) running on ``hardware`` for
        ``predict_s`` seconds a prediction; returns its 64-hex version id."""
        if hardware not in HARDWARE_PRICES:
            raise ValueError(f"unknown hardware {hardware!r}")
        version = hashlib.sha256(f"{ref}:{hardware}:{predict_s}".encode()).hexdigest()
        with self._lock:
            self._versions[version] = _Version(ref, hardware, predict_s)
        return version

    def inject(
        self,
        op: Op,
        kind: FaultKind,
        *,
        times: int = 1,
        status_code: int = 500,
        retry_after: float | None = None,
        delay_s: float = 0.0,
        before_create: bool = False,
    ) -> None:
        """Script a fault for the next ``times`` requests of ``op`` (see :class:`Fault`)."""
        self._faults.add(Fault(op, kind, times, status_code, retry_after, delay_s, before_create))

    def _take_fault(self, op: Op) -> Fault | None:
        return self._faults.take(op)

    # ------------------------------------------------------------------ what it saw

    def stats(self) -> dict[str, Any]:
        """Creates (in all, and by the ``recoil_request_key`` input they carried), what each
        prediction billed, requests by operation, statuses and the cancels it answered."""
        with self._lock:
            by_key: dict[str, int] = {}
            for p in self._predictions.values():
                key = str(p.input.get("recoil_request_key", ""))
                by_key[key] = by_key.get(key, 0) + 1
            billed = {pid: p.billed_usd for pid, p in self._predictions.items()}
            return {
                "creates_total": len(self._predictions),
                "creates_by_key": by_key,
                "billed_usd_total": round(sum(billed.values()), 6),
                "billed_usd_by_prediction": billed,
                "requests": dict(self._requests),
                "predictions": {pid: p.status for pid, p in self._predictions.items()},
                "cancels": list(self._cancels),
                "media_requests_with_auth": sum(
                    sum(p.media_auth) for p in self._predictions.values()
                ),
            }

    def prediction(self, prediction_id: str) -> dict[str, Any]:
        """The prediction as a GET would show it, without moving it along."""
        with self._lock:
            p = self._predictions[prediction_id]
            self._retain(p)
            return p.as_json(self.root_url)

    def prediction_ids(self) -> list[str]:
        """Ids of every prediction made, oldest first."""
        with self._lock:
            return list(self._predictions)

    # ------------------------------------------------------------------ requests

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        """Answer one request: (status, headers, body). Raises _Drop to close silently."""
        url = urlsplit(raw_path)
        path = url.path.rstrip("/")
        if path.startswith("/_fake/"):
            return self._control(method, path, body)
        if path.startswith("/_media/") and method == "GET":
            return self._media(path, headers)
        route = _route(method, path)
        if route is None:
            return _problem(_HttpError(404, "Not found", f"no route {method} {path}"))
        op, arg = route
        with self._lock:
            self._requests[op] = self._requests.get(op, 0) + 1
        if headers.get("authorization") != f"Bearer {self.api_token}":
            return _problem(
                _HttpError(401, "Unauthenticated", "You did not pass a valid authentication token")
            )
        fault = self._take_fault(op)
        try:
            if op == "create":
                return self._create(arg, body, headers.get("prefer"), fault)
            if fault is not None:
                _apply_fault(fault)
            if op == "get":
                answer = self._get(arg)
            elif op == "cancel":
                answer = self._cancel(arg)
            else:
                answer = self._list(parse_qs(url.query))
        except _HttpError as err:
            return _problem(err)
        out = json.dumps(answer).encode()
        if fault is not None and fault.kind == "malformed":
            out = out[:-7]
        return 200, {"Content-Type": "application/json"}, out

    def _control(self, method: str, path: str, body: bytes) -> Answer:
        """The ``/_fake/...`` endpoints (:meth:`FakeService.control`), and
        ``POST /_fake/versions`` registering a versioned model (``add_version``)."""
        if path == "/_fake/versions" and method == "POST":
            version = self.add_version(**json.loads(body or b"{}"))
            return (
                200,
                {"Content-Type": "application/json"},
                json.dumps({"version": version}).encode(),
            )
        return self.control(method, path, body) or _problem(
            _HttpError(404, "Not found", f"no route {method} {path}")
        )

    def _create(
        self, model_ref: str, raw: bytes, prefer: str | None, fault: Fault | None
    ) -> Answer:
        early = fault is not None and fault.kind == "status"
        if early and fault is not None and (fault.status_code < 500 or fault.before_create):
            return _problem(_fault_error(fault))
        try:
            body = json.loads(raw)
        except ValueError:
            return _problem(_HttpError(400, "Bad request", "the request body is not JSON"))
        try:
            wait = _wait_s(prefer)
            prediction = self._make(model_ref, body)
            if wait is not None:
                with self._lock:
                    self._settle_within(prediction, wait)
        except _HttpError as err:
            return _problem(err)
        if fault is not None:
            if fault.kind == "status":
                return _problem(_fault_error(fault))
            if fault.kind == "drop":
                raise _Drop
            if fault.kind == "malformed":
                return 201, {"Content-Type": "application/json"}, b'{"id": "' + prediction.encode()
            time.sleep(fault.delay_s)
        with self._lock:
            answer = self._predictions[prediction].as_json(self.root_url)
        return 201, {"Content-Type": "application/json"}, json.dumps(answer).encode()

    def _make(self, model_ref: str, body: Any) -> str:
        if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
            raise _HttpError(422, "Input validation failed", "input: an object is required")
        inputs: dict[str, Any] = dict(body["input"])
        prompt = str(inputs.get("prompt", ""))
        with self._lock:
            outcome = self._knobs.outcome or next(
                (o for m, o in _MARKERS if m in prompt), "succeed"
            )
            if model_ref:
                if model_ref not in OFFICIAL_PRICES:
                    raise _HttpError(404, "Not found", f"model {model_ref} does not exist")
                duration, resolution = _validate_official(model_ref, inputs)
                version_id, official = f"official-{model_ref}", True
                hardware, predict_s = "", self._knobs.official_predict_s
            else:
                given = body.get("version")
                version_id = str(given).rpartition(":")[2] if isinstance(given, str) else ""
                version = self._versions.get(version_id)
                if version is None or (
                    ":" in str(given) and str(given).rpartition(":")[0] != version.ref
                ):
                    raise _HttpError(
                        422, "Invalid version or not permitted", f"version {given!r} not found"
                    )
                model_ref, official = version.ref, False
                duration, resolution = 0, ""
                hardware, predict_s = version.hardware, version.predict_s
            pid = f"fk{self._instance}{next(self._ids):08d}"
            self._predictions[pid] = _Prediction(
                id=pid,
                model=model_ref,
                version=version_id,
                official=official,
                input=inputs,
                outcome=outcome,
                predict_s=predict_s,
                created_at=self._wall_clock(),
                created_clock=self._clock(),
                duration=duration,
                resolution=resolution,
                hardware=hardware,
            )
        return pid

    def _settle_within(self, pid: str, wait_s: int) -> None:
        """``Prefer: wait``: a prediction whose run fits in the wait comes back final."""
        p = self._predictions[pid]
        knobs = self._knobs
        if knobs.never_finish or p.outcome == "never" or knobs.hold_starting:
            return
        if knobs.queue_s + p.predict_s <= wait_s:
            self._start(p)
            self._finish(p)

    def _get(self, pid: str) -> dict[str, Any]:
        with self._lock:
            p = self._find(pid)
            self._advance(p, poll=True)
            return p.as_json(self.root_url)

    def _cancel(self, pid: str) -> dict[str, Any]:
        with self._lock:
            p = self._find(pid)
            self._advance(p, poll=False)
            self._cancels.append((pid, p.status))
            if p.status in ("starting", "processing"):
                ran = 0.0 if p.status == "starting" else self._knobs.cancel_predict_s
                p.status, p.completed_at = "canceled", self._wall_clock()
                p.predict_time = ran
                p.billed_usd = 0.0 if p.official else _hardware_bill(p.hardware, ran)
            return p.as_json(self.root_url)

    def _list(self, query: Mapping[str, list[str]]) -> dict[str, Any]:
        def one(name: str) -> str | None:
            values = query.get(name)
            return values[0] if values else None

        after, before, cursor = one("created_after"), one("created_before"), one("cursor")
        try:
            after_t = _parse_iso(after) if after else None
            before_t = _parse_iso(before) if before else None
            start = int(base64.urlsafe_b64decode(cursor.encode()).decode()) if cursor else 0
        except ValueError:
            raise _HttpError(400, "Bad request", "invalid cursor or date") from None
        size = max(1, self._knobs.page_size)
        with self._lock:
            chosen = []
            for p in self._predictions.values():
                self._advance(p, poll=False)
                if after_t is not None and p.created_at < after_t:
                    continue
                if before_t is not None and p.created_at >= before_t:
                    continue
                chosen.append(p)
            chosen.sort(key=lambda p: (p.created_at, p.id), reverse=True)
            page = chosen[start : start + size]
            results = [p.as_json(self.root_url) for p in page]
        next_url = None
        if start + size < len(chosen):
            params = {k: v for k, v in (("created_after", after), ("created_before", before)) if v}
            params["cursor"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
            next_url = f"{self.base_url}/predictions?{urlencode(params)}"
        return {"next": next_url, "previous": None, "results": results}

    def _media(self, path: str, headers: Mapping[str, str]) -> Answer:
        parts = path.split("/")  # ["", "_media", id, "output.mp4"]
        fault = self._take_fault("media")
        if fault is not None:
            if fault.kind == "status":
                return _problem(_fault_error(fault))
            if fault.kind == "drop":
                raise _Drop
            if fault.kind == "malformed":
                return 200, {"Content-Type": "video/mp4"}, b"\x00\x00"
            time.sleep(fault.delay_s)
        with self._lock:
            self._requests["media"] = self._requests.get("media", 0) + 1
            p = self._predictions.get(parts[2]) if len(parts) == 4 else None
            if p is not None:
                if self._knobs.hour_passes_before_download and p.completed_at is not None:
                    p.completed_at -= self._knobs.retention_s
                self._retain(p)
                p.media_auth.append("authorization" in headers)
            if p is None or p.status != "succeeded" or p.data_removed:
                return _problem(_HttpError(404, "Not found", "no such file"))
            size = self._knobs.media_size
        return 200, {"Content-Type": "video/mp4"}, media_bytes(p.id, size)

    # ------------------------------------------------------------------ life

    def _find(self, pid: str) -> _Prediction:
        p = self._predictions.get(pid)
        if p is None:
            raise _HttpError(404, "Not found", f"prediction {pid} not found")
        return p

    def _retain(self, p: _Prediction) -> None:
        """Remove input and output one hour after completion (caller holds the lock)."""
        retention = self._knobs.retention_s
        if p.completed_at is not None and self._wall_clock() - p.completed_at >= retention:
            p.data_removed = True

    def _start(self, p: _Prediction) -> None:
        if p.status == "starting":
            p.status, p.started_at = "processing", self._wall_clock()

    def _advance(self, p: _Prediction, *, poll: bool) -> None:
        """Move a prediction along its life (caller holds the lock)."""
        self._retain(p)
        if p.status in FINAL:
            return
        knobs = self._knobs
        age = self._clock() - p.created_clock
        if knobs.hold_starting and p.status == "starting":
            return
        if p.status == "starting" and (p.polls >= 1 or age >= knobs.queue_s / 2):
            self._start(p)
        if poll:
            p.polls += 1
        if knobs.never_finish or p.outcome == "never":
            return
        if p.polls >= knobs.polls_to_finish and age >= knobs.queue_s:
            self._finish(p)
            self._retain(p)

    def _finish(self, p: _Prediction) -> None:
        p.completed_at = self._wall_clock()
        p.predict_time = p.predict_s
        if p.outcome == "succeed":
            p.status = "succeeded"
        else:
            p.status = "failed"
            p.error = MODERATION_ERROR if p.outcome == "moderate" else "fake: the model crashed"
        if p.official:
            prices = OFFICIAL_PRICES[p.model]
            p.billed_usd = (
                round(prices[p.resolution] * p.duration, 6) if p.status == "succeeded" else 0.0
            )
        else:
            p.billed_usd = _hardware_bill(p.hardware, p.predict_s)


_MARKERS = (("[[moderate]]", "moderate"), ("[[fail]]", "fail"), ("[[never-finish]]", "never"))


def _hardware_bill(hardware: str, seconds: float) -> float:
    return round(HARDWARE_PRICES[hardware] * seconds, 6)


def _validate_official(ref: str, inputs: Mapping[str, Any]) -> tuple[int, str]:
    """``(output seconds, resolution)`` of a valid official-model input; else 422."""
    invalid: list[dict[str, str]] = []

    def bad(name: str, description: str) -> None:
        invalid.append({"type": "invalid", "field": f"input.{name}", "description": description})

    if not isinstance(inputs.get("prompt"), str) or not inputs.get("prompt"):
        bad("prompt", "prompt is required")
    for name in ("start_image", "end_image", "image", "last_frame_image"):
        value = inputs.get(name)
        if value is not None and not (
            isinstance(value, str) and value.startswith(("http://", "https://", "data:"))
        ):
            bad(name, "must be a URI")
    duration = inputs.get("duration", 5)
    if ref == "kwaivgi/kling-v2.1":
        if not inputs.get("start_image"):
            bad("start_image", "start_image is required")
        mode = inputs.get("mode", "standard")
        if mode not in ("standard", "pro"):
            bad("mode", "must be one of standard, pro")
        if duration not in (5, 10):
            bad("duration", "must be one of 5, 10")
        if inputs.get("end_image") and mode != "pro":
            bad("end_image", "end_image needs mode pro")
        resolution = "1080p" if mode == "pro" else "720p"
    else:
        if not isinstance(duration, int) or not 2 <= duration <= 12:
            bad("duration", "must be an integer from 2 to 12")
        resolution = inputs.get("resolution", "1080p")
        if resolution not in ("480p", "720p", "1080p"):
            bad("resolution", "must be one of 480p, 720p, 1080p")
        if inputs.get("aspect_ratio", "16:9") not in SEEDANCE_RATIOS:
            bad("aspect_ratio", f"must be one of {', '.join(SEEDANCE_RATIOS)}")
        seed = inputs.get("seed")
        if seed is not None and not isinstance(seed, int):
            bad("seed", "must be an integer")
    if invalid:
        raise _HttpError(
            422,
            "Input validation failed",
            "; ".join(f"{i['field']}: {i['description']}" for i in invalid),
            invalid_fields=invalid,
        )
    return int(duration), str(resolution)


def _wait_s(prefer: str | None) -> int | None:
    """Seconds a ``Prefer`` header asks the create to wait (``None``: no wait); 400 if bad."""
    if prefer is None:
        return None
    text = prefer.strip()
    if text == "wait":
        return MAX_WAIT_S
    name, _, value = text.partition("=")
    if name.strip() != "wait" or not value.strip().isdigit():
        raise _HttpError(400, "Bad request", f"invalid Prefer header {prefer!r}")
    seconds = int(value)
    if not 1 <= seconds <= MAX_WAIT_S:
        raise _HttpError(400, "Bad request", f"Prefer: wait must be from 1 to {MAX_WAIT_S}")
    return seconds


def _route(method: str, path: str) -> tuple[Op, str] | None:
    parts = path.split("/")[1:]  # "v1", ...
    if not parts or parts[0] != "v1":
        return None
    rest = parts[1:]
    if method == "POST" and len(rest) == 4 and rest[0] == "models" and rest[3] == "predictions":
        return "create", f"{rest[1]}/{rest[2]}"
    if rest == ["predictions"]:
        return {"POST": ("create", ""), "GET": ("list", "")}.get(method)  # type: ignore[return-value]
    if len(rest) == 2 and rest[0] == "predictions" and method == "GET":
        return "get", rest[1]
    if len(rest) == 3 and rest[0] == "predictions" and rest[2] == "cancel" and method == "POST":
        return "cancel", rest[1]
    return None


def media_bytes(prediction_id: str, size: int = 4096) -> bytes:
    """The deterministic MP4-ish bytes the fake serves for a prediction."""
    head = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + prediction_id.encode()
    filler = hashlib.sha256(prediction_id.encode()).digest()
    body = head + filler * (max(0, size - len(head)) // len(filler) + 1)
    return body[: max(size, len(head))]


def _apply_fault(fault: Fault) -> None:
    if fault.kind == "status":
        raise _fault_error(fault)
    if fault.kind == "drop":
        raise _Drop
    if fault.kind == "slow":
        time.sleep(fault.delay_s)


def _fault_error(fault: Fault) -> _HttpError:
    title = "Too many requests" if fault.status_code == 429 else "fake fault"
    err = _HttpError(fault.status_code, title, "fake fault")
    if fault.retry_after is not None:
        err.headers["Retry-After"] = f"{fault.retry_after:g}"
    return err


def _problem(err: _HttpError) -> Answer:
    headers = {"Content-Type": "application/problem+json", **err.headers}
    return err.status, headers, json.dumps(err.body).encode()


# ---------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    """Serve the fake in the foreground until SIGTERM/SIGINT (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m recoil_replicate.testing.fake_replicate",
        description="Serve a fake Replicate predictions API on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--print-port", action="store_true", help="print the base URL")
    parser.add_argument("--api-token", default="fake-replicate-token")
    parser.add_argument("--queue-s", type=float, default=0.0)
    parser.add_argument("--polls-to-finish", type=int, default=1)
    args = parser.parse_args(argv)
    server = FakeReplicateServer(
        api_token=args.api_token,
        port=args.port,
        queue_s=args.queue_s,
        polls_to_finish=args.polls_to_finish,
    )

    return serve_until_signalled(server.http, server.base_url, print_url=args.print_port)


if __name__ == "__main__":
    sys.exit(main())
