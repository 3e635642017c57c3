"""The HTTP seam the provider talks through, and the two sessions that speak it.

The provider needs two things of HTTP: a request whose whole answer it reads (create,
get, list, delete) and a download it streams to a file. :class:`HttpSession` is those two
and nothing else; a failure to get an answer at all (connection refused or dropped, a
timeout) is a :class:`TransportError` whichever library is underneath.

- :class:`AiohttpSession`, the default: aiohttp's client directly. At a hundred takes in
  flight the provider's requests are most of the event loop's work, and aiohttp alone
  costs about half the CPU a request of httpx's API over the same aiohttp transport.
- :class:`HttpxSession`: an ``httpx.AsyncClient``. ``RECOIL_HTTP_TRANSPORT=httpx`` picks
  one with httpx's own transport; a test hands :class:`~recoil_seeddance.provider.ArkProvider`
  a client with an ``httpx.MockTransport`` or a wrapping transport.

Both read proxies from the environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``) and
verify TLS against certifi's bundle, or ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set, as
httpx does. Neither library is imported until a session is made.
"""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol

import attrs

if TYPE_CHECKING:
    import aiohttp
    import httpx

TRANSPORTS = ("aiohttp", "httpx")
DEFAULT_TRANSPORT = "aiohttp"

CONNECT_S = 10.0
"""Seconds to open a connection."""
POOL_S = 60.0
"""Seconds to wait for a free connection of the pool."""
READ_S = 60.0
"""Seconds an API answer may go silent."""
DOWNLOAD_READ_S = 120.0
"""Seconds a download may go silent."""
WRITE_S = 60.0
"""Seconds to send a request (httpx only: aiohttp has no write timeout)."""
CHUNK_BYTES = 1 << 16


class TransportError(Exception):
    """No answer: the connection failed or a timeout passed. ``cause`` is the library's
    exception (its type is named in errors, never its text: that can carry a URL)."""

    def __init__(self, cause: BaseException, *, timed_out: bool) -> None:
        super().__init__(type(cause).__name__)
        self.cause = cause
        self.timed_out = timed_out


@attrs.frozen
class Answer:
    """A whole HTTP answer."""

    status: int
    headers: Mapping[str, str]
    content: bytes


class Download(Protocol):
    """A streamed answer, open inside :meth:`HttpSession.download`."""

    status: int
    headers: Mapping[str, str]

    def chunks(self) -> AsyncIterator[bytes]:
        """The body, chunk by chunk; a dropped stream raises :class:`TransportError`."""
        ...

    async def read(self) -> bytes:
        """The whole body (an error answer's)."""
        ...


class HttpSession(Protocol):
    """What :class:`~recoil_seeddance.provider.ArkProvider` needs of an HTTP client."""

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None = None,
        params: Sequence[tuple[str, str]] | None = None,
    ) -> Answer:
        """Send ``body`` (JSON, when given) and read the whole answer."""
        ...

    def download(self, url: str) -> AbstractAsyncContextManager[Download]:
        """GET ``url`` (no credentials), following redirects, with the download timeouts."""
        ...

    async def aclose(self) -> None:
        """Close the connections."""
        ...


def transport_name(env: Mapping[str, str]) -> str:
    """``RECOIL_HTTP_TRANSPORT`` (aiohttp or httpx), default aiohttp."""
    return (env.get("RECOIL_HTTP_TRANSPORT") or DEFAULT_TRANSPORT).strip().lower()


def make_client(*, transport: str, connections: int) -> HttpSession:
    """A session whose pool holds ``connections`` connections, with the timeouts above."""
    if transport not in TRANSPORTS:
        raise ValueError(f"RECOIL_HTTP_TRANSPORT={transport!r}: use one of {', '.join(TRANSPORTS)}")
    if transport == "aiohttp":
        return AiohttpSession(connections=connections)
    import httpx

    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return HttpxSession(
        httpx.AsyncClient(
            limits=limits, timeout=_httpx_timeout(READ_S), follow_redirects=True, verify=tls()
        )
    )


def as_session(client: HttpSession | httpx.AsyncClient) -> HttpSession:
    """``client`` as a session: an ``httpx.AsyncClient`` is wrapped in :class:`HttpxSession`."""
    if isinstance(client, (AiohttpSession, HttpxSession)):
        return client
    return HttpxSession(client)  # type: ignore[arg-type]


@functools.cache
def tls() -> ssl.SSLContext:
    """The TLS context every session verifies with, made once a process (loading a CA
    bundle takes tens of milliseconds): ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set, else
    certifi's bundle, else the system's."""
    cafile = os.environ.get("SSL_CERT_FILE") or None
    capath = os.environ.get("SSL_CERT_DIR") or None
    if cafile is None and capath is None:
        try:
            import certifi
        except ImportError:  # pragma: no cover - httpx installs certifi
            return ssl.create_default_context()
        cafile = certifi.where()
    return ssl.create_default_context(cafile=cafile, capath=capath)


