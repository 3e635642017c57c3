"""Running the review app with uvicorn until the user stops it."""

from __future__ import annotations

from starlette.types import ASGIApp


def serve(app: ASGIApp, host: str, port: int) -> None:
    """Serve ``app`` on ``host:port`` until interrupted. No access log: the terminal shows
    what ``recoil review`` printed, and errors."""
    import uvicorn

    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, server_header=False
    )
    uvicorn.Server(config).run()
