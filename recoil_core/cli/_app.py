"""The typer application, root options, and what every command shares.

Each command lives in its own module (``run``, ``status``, ``budget``, ``reconcile``,
``rederive``, ``group``, ``plan``, ``plugins``) and is imported only when it runs (or
when ``--help`` lists it): ``COMMANDS`` names them. Commands parse, call the kernel and
render; no business logic here.
"""

# No ``from __future__ import annotations``: typer reads the commands' signatures on every
# run, and real annotations spare it compiling a string for each one (names imported only for
# type checking are quoted).
import importlib
import sys
from collections.abc import Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import attrs
import typer
from typer.core import TyperGroup

from recoil_core.settings import Settings

if TYPE_CHECKING:
    from typer import _click as click  # the click typer vendors

    from recoil_core.registry import Registry

COMMANDS: dict[str, tuple[str, str]] = {
    "group": ("recoil_core.cli.group", "group"),
    "run": ("recoil_core.cli.run", "run"),
    "status": ("recoil_core.cli.status", "status"),
    "reconcile": ("recoil_core.cli.reconcile", "reconcile"),
    "budget": ("recoil_core.cli.budget", "budget"),
    "rederive": ("recoil_core.cli.rederive", "rederive"),
    "review": ("recoil_core.cli.review", "review"),
    "worker": ("recoil_core.cli.worker", "worker"),
    "select": ("recoil_core.cli.select", "select"),
    "approve": ("recoil_core.cli.approve", "approve"),
    "reject": ("recoil_core.cli.reject", "reject"),
    "retake": ("recoil_core.cli.retake", "retake"),
    "export": ("recoil_core.cli.export", "export"),
    "assets": ("recoil_core.cli.assets", "assets_app"),
    "plan": ("recoil_core.cli.plan", "plan_app"),
    "plugins": ("recoil_core.cli.plugins", "plugins_app"),
    "providers": ("recoil_core.cli.providers", "providers_app"),
    "db": ("recoil_core.cli.db", "db_app"),
}
"""Command name -> (module, attribute): a command function, or a typer app for a group
of subcommands. In the order ``recoil --help`` lists them."""


def load_command(name: str) -> "click.Command":
    """Import the module of command ``name`` and build its click command."""
    module_name, attribute = COMMANDS[name]
    target = getattr(importlib.import_module(module_name), attribute)
    if isinstance(target, typer.Typer):
        command: click.Command = typer.main.get_group(target)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


class _LazyCommands(MutableMapping[str, "click.Command"]):
    """The root group's commands: every name of ``COMMANDS`` is listed, and its module
    imported on the first lookup."""

    def __init__(self, loaded: "MutableMapping[str, click.Command]") -> None:
        self._loaded = dict(loaded)

    def __getitem__(self, name: str) -> "click.Command":
        if name not in self._loaded:
            if name not in COMMANDS:
                raise KeyError(name)
            self._loaded[name] = load_command(name)
        return self._loaded[name]

    def __setitem__(self, name: str, command: "click.Command") -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        yield from COMMANDS
        yield from (name for name in self._loaded if name not in COMMANDS)

    def __len__(self) -> int:
        return len(set(COMMANDS) | set(self._loaded))


class LazyGroup(TyperGroup):
    """A typer group whose commands are imported when they are looked up."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.commands = _LazyCommands(self.commands)

    def list_commands(self, ctx: "click.Context") -> list[str]:
        return list(self.commands)


app = typer.Typer(
    name="recoil",
    help="Turn episode plans into versioned, budget-safe AI video through plugins.",
    cls=LazyGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@attrs.define
class CliState:
    """Settings for this invocation, and the registry once a command needs it."""

    settings: Settings
    _registry: "Registry | None" = None

    def registry(self, *, verify: bool = False) -> "Registry":
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
        from recoil_core._version import kernel_version

        typer.echo(f"recoil {kernel_version()}")
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
            import json

            payload = {"ok": False, "error": type(exc).__name__, "message": str(exc)}
            typer.echo(json.dumps(payload))
            sys.stdout.flush()
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None


def echo_json(data: Any) -> None:
    """Print ``data`` as ``json.dumps(data, indent=2, default=str)`` would, byte for byte
    (orjson writes it when that gives the same bytes)."""
    typer.echo(json_text(data), nl=False)


def json_text(data: Any) -> str:
    """What :func:`echo_json` prints for ``data``, new line included."""
    from recoil_core.jsonio import dumps_as_json_does

    return dumps_as_json_does(data).decode("ascii") + "\n"


def parse_options(pairs: Sequence[str]) -> dict[str, str]:
    """``["max_shots=3", "label=wide"]`` -> ``{"max_shots": "3", "label": "wide"}``.

    Values stay strings: the kernel converts them to the types the strategy declares
    (:func:`recoil_core.options.resolve_options`) and refuses options it does not declare.
    """
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            fail(f"--option {pair!r}: expected key=value, e.g. --option max_shots=3", 2)
        options[key.strip()] = raw.strip()
    return options
