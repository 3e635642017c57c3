"""Who may talk to the review server: the Host it answers to, the cross-site requests it
refuses, and the token a state change needs when it listens beyond this machine.

The token is held in memory only: it is made when the server starts, shown once on the
terminal, and never written to disk or to a log.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets

import attrs
from starlette.requests import Request

TOKEN_HEADER = "x-recoil-token"
"""The header a state-changing request carries the token in (when one is required)."""
CLIENT_HEADER = "x-recoil-review"
"""The header every state-changing request must carry: a cross-site form or image cannot
send it, and a cross-site script cannot without a CORS preflight this server never allows."""
LOCAL_HOST_NAMES = ("127.0.0.1", "localhost", "::1")
"""The Host names a server bound to a loopback address answers to."""
SAME_ORIGIN = frozenset({"same-origin", "none"})
"""``Sec-Fetch-Site`` values of requests made by this page itself (or typed by the user)."""


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    """A fresh token (256 random bits, URL-safe)."""
    return secrets.token_urlsafe(32)


class Refused(Exception):
    """A request the guard turns away: its HTTP status and a message saying why."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


@attrs.frozen
class Guard:
    """The rules for one server.

    ``local``: bound to a loopback address, so only Host names of this machine are
    answered (a DNS-rebinding page names its own host and is refused). ``token``: required
    on every state change when set (the server listens beyond this machine).
    """

    local: bool
    token: str | None = attrs.field(default=None, repr=False)

    def check_host(self, request: Request) -> None:
        if not self.local:
            return
        host = request.headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name.strip("[]") not in LOCAL_HOST_NAMES:
            raise Refused(
                421,
                "wrong_host",
                f"this review server answers only to 127.0.0.1 or localhost, not {host!r}",
            )

    def check_same_origin(self, request: Request) -> None:
        """Refuse what another site's page asked the browser to fetch."""
        site = request.headers.get("sec-fetch-site")
        if site is not None and site not in SAME_ORIGIN:
            raise Refused(403, "cross_site", f"cross-site request refused (Sec-Fetch-Site: {site})")
        origin = request.headers.get("origin")
        if origin is not None and origin != _own_origin(request):
            raise Refused(403, "cross_site", f"cross-site request refused (Origin: {origin})")

    def check_change(self, request: Request) -> None:
        """A state-changing request: same origin, JSON, the page's header, the token."""
        self.check_same_origin(request)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise Refused(415, "not_json", "send the request body as application/json")
        if request.headers.get(CLIENT_HEADER) != "1":
            raise Refused(
                403, "missing_header", f"state changes need the header {CLIENT_HEADER}: 1"
            )
        if self.token is not None:
            given = request.headers.get(TOKEN_HEADER, "")
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                raise Refused(
                    401,
                    "token_required",
                    "this server listens beyond localhost: state changes need the token "
                    "printed when it started (open the page with the URL it printed)",
                )


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', '')}"
