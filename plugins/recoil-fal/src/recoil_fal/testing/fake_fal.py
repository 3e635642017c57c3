"""A fake fal queue API on 127.0.0.1, as strict as fal's public protocol, with knobs.

One server answers both hosts (point ``FAL_QUEUE_URL`` and ``FAL_API_URL`` at
``base_url``). Every request needs ``Authorization: Key <api_key>`` (else 401).

- ``POST /{owner}/{app}[/{path}]`` submits: the endpoint must be a known model, the input
  must carry a ``prompt`` and a ``duration`` the model renders (else 422 with a pydantic-
  style ``detail`` list). Answers ``request_id``, ``status_url``, ``response_url`` and
  ``cancel_url`` (without the subpath). There is no idempotency key: every POST that gets
  through makes a request.
- ``GET /{owner}/{app}/requests/{id}/status``: ``IN_QUEUE`` (with ``queue_position``) or
  ``IN_PROGRESS`` (HTTP 202), ``COMPLETED`` (200; a failed one carries ``error`` and
  ``error_type``; fal has no FAILED status). A request finishes at its first look (a status
  request or a listing) unless ``hold`` keeps it ``queued`` or ``running``.
- ``GET /{owner}/{app}/requests/{id}``: the result ``{"video": {"url", ...}}`` with the
  header ``x-fal-billable-units`` (seconds of video); 404 once the result expired (one
  hour after the request ended; ``expire_outputs``: results and media of requests that
  finish are gone at once) or for an unknown id; 400 while not completed.
- ``GET /media/{id}.mp4``: the video, kept 7 days after the request ended, then 404.
  :meth:`FakeFalServer.pass_time` ages the requests for a test.
- ``PUT .../requests/{id}/cancel``: a queued request is removed and never runs (200
  ``OK``; its status then reads COMPLETED with ``error_type`` ``request_cancelled``); a
  running one gets only a signal (202 ``CANCELLATION_REQUESTED``): it goes on, finishes and
  is billed; a completed one answers 400 ``ALREADY_COMPLETED``; unknown: 404 ``NOT_FOUND``.
- ``GET /v1/models/requests/by-endpoint?endpoint_id=&start=&end=&limit=&cursor=&expand=``:
  finished requests only, newest first, ``sent_at`` in ``[start, end)`` (start defaults to
  24 h ago), items ``request_id``, ``endpoint_id``, ``sent_at``, ``ended_at``,
  ``status_code`` and, with ``expand=payloads``, ``json_input``; ``next_cursor``/``has_more``.
- Billing: only successful outputs, ``seconds x unit price`` of the shipped price table
  (the bill stands when the output later expires); failed, moderated and cancelled
  requests cost nothing.

Faults (``inject``): ``op`` one of submit, status, result, cancel, list, media; ``kind``
``status`` (answer ``status_code`` with ``error_type``/``Retry-After``; on submit a 5xx is
answered after the request was made) or ``drop`` (close the connection; on submit after
making the request).

As a separate process (for kill soaks: prints its base URL, one line, then serves until
SIGTERM/SIGINT; ``--address-file`` also writes it there)::

    python -m recoil_fal.testing.fake_fal --port 0 --print-port --api-key k

A parent reads ``GET <base>/_fake/stats`` (:meth:`FakeFalServer.stats`: creates in all and
by the ``recoil_request_key`` input they carried, the bill by request id, states, cancels),
changes knobs with ``POST /_fake/knobs`` (a JSON object of knob values) and adds faults with
``POST /_fake/faults`` (the arguments of :meth:`FakeFalServer.inject`). The control
endpoints need no key.
"""

from __future__ import annotations

import argparse
import itertools
import json
import secrets
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
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
from recoil_fal.models import ENDPOINT_DURATIONS, PRICE_KEY, REQUEST_KEY_FIELD
from recoil_fal.pricing import shipped_table

__all__ = ["MEDIA_RETENTION_S", "RESULT_RETENTION_S", "FakeFalServer", "Fault"]

LISTING = "/v1/models/requests/by-endpoint"
RESULT_RETENTION_S = 3600.0
"""A queue result is kept one hour after the request ended (small results; fal keeps a
result of 10 KB or more only 6 minutes)."""
MEDIA_RETENTION_S = 7 * 24 * 3600.0
"""Media on fal's CDN is kept at least 7 days (the fake deletes it then)."""


@dataclass
class Fault:
    op: str
    kind: str = "status"
    times: int = 1
    status_code: int = 500
    error_type: str | None = None
    retry_after: float | None = None


