"""``recoil plugins list``: every discovered plugin, what it provides, and why it failed."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from recoil_core.cli._app import app, echo_json, state, user_errors

if TYPE_CHECKING:
    from recoil_core.plugins import PluginRecord

plugins_app = typer.Typer(
    help="Inspect the installed plugins.", no_args_is_help=True, add_completion=False
)
app.add_typer(plugins_app, name="plugins")

HOOK_PREFIX = "recoil_"
COLUMNS = ("name", "distribution", "version", "provides", "hooks", "status", "error")


def _hook_names() -> list[str]:
    from recoil_core import hookspecs

    return sorted(name for name in vars(hookspecs) if name.startswith(HOOK_PREFIX))


def _resolve_hook(hook: str) -> str:
    """Accept ``recoil_providers`` or ``providers``; refuse a hook no spec declares."""
    from recoil_core.errors import UnknownNameError

    names = _hook_names()
    full = hook if hook.startswith(HOOK_PREFIX) else HOOK_PREFIX + hook
    if full not in names:
        raise UnknownNameError("hook", hook, names)
    return full


def _row(record: PluginRecord) -> tuple[str, ...]:
    return (
        record.name,
        record.distribution or "(in-process)",
        record.version or "-",
        ", ".join(record.provides) or "-",
        ", ".join(h.removeprefix(HOOK_PREFIX) for h in record.hooks) or "-",
        record.status,
        record.error or "",
    )


def _plain(records: Sequence[PluginRecord]) -> None:
    rows = [tuple(c.upper() for c in COLUMNS), *(_row(r) for r in records)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    for row in rows:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _rich(records: Sequence[PluginRecord]) -> None:
    from rich.console import Console
    from rich.table import Column, Table
    from rich.text import Text

    styles = {
        "ok": "green",
        "failed": "red",
        "incompatible": "yellow",
        "disabled": "dim",
        "conflict": "magenta",
    }
    table = Table(*(Column(name, overflow="fold") for name in COLUMNS))
    for record in records:
        cells = [Text(cell) for cell in _row(record)]
        cells[5].stylize(styles[record.status])
        table.add_row(*cells)
    Console().print(table)


@plugins_app.command("list")
def list_plugins(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list (fields: docs/plugins-list.md).")
    ] = False,
    hook: Annotated[
        str | None,
        typer.Option("--hook", metavar="NAME", help="Only plugins implementing this hook."),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Import every lazy registration too; exit 1 if any plugin is failed, "
            "incompatible or in conflict.",
        ),
    ] = False,
) -> None:
    """List plugins sorted by name: distribution, version, what they provide, status."""
    from recoil_core.plugins import iter_records

    with user_errors(as_json=as_json):
        wanted_hook = _resolve_hook(hook) if hook is not None else None
        host = state().registry(verify=check).host
    records = list(iter_records(host, wanted_hook))
    if as_json:
        echo_json([record.to_dict() for record in records])
    elif sys.stdout.isatty():
        _rich(records)
    else:
        _plain(records)
    if check and host.problems:
        problems = ", ".join(f"{r.name} ({r.status})" for r in host.problems)
        typer.echo(f"error: plugin problem(s): {problems}", err=True)
        raise typer.Exit(1)
