"""The HTTP client the provider uses: httpx's API over an aiohttp or httpx transport (the
same stack as recoil-seeddance)."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

TRANSPORTS = ("aiohttp", "httpx")
DEFAULT_TRANSPORT = "aiohttp"
API_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=60.0, pool=60.0)
DOWNLOAD_TIMEOUT = httpx.Timeout(connect=10.0, read=120.0, write=30.0, pool=60.0)


def transport_name(env: Mapping[str, str]) -> str:
    """``RECOIL_HTTP_TRANSPORT`` (aiohttp or httpx), default aiohttp."""
    return (env.get("RECOIL_HTTP_TRANSPORT") or DEFAULT_TRANSPORT).strip().lower()


def make_client(*, transport: str, connections: int) -> httpx.AsyncClient:
    """An AsyncClient whose pool holds ``connections`` connections, with explicit timeouts."""
    if transport not in TRANSPORTS:
        raise ValueError(f"RECOIL_HTTP_TRANSPORT={transport!r}: use one of {', '.join(TRANSPORTS)}")
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    if transport == "aiohttp":
        from httpx_aiohttp import AiohttpTransport

        return httpx.AsyncClient(
            transport=AiohttpTransport(limits=limits), timeout=API_TIMEOUT, follow_redirects=True
        )
    return httpx.AsyncClient(limits=limits, timeout=API_TIMEOUT, follow_redirects=True)
