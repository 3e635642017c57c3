"""The HTTP seam under the provider (``recoil_seeddance.transport``): both sessions, each
against a real server on 127.0.0.1: failures become ProviderErrors, a signed URL goes out
as given, the environment's proxy is used, TLS verifies."""

from __future__ import annotations

import asyncio
import http.client
import ssl
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from recoil_seeddance.provider import ArkProvider
from recoil_seeddance.testing.doubles import request
from recoil_seeddance.testing.fake_ark import FakeArkServer, media_bytes
from recoil_seeddance.transport import bypasses_proxy, make_client, tls

from recoil_core.api import JobStatus, ProviderUnavailable, RetryPolicy
from recoil_core.testing.fake_http import FakeHTTPServer

TRANSPORTS = ["aiohttp", "httpx"]


def provider(base_url: str, transport: str, *, attempts: int = 3) -> ArkProvider:
    return ArkProvider(
        api_key="test-key",
        client=make_client(transport=transport, connections=4),
        base_url=base_url,
        retry=RetryPolicy(attempts=attempts, base_s=0.0),
    )


def download(p: ArkProvider, url: str, dest: Path) -> None:
    async def flow() -> None:
        try:
            await p.download(JobStatus(job_id="cgt-1", state="succeeded", media_url=url), dest)
        finally:
            await p.aclose()

    asyncio.run(flow())


@pytest.fixture
def ark() -> Iterator[FakeArkServer]:
    with FakeArkServer(api_key="test-key") as server:
        yield server


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_dropped_download_is_tried_again_and_leaves_no_partial_file(
    ark: FakeArkServer, tmp_path: Path, transport: str
) -> None:
    final = asyncio.run(_create_and_finish(ark))
    ark.inject("media", "drop")
    dest = tmp_path / "clip.part"

    download(provider(ark.base_url, transport), final.media_url or "", dest)

    assert dest.read_bytes() == media_bytes(final.job_id)
    assert ark.stats()["requests"]["media"] == 2


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_refused_connection_is_a_retryable_connection_error_naming_no_url(
    tmp_path: Path, transport: str
) -> None:
    with FakeHTTPServer(lambda *_: (200, {}, b""), name="closed") as server:
        url = server.url  # a port nobody listens on once the server is closed
    dest = tmp_path / "clip.part"

    with pytest.raises(ProviderUnavailable) as err:
        download(provider(url, transport, attempts=1), f"{url}/_media/cgt-1/0.mp4", dest)

    assert err.value.code == "connection" and err.value.retryable
    assert "127.0.0.1" not in str(err.value) and not dest.exists()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_signed_media_url_is_requested_exactly_as_given(tmp_path: Path, transport: str) -> None:
    seen: list[str] = []

    def handle(method: str, path: str, headers: Mapping[str, str], body: bytes):
        seen.append(path)
        return 200, {"Content-Type": "video/mp4"}, b"video"

    query = "X-Amz-Credential=AK%2F20261203%2Fap&X-Amz-Signature=ab%2Bc%7Ed%3D&x=a+b"
    with FakeHTTPServer(handle, name="media") as server:
        url = f"{server.url}/_media/a%20b.mp4?{query}"
        download(provider(server.url, transport), url, tmp_path / "v")

    assert seen == [f"/_media/a%20b.mp4?{query}"]
    assert (tmp_path / "v").read_bytes() == b"video"


class _Proxy(BaseHTTPRequestHandler):
    """A forwarding HTTP proxy: takes absolute-form requests, counts them, passes them on."""

    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.path)
        target = urlsplit(self.path)
        upstream = http.client.HTTPConnection(target.netloc, timeout=10)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-connection"}
        path = target.path + (f"?{target.query}" if target.query else "")
        upstream.request("GET", path, headers=headers)
        answer = upstream.getresponse()
        body = answer.read()
        self.send_response(answer.status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", answer.getheader("Content-Type") or "")
        self.end_headers()
        self.wfile.write(body)
        upstream.close()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Proxy", (_Proxy,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("bypass", [False, True])
def test_requests_go_through_the_proxy_the_environment_names_unless_no_proxy_says_not(
    ark: FakeArkServer,
    proxy: tuple[str, list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    transport: str,
    bypass: bool,
) -> None:
    proxy_url, seen = proxy
    final = asyncio.run(_create_and_finish(ark))
    for name in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1" if bypass else "")
    dest = tmp_path / "clip.part"

    download(provider(ark.base_url, transport), final.media_url or "", dest)

    assert dest.read_bytes() == media_bytes(final.job_id)
    assert seen == ([] if bypass else [final.media_url])


def test_tls_verifies_certificates_and_host_names_against_a_loaded_bundle() -> None:
    context = tls()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0
    assert tls() is context  # loaded once a process


@pytest.mark.parametrize(
    ("host", "no_proxy", "bypass"),
    [
        ("ark.example.com", "example.com", True),
        ("ark.example.com", ".example.com", True),
        ("example.com", "example.com", True),
        ("notexample.com", "example.com", False),
        ("ark.example.com", "other.org, *", True),
        ("ark.example.com", "", False),
    ],
)
def test_no_proxy_names_hosts_and_the_domains_they_are_in(
    host: str, no_proxy: str, bypass: bool
) -> None:
    assert bypasses_proxy(host, no_proxy) is bypass


def test_an_unknown_transport_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="RECOIL_HTTP_TRANSPORT='curl'"):
        make_client(transport="curl", connections=1)


async def _create_and_finish(ark: FakeArkServer) -> JobStatus:
    """A succeeded task's final status on ``ark``, made and polled through the provider."""
    p = provider(ark.base_url, "aiohttp")
    try:
        task_id = await p.submit(request())
        while not (status := await p.poll(task_id)).is_final:
            pass
        return status
    finally:
        await p.aclose()
