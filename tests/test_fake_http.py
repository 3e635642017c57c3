"""recoil_core.testing.fake_http: the plumbing the fake provider services share."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections.abc import Mapping

import httpx
import pytest

from recoil_core.testing.fake_http import (
    Answer,
    DropConnection,
    FakeHTTPServer,
    json_answer,
)


def test_it_serves_the_handler_with_lower_case_headers_and_can_drop_an_answer() -> None:
    seen: list[tuple[str, str, Mapping[str, str], bytes]] = []

    def handle(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        seen.append((method, path, headers, body))
        if path == "/drop":
            raise DropConnection
        return json_answer(201, {"ok": True}, {"X-Fake": "1"})

    with FakeHTTPServer(handle) as server, httpx.Client(base_url=server.url) as client:
        answer = client.put("/jobs?x=1", content=b"hi", headers={"X-Key": "k"})
        with pytest.raises(httpx.TransportError):
            client.post("/drop")

    assert answer.status_code == 201 and answer.json() == {"ok": True}
    assert answer.headers["x-fake"] == "1"
    assert answer.headers["content-type"] == "application/json"
    method, path, headers, body = seen[0]
    assert (method, path, body) == ("PUT", "/jobs?x=1", b"hi") and headers["x-key"] == "k"
    assert [s[1] for s in seen] == ["/jobs?x=1", "/drop"]


def test_serve_until_signalled_prints_its_url_and_stops_on_sigterm() -> None:
    code = textwrap.dedent(
        """
        from recoil_core.testing.fake_http import FakeHTTPServer, json_answer, serve_until_signalled
        server = FakeHTTPServer(lambda m, p, h, b: json_answer(200, {"path": p}))
        raise SystemExit(serve_until_signalled(server, server.url + "/v1", print_url=True))
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        assert httpx.get(f"{url}/x", timeout=10).json() == {"path": "/v1/x"}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
