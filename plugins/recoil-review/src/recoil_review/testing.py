"""Test helpers: the real ``recoil review`` server in a subprocess, and how the browser
tests start Debian's Chromium. Used by this distribution's tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
"""Debian's chromium package; playwright drives it (it never downloads a browser)."""
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
STARTUP_S = 30.0
"""How long a server may take to listen before the helper gives up."""


def recoil_command() -> str:
    """The ``recoil`` console script beside the running interpreter (else on PATH)."""
    beside = Path(sys.executable).with_name("recoil")
    found = str(beside) if beside.exists() else shutil.which("recoil")
    if found is None:
        raise RuntimeError("the recoil console script is not installed")
    return found


def free_port() -> int:
    """A port nothing listens on right now, on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ReviewServer:
    """``recoil review PLAN --port N ...`` in a subprocess, returned once it listens.

    ``printed`` holds what it printed before serving (the URL, with the token when bound
    beyond localhost); ``url`` is its page on 127.0.0.1.
    """

    def __init__(self, plan: Path, env: Mapping[str, str], args: Sequence[str] = ()) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        command = [recoil_command(), "review", str(plan), "--port", str(self.port), *args]
        self.process = subprocess.Popen(
            command, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.printed = self._banner()
        self._wait_until_listening()

    def _banner(self) -> list[str]:
        assert self.process.stdout is not None
        lines = []
        for line in self.process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("stop with"):
                return lines
        raise RuntimeError(f"recoil review exited: {self._stderr()}")

    def _stderr(self) -> str:
        self.process.wait(timeout=STARTUP_S)
        return self.process.stderr.read() if self.process.stderr is not None else ""

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"recoil review exited: {self._stderr()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)  # not bound yet: ask again
        self.stop()
        raise RuntimeError(f"recoil review did not listen on port {self.port}")

    def stop(self) -> None:
        """Stop the server and wait for it to exit (once stopped, nothing more to do)."""
        if self.process.returncode is not None:
            return
        self.process.terminate()
        self.process.communicate(timeout=STARTUP_S)
