"""The HTTP plumbing of a fake provider service: serve a handler on 127.0.0.1.

A fake service (fal's, Replicate's and Ark's in their distributions) is one method,
``handle(method, path, headers, body) -> (status, headers, body)``, holding the service's
rules; this module serves it, in a thread for a test or in the foreground for a separate
process, and can lose an answer on purpose::

    from recoil_core.testing.fake_http import DropConnection, FakeHTTPServer, json_answer

    class FakeMine:
        def __init__(self, port: int = 0) -> None:
            self.http = FakeHTTPServer(self.handle, port=port, name="fake-mine")

        def handle(self, method, path, headers, body):
            if path == "/jobs" and method == "POST" and self.drop_next:
                raise DropConnection  # the job is made; its answer is lost
            return json_answer(200, {"id": "job-1"})

    with FakeMine().http as server:  # started; closed at the end
        ...  # point the provider at server.url

Headers reach the handler with lower-case names. ``python -m yourfake`` serves with
:func:`serve_until_signalled`.
"""

from __future__ import annotations

import json
import signal
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar

__all__ = [
    "Answer",
    "DropConnection",
    "FakeHTTPServer",
    "FakeService",
    "FaultQueue",
    "Handle",
    "json_answer",
    "serve_until_signalled",
    "set_knobs",
]

Answer = tuple[int, Mapping[str, str], bytes]
"""What a handler returns: status, headers, body (``Content-Length`` is added)."""
Handle = Callable[[str, str, dict[str, str], bytes], Answer]
"""``handle(method, path, headers, body)``: ``path`` with its query; header names lower-case."""


class DropConnection(Exception):
    """Raise it in a handler to close the connection without an answer: the client sees a
    dropped connection, as when a real service made the job and the answer was lost."""


def json_answer(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Answer:
    """A JSON answer: ``Content-Type: application/json`` plus ``headers``."""
    return (
        status,
        {"Content-Type": "application/json", **(headers or {})},
        json.dumps(body).encode(),
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, port: int, handle: Handle) -> None:
        self.handle_request_of_fake = handle
        super().__init__(("127.0.0.1", port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (timed out, killed) is expected; anything else is shown."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, out_headers, out = self.server.handle_request_of_fake(
                self.command, self.path, headers, body
            )
        except DropConnection:
            self.close_connection = True
            return
        self.send_response(status)
        for name, value in out_headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests read the fake's counters, not access logs."""


class FakeHTTPServer:
    """Serves ``handle`` on 127.0.0.1 (``port`` 0: a free one), in a daemon thread once
    :meth:`start`\\ ed or entered as a context manager, or in the foreground with
    :meth:`serve_forever`."""

    def __init__(self, handle: Handle, *, port: int = 0, name: str = "fake-http") -> None:
        self._httpd = _Server(port, handle)
        self._name = name
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port it listens on (the system's choice when built with ``port=0``)."""
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeHTTPServer:
        """Serve in a daemon thread (again: no-op) and return self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, args=(0.02,), name=self._name, daemon=True
            )
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`stop_soon` (a signal handler may call it)."""
        self._httpd.serve_forever(poll_interval=0.1)

    def stop_soon(self) -> None:
        """Make :meth:`serve_forever` return, from any thread or a signal handler."""
        threading.Thread(target=self._httpd.shutdown, daemon=True).start()

    def __enter__(self) -> FakeHTTPServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def serve_until_signalled(
    server: FakeHTTPServer,
    url: str,
    *,
    print_url: bool = False,
    address_file: str | Path | None = None,
) -> int:
    """Serve ``server`` in the foreground until SIGTERM or SIGINT, for a fake run as its
    own process (a kill soak's): ``url`` (its base URL) is printed on one line when
    ``print_url``, and written to ``address_file`` when given. Returns 0 (an exit code)."""

    def stop(signum: int, frame: object) -> None:
        server.stop_soon()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if address_file:
        Path(address_file).write_text(url + "\n", encoding="utf-8")
    if print_url:
        print(url, flush=True)
    try:
        server.serve_forever()
    finally:
        server.close()
    return 0


class _Fault(Protocol):
    op: Any
    times: int


F = TypeVar("F", bound=_Fault)


class FaultQueue(Generic[F]):
    """Scripted faults, each answering the next ``times`` requests of its ``op``, oldest
    first; safe to use from the server's threads."""

    def __init__(self) -> None:
        self._faults: list[F] = []
        self._lock = threading.Lock()

    def add(self, fault: F) -> None:
        """Queue ``fault`` (an object with ``op`` and ``times``)."""
        with self._lock:
            self._faults.append(fault)

    def take(self, op: Any) -> F | None:
        """The fault for this request of ``op``, counted down, or ``None``."""
        with self._lock:
            for fault in self._faults:
                if fault.op == op and fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None


def set_knobs(knobs: object, values: Mapping[str, Any], service: str) -> None:
    """Set each of ``values`` on the ``knobs`` object; a name it does not have raises
    ``TypeError`` naming ``service`` (a misspelt knob must not pass silently)."""
    for name, value in values.items():
        if not hasattr(knobs, name):
            raise TypeError(f"unknown {service} knob {name!r}")
        setattr(knobs, name, value)


class FakeService:
    """Base of a fake service: subclass it, implement :meth:`handle` and call
    ``super().__init__(port=..., name=...)``. It is served by :attr:`http` from a thread
    once started (``with Fake() as fake`` starts it and closes it at the end)."""

    def __init__(self, *, port: int = 0, name: str = "fake-service") -> None:
        self.http = FakeHTTPServer(self.handle, port=port, name=name)
        """The server: ``serve_until_signalled(fake.http, fake.base_url)`` for a process."""

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        """Answer one request (see :data:`Handle`); subclasses implement it."""
        raise NotImplementedError

    def control(self, method: str, path: str, body: bytes) -> Answer | None:
        """The ``/_fake/...`` endpoints a parent process drives the fake with when it runs
        as its own process: ``GET /_fake/stats`` answers the fake's ``stats()``,
        ``POST /_fake/knobs`` calls ``set(**body)`` and ``POST /_fake/faults``
        ``inject(**body)`` (methods the subclass defines). A call the fake refuses
        (``TypeError``, ``ValueError``) answers 400 with the reason; another ``/_fake/``
        path 404. ``None`` for any other path: the service's own request."""
        if not path.startswith("/_fake/"):
            return None
        routes = {
            ("GET", "/_fake/stats"): "stats",
            ("POST", "/_fake/knobs"): "set",
            ("POST", "/_fake/faults"): "inject",
        }
        name = routes.get((method, path.rstrip("/")))
        call = getattr(self, name, None) if name is not None else None
        if call is None:
            return json_answer(404, {"detail": f"no route {method} {path}"})
        try:
            args = json.loads(body or b"{}") if method == "POST" else {}
            if not isinstance(args, dict):
                raise ValueError("expected a JSON object")
            answer = call(**args)
        except (TypeError, ValueError) as exc:
            return json_answer(400, {"detail": str(exc)})
        return json_answer(200, answer if name == "stats" else {"ok": True})

    @property
    def port(self) -> int:
        """The port it listens on."""
        return self.http.port

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:<port>``: the server root."""
        return self.http.url

    def start(self) -> Self:
        """Serve from a daemon thread; returns self."""
        self.http.start()
        return self

    def close(self) -> None:
        """Stop serving and release the port."""
        self.http.close()

    def serve_forever(self) -> None:
        """Serve from the calling thread until stopped."""
        self.http.serve_forever()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