@dataclass
class Knobs:
    hold: str | None = None
    """``queued`` or ``running``: requests stay there until it is set back to None."""
    outcome: str = "succeed"
    """``succeed``, ``fail`` (error_type ``generation_failed``) or ``moderated``
    (``content_policy_violation``)."""
    expire_outputs: bool = False


@dataclass
class _Request:
    id: str
    endpoint: str
    app: str
    input: dict[str, Any]
    sent_at: datetime
    seconds: int
    state: str = "IN_QUEUE"
    error: str | None = None
    error_type: str | None = None
    ended_at: datetime | None = None
    expired: bool = False
    cancel_signalled: bool = False

    def gone(self, retention_s: float) -> bool:
        """Whether the output is deleted: ``expire_outputs`` at its end, or the request
        ended ``retention_s`` or more ago."""
        if self.expired:
            return True
        ended = self.ended_at
        return ended is not None and (datetime.now(UTC) - ended).total_seconds() >= retention_s

    outcome: str = "succeed"
    extra: dict[str, Any] = field(default_factory=dict)


_Drop = DropConnection


class FakeFalServer(FakeService):
    """The fake fal queue API; use as a context manager or ``start()``/``close()``."""

    def __init__(self, *, api_key: str | None = None, port: int = 0) -> None:
        self.api_key = api_key or f"fal-test-{secrets.token_hex(8)}"
        self.knobs = Knobs()
        self._lock = threading.RLock()
        self._requests: dict[str, _Request] = {}
        self._faults: FaultQueue[Fault] = FaultQueue()
        self._ids = itertools.count(1)
        self.creates_total = 0
        self.cancels: dict[str, str] = {}
        self.requests_by_op: dict[str, int] = {}
        super().__init__(port=port, name="fake-fal")

    @property
    def base_url(self) -> str:
        """What ``FAL_QUEUE_URL`` and ``FAL_API_URL`` point at (the server root)."""
        return self.root_url

    def set(self, **knobs: Any) -> None:
        with self._lock:
            set_knobs(self.knobs, knobs, "fake fal")

    def pass_time(self, seconds: float) -> None:
        """As if ``seconds`` passed for every request known now: its ``sent_at`` and
        ``ended_at`` move back, so its result (kept 1 h) and media (7 days) age with it."""
        shift = timedelta(seconds=seconds)
        with self._lock:
            for request in self._requests.values():
                request.sent_at -= shift
                if request.ended_at is not None:
                    request.ended_at -= shift

    def inject(self, op: str, kind: str = "status", **fields: Any) -> None:
        self._faults.add(Fault(op, kind, **fields))

    def billed_usd(self) -> dict[str, float]:
        """USD billed per request id: successful outputs only."""
        table = shipped_table()
        with self._lock:
            return {
                r.id: table.cost_usd(PRICE_KEY[r.endpoint], r.seconds)
                for r in self._requests.values()
                if r.state == "COMPLETED" and r.error_type is None
            }

    def requests(self) -> list[_Request]:
        """The requests it made, oldest first (a copy of the list)."""
        with self._lock:
            return list(self._requests.values())

    def states(self) -> dict[str, str]:
        with self._lock:
            return {r.id: r.state for r in self._requests.values()}

    def stats(self) -> dict[str, Any]:
        """What it saw, as JSON (``GET /_fake/stats``): creates in all and by the
        ``recoil_request_key`` input they carried (a take's identity), the USD billed by
        request id, each request's state and endpoint, cancels, requests by operation."""
        billed = self.billed_usd()
        with self._lock:
            by_key: dict[str, int] = {}
            for r in self._requests.values():
                key = str(r.input.get(REQUEST_KEY_FIELD, ""))
                by_key[key] = by_key.get(key, 0) + 1
            return {
                "creates_total": self.creates_total,
                "creates_by_key": by_key,
                "billed_usd_by_request": billed,
                "billed_usd_total": round(sum(billed.values()), 6),
                "states": {r.id: r.state for r in self._requests.values()},
                "endpoints": {r.id: r.endpoint for r in self._requests.values()},
                "cancels": dict(self.cancels),
                "requests": dict(self.requests_by_op),
            }

    # ------------------------------------------------------------------ handling

    def handle(self, method: str, raw: str, headers: Mapping[str, str], body: bytes) -> Answer:
        url = urlsplit(raw)
        path = url.path.rstrip("/")
        query = parse_qs(url.query)
        if path.startswith("/media/"):
            return self._media(path)
        controlled = self.control(method, path, body)
        if controlled is not None:
            return controlled
        if headers.get("authorization") != f"Key {self.api_key}":
            return _json(401, {"detail": "Invalid or missing API key"})
        op = _op(method, path)
        with self._lock:
            self.requests_by_op[op] = self.requests_by_op.get(op, 0) + 1
            fault = self._take_fault(op)
            made_first = (
                op == "submit"
                and fault is not None
                and (fault.kind == "drop" or fault.status_code >= 500)
            )
            if fault is not None and not made_first:
                return self._fault(fault)
            if op == "submit":
                answer = self._submit(path, body)
                if fault is not None:  # made, then the answer is lost or a 5xx
                    return self._fault(fault)
                return answer
            if op == "list":
                return self._list(query)
            parts = path.strip("/").split("/")
            request = self._requests.get(parts[3]) if len(parts) >= 4 else None
            if request is None or request.app != "/".join(parts[:2]):
                detail = "NOT_FOUND" if op == "cancel" else "Request not found"
                return _json(
                    404, {"detail": detail, **({"status": "NOT_FOUND"} if op == "cancel" else {})}
                )
            if op == "status":
                self._advance(request)
                return self._status(request)
            if op == "result":
                if request.state != "COMPLETED":
                    return _json(400, {"detail": "Request is still in progress"})
                if request.gone(RESULT_RETENTION_S):
                    return _json(404, {"detail": "Request result not found (expired)"})
                if request.error_type is not None:
                    return _json(422, {"detail": request.error, "error_type": request.error_type})
                return _json(
                    200,
                    {
                        "video": {
                            "url": f"{self.base_url}/media/{request.id}.mp4",
                            "content_type": "video/mp4",
                        }
                    },
                    {"x-fal-billable-units": str(request.seconds)},
                )
            return self._cancel(request)

    def _take_fault(self, op: str) -> Fault | None:
        return self._faults.take(op)

    def _fault(self, fault: Fault) -> Answer:
        if fault.kind == "drop":
            raise _Drop
        headers = {}
        if fault.retry_after is not None:
            headers["retry-after"] = f"{fault.retry_after:g}"
        if fault.error_type:
            headers["x-fal-error-type"] = fault.error_type
        detail: Any = "fault"
        if fault.status_code == 422 and fault.error_type:
            detail = [{"loc": ["body", "prompt"], "msg": "refused", "type": fault.error_type}]
        return _json(fault.status_code, {"detail": detail}, headers)

    def _submit(self, path: str, body: bytes) -> Answer:
        endpoint = path.strip("/")
        if endpoint not in ENDPOINT_DURATIONS:
            return _json(404, {"detail": f"Application {endpoint!r} not found"})
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return _json(
                422, {"detail": [{"loc": ["body"], "msg": "invalid JSON", "type": "value_error"}]}
            )
        problems = []
        if not isinstance(data, dict) or not isinstance(data.get("prompt"), str):
            problems.append({"loc": ["body", "prompt"], "msg": "field required", "type": "missing"})
            data = data if isinstance(data, dict) else {}
        allowed = [str(d) for d in ENDPOINT_DURATIONS[endpoint]]
        if str(data.get("duration", allowed[0])) not in allowed:
            problems.append(
                {"loc": ["body", "duration"], "msg": f"one of {allowed}", "type": "literal_error"}
            )
        if "image-to-video" in endpoint and not data.get("image_url"):
            problems.append(
                {"loc": ["body", "image_url"], "msg": "field required", "type": "missing"}
            )
        if problems:
            return _json(422, {"detail": problems})
        request_id = f"req-{next(self._ids):04d}-{secrets.token_hex(4)}"
        app = "/".join(endpoint.split("/")[:2])
        self._requests[request_id] = _Request(
            id=request_id,
            endpoint=endpoint,
            app=app,
            input=data,
            sent_at=datetime.now(UTC),
            seconds=int(data.get("duration", allowed[0])),
            outcome=self.knobs.outcome,
        )
        self.creates_total += 1
        base = f"{self.base_url}/{app}/requests/{request_id}"
        return _json(
            200,
            {
                "request_id": request_id,
                "status_url": f"{base}/status",
                "response_url": base,
                "cancel_url": f"{base}/cancel",
                "queue_position": 0,
            },
        )

    def _advance(self, request: _Request) -> None:
        """One look at the request: it moves on unless held."""
        if request.state == "COMPLETED":
            return
        hold = self.knobs.hold
        if hold == "queued" and request.state == "IN_QUEUE":
            return
        if request.state == "IN_QUEUE":
            request.state = "IN_PROGRESS"
        if hold in ("queued", "running"):
            return
        request.state = "COMPLETED"
        request.ended_at = datetime.now(UTC)
        if request.outcome == "fail":
            request.error, request.error_type = "generation failed", "generation_failed"
        elif request.outcome == "moderated":
            request.error, request.error_type = (
                "output refused by the content checker",
                "content_policy_violation",
            )
        request.expired = self.knobs.expire_outputs

    def _status(self, request: _Request) -> Answer:
        body: dict[str, Any] = {"status": request.state, "request_id": request.id}
        if request.state == "IN_QUEUE":
            body["queue_position"] = 0
            return _json(202, body)
        if request.state == "IN_PROGRESS":
            return _json(202, body)
        if request.error_type is not None:
            body.update(error=request.error, error_type=request.error_type)
        return _json(200, body)

    def _cancel(self, request: _Request) -> Answer:
        if request.state == "IN_QUEUE":
            request.state = "COMPLETED"
            request.ended_at = datetime.now(UTC)
            request.error, request.error_type = "Request cancelled", "request_cancelled"
            self.cancels[request.id] = "OK"
            return _json(200, {"status": "OK"})
        if request.state == "IN_PROGRESS":
            request.cancel_signalled = True  # the app may ignore it: it runs on and bills
            self.cancels[request.id] = "CANCELLATION_REQUESTED"
            return _json(202, {"status": "CANCELLATION_REQUESTED"})
        self.cancels[request.id] = "ALREADY_COMPLETED"
        return _json(400, {"status": "ALREADY_COMPLETED"})

    def _list(self, query: Mapping[str, list[str]]) -> Answer:
        def one(name: str) -> str | None:
            values = query.get(name)
            return values[0] if values else None

        endpoint = one("endpoint_id")
        if not endpoint:
            return _json(
                422,
                {
                    "detail": [
                        {
                            "loc": ["query", "endpoint_id"],
                            "msg": "field required",
                            "type": "missing",
                        }
                    ]
                },
            )
        now = datetime.now(UTC)
        start = _when(one("start")) or now - timedelta(hours=24)
        end = _when(one("end")) or now + timedelta(seconds=1)
        limit = max(1, min(100, int(one("limit") or 50)))
        page = int(one("cursor") or 0)
        for request in self._requests.values():
            if request.endpoint == endpoint:
                self._advance(request)
        finished = sorted(
            (
                r
                for r in self._requests.values()
                if r.endpoint == endpoint and r.state == "COMPLETED" and start <= r.sent_at < end
            ),
            key=lambda r: r.sent_at,
            reverse=True,
        )
        chunk = finished[page * limit : (page + 1) * limit]
        payloads = one("expand") == "payloads"
        items = []
        for r in chunk:
            item: dict[str, Any] = {
                "request_id": r.id,
                "endpoint_id": r.endpoint,
                "sent_at": r.sent_at.isoformat(),
                "ended_at": r.ended_at.isoformat() if r.ended_at else None,
                "status_code": 200 if r.error_type is None else 422,
            }
            if payloads:
                item["json_input"] = r.input
            items.append(item)
        more = (page + 1) * limit < len(finished)
        return _json(
            200, {"items": items, "next_cursor": str(page + 1) if more else None, "has_more": more}
        )

    def _media(self, path: str) -> Answer:
        request_id = path.rsplit("/", 1)[-1].removesuffix(".mp4")
        with self._lock:
            self.requests_by_op["media"] = self.requests_by_op.get("media", 0) + 1
            request = self._requests.get(request_id)
            if request is None or request.gone(MEDIA_RETENTION_S) or request.error_type is not None:
                return 404, {}, b"not found"
        return (
            200,
            {"content-type": "video/mp4"},
            b"\x00\x00\x00\x18ftypmp42" + request_id.encode() * 64,
        )


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _op(method: str, path: str) -> str:
    if path == LISTING:
        return "list"
    parts = path.strip("/").split("/")
    if method == "POST":
        return "submit"
    if method == "PUT" and parts[-1] == "cancel":
        return "cancel"
    if len(parts) >= 5 and parts[-1] == "status":
        return "status"
    return "result"


# ---------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    """Serve the fake in the foreground until SIGTERM/SIGINT (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m recoil_fal.testing.fake_fal",
        description="Serve a fake fal queue API on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--print-port", action="store_true", help="print the base URL")
    parser.add_argument("--address-file", default=None, help="also write the base URL here")
    parser.add_argument("--api-key", default=None, help="the key it accepts (default: random)")
    parser.add_argument("--hold", choices=("queued", "running"), default=None)
    args = parser.parse_args(argv)
    server = FakeFalServer(api_key=args.api_key, port=args.port)
    server.set(hold=args.hold)

    return serve_until_signalled(
        server.http, server.base_url, print_url=args.print_port, address_file=args.address_file
    )


if __name__ == "__main__":
    sys.exit(main())