class AiohttpSession:
    """:class:`HttpSession` on aiohttp's client. The aiohttp session is made on the first
    request, inside the event loop that uses it."""

    def __init__(self, *, connections: int) -> None:
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, str] = {}
        """The environment's proxies by scheme (``no``: the hosts that bypass them), read
        once when the session opens."""
        self._api_timeout: aiohttp.ClientTimeout | None = None
        self._download_timeout: aiohttp.ClientTimeout | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            import urllib.request

            import aiohttp

            self._api_timeout = aiohttp.ClientTimeout(
                total=None, connect=POOL_S + CONNECT_S, sock_connect=CONNECT_S, sock_read=READ_S
            )
            self._download_timeout = attrs.evolve(self._api_timeout, sock_read=DOWNLOAD_READ_S)
            self._proxies = urllib.request.getproxies_environment()
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections, ssl=tls()),
                timeout=self._api_timeout,
            )
        return self._session

    def _proxy(self, url: Any) -> str | None:
        """The environment's proxy for ``url`` (a ``yarl.URL``), unless ``NO_PROXY`` names
        its host."""
        proxy = self._proxies.get(url.scheme) or self._proxies.get("all")
        if proxy is None or bypasses_proxy(url.host or "", self._proxies.get("no", "")):
            return None
        return proxy

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None = None,
        params: Sequence[tuple[str, str]] | None = None,
    ) -> Answer:
        import aiohttp
        from yarl import URL

        session = self._open()
        target = URL(url, encoded=True)
        if params:
            target = target.extend_query(params)
        if body is not None:
            headers = {**headers, "Content-Type": "application/json"}
        try:
            async with session.request(
                method, target, data=body, headers=headers, proxy=self._proxy(target)
            ) as response:
                return Answer(response.status, response.headers, await response.read())
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransportError(exc, timed_out=isinstance(exc, TimeoutError)) from None

    @asynccontextmanager
    async def download(self, url: str) -> AsyncIterator[Download]:
        import aiohttp
        from yarl import URL

        session = self._open()
        target = URL(url, encoded=True)  # a signed URL is sent exactly as given
        try:
            async with session.get(
                target, timeout=self._download_timeout, proxy=self._proxy(target)
            ) as response:
                yield _AiohttpDownload(response)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransportError(exc, timed_out=isinstance(exc, TimeoutError)) from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def bypasses_proxy(host: str, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` (``no_proxy``: comma-separated hosts or domains, ``*`` for all)
    names ``host`` or a domain it is in, as curl and httpx read it."""
    host = host.lower().rstrip(".")
    for entry in no_proxy.replace(" ", "").lower().split(","):
        entry = entry.lstrip(".").rstrip(".")
        if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
            return True
    return False


class _AiohttpDownload:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self._response.content.iter_chunked(CHUNK_BYTES):
            yield chunk  # errors surface through download()'s context

    async def read(self) -> bytes:
        return await self._response.read()


class HttpxSession:
    """:class:`HttpSession` on an ``httpx.AsyncClient`` (closed with the session)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None = None,
        params: Sequence[tuple[str, str]] | None = None,
    ) -> Answer:
        import httpx

        if body is not None:
            headers = {**headers, "Content-Type": "application/json"}
        try:
            response = await self._client.request(
                method, url, content=body, params=list(params or ()), headers=headers
            )
        except httpx.HTTPError as exc:
            raise TransportError(exc, timed_out=isinstance(exc, httpx.TimeoutException)) from None
        return Answer(response.status_code, response.headers, response.content)

    @asynccontextmanager
    async def download(self, url: str) -> AsyncIterator[Download]:
        import httpx

        try:
            async with self._client.stream(
                "GET", url, timeout=_httpx_timeout(DOWNLOAD_READ_S)
            ) as response:
                yield _HttpxDownload(response)
        except httpx.HTTPError as exc:
            raise TransportError(exc, timed_out=isinstance(exc, httpx.TimeoutException)) from None

    async def aclose(self) -> None:
        await self._client.aclose()


class _HttpxDownload:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.headers: Mapping[str, str] = response.headers

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self._response.aiter_bytes(CHUNK_BYTES):
            yield chunk

    async def read(self) -> bytes:
        return await self._response.aread()


def _httpx_timeout(read_s: float) -> httpx.Timeout:
    import httpx

    return httpx.Timeout(connect=CONNECT_S, read=read_s, write=WRITE_S, pool=POOL_S)
