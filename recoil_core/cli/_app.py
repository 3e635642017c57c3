"""The typer application, root options, and the state commands share.

Commands live in their own modules (``plugins_cmd``, ``plan_cmd``, ``group_cmd``,
``run_cmd``); they parse, call the kernel, and render. No business logic here.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import attrs
import typer

from recoil_core._version import __version__
from recoil_core.settings import Settings

if TYPE_CHECKING:
    from recoil_core.registry import Registry

app = typer.Typer(
    name="recoil",
    help="Turn episode plans into versioned, budget-safe AI video through plugins.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@attrs.define
class CliState:
    """Settings for this invocation, and the registry once a command needs it."""

    settings: Settings
    _registry: Registry | None = None

    def registry(self, *, verify: bool = False) -> Registry:
        """The registry; ``verify`` imports every lazy registration (``--check``)."""
        if self._registry is None or (verify and not self._registry.verified):
            from recoil_core.registry import build_registry

            self._registry = build_registry(self.settings.plugins, verify=verify)
        return self._registry


_state: CliState | None = None


def state() -> CliState:
    global _state
    if _state is None:
        try:
            _state = CliState(Settings.from_env())
        except ValueError as exc:
            fail(str(exc), 2)
    return _state


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"recoil {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Show the kernel version and exit.",
        ),
    ] = False,
    load_plugins: Annotated[
        str | None,
        typer.Option(
            "--load-plugins",
            metavar="A,B",
            help="Load only these plugins (empty: none). Env: RECOIL_LOAD_PLUGINS.",
        ),
    ] = None,
    disable_plugins: Annotated[
        str | None,
        typer.Option(
            "--disable-plugins",
            metavar="A,B",
            help="Skip these plugins. Env: RECOIL_DISABLE_PLUGINS.",
        ),
    ] = None,
    strict_plugins: Annotated[
        bool,
        typer.Option(
            "--strict-plugins",
            help="Import every lazy registration; exit 7 if any plugin is failed, "
            "incompatible or in conflict. Env: RECOIL_STRICT_PLUGINS=1.",
        ),
    ] = False,
    prefer: Annotated[
        list[str] | None,
        typer.Option(
            "--prefer",
            metavar="NAME=DIST",
            help="The distribution that owns NAME when several register it (repeatable). "
            "Env: RECOIL_PREFER=NAME=DIST[,...].",
        ),
    ] = None,
    debug: Annotated[
        bool,
        typer.Option("--debug", help="Show the traceback of an error. Env: RECOIL_DEBUG=1."),
    ] = False,
) -> None:
    """Recoil: episode plan in, rendered and versioned video out."""
    global _state
    from recoil_core.settings import parse_preferences

    try:
        settings = Settings.from_env()
        chosen = parse_preferences(prefer or [], "--prefer")
    except ValueError as exc:
        fail(str(exc), 2)
    selection = settings.plugins
    if chosen:
        selection = attrs.evolve(selection, prefer=selection.prefer + chosen)
    if load_plugins is not None:
        parts = tuple(p.strip() for p in load_plugins.split(",") if p.strip())
        selection = attrs.evolve(selection, load_only=parts)
    if disable_plugins is not None:
        parts = tuple(p.strip() for p in disable_plugins.split(",") if p.strip())
        selection = attrs.evolve(selection, disabled=selection.disabled + parts)
    if strict_plugins:
        selection = attrs.evolve(selection, strict=True)
    _state = CliState(attrs.evolve(settings, plugins=selection, debug=settings.debug or debug))


def fail(message: str, code: int = 1) -> NoReturn:
    """Print an error for the user (no traceback) and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def user_errors(*, as_json: bool = False) -> Iterator[None]:
    """Turn any RecoilError into a clear message and its exit code (with ``--debug``, its
    traceback first, causes included)."""
    from recoil_core.errors import RecoilError

    try:
        yield
    except RecoilError as exc:
        if _state is not None and _state.settings.debug:
            import traceback

            traceback.print_exception(exc, file=sys.stderr)
        if as_json:
            payload = {"ok": False, "error": type(exc).__name__, "message": str(exc)}
            typer.echo(json.dumps(payload))
            sys.stdout.flush()
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None


def echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


Command = Callable[..., Any]
