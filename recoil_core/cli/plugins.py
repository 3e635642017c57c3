"""``recoil plugins list`` (every discovered plugin, what it provides, each provider's
models, and why it failed) and ``recoil plugins show`` (one plugin in detail, with its
strategies' options)."""

# No ``from __future__ import annotations``: typer reads the commands' signatures on every
# run, and real annotations spare it compiling a string for each one (names imported only for
# type checking are quoted).
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from recoil_core.cli import _listing_cache
from recoil_core.cli._app import echo_json, json_text, state, user_errors

if TYPE_CHECKING:
    from recoil_core.contracts.grouping import GroupingStrategy
    from recoil_core.plugins import PluginRecord
    from recoil_core.registry import Claim, Registry

plugins_app = typer.Typer(
    help="Inspect the installed plugins.", no_args_is_help=True, add_completion=False
)

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


def _row(record: "PluginRecord") -> tuple[str, ...]:
    return (
        record.name,
        record.distribution or "(in-process)",
        record.version or "-",
        ", ".join(record.provides) or "-",
        ", ".join(h.removeprefix(HOOK_PREFIX) for h in record.hooks) or "-",
        record.status,
        record.error or "",
    )


def provider_models(registry: "Registry", record: "PluginRecord") -> dict[str, list[str]]:
    """The models of each provider the plugin owns (``{}`` when it owns none): the names
    its ``ProviderSpec`` declares (``models`` and ``model_capabilities``)."""
    out: dict[str, list[str]] = {}
    for provided in record.provides:
        kind, _, name = provided.partition(":")
        spec = registry.providers.get(name) if kind == "provider" else None
        if spec is not None:
            out[name] = list(spec.listed_models) + ([ANY_MODEL] if not spec.models else [])
    return out


ANY_MODEL = "*"
"""Listed after a provider's models when it also takes any other model name."""


def _models_text(provider: str, models: Sequence[str]) -> str:
    names = [m for m in models if m != ANY_MODEL]
    text = ", ".join(names) or "any"
    if names and ANY_MODEL in models:
        text += " (and any other name)"
    return f"models of {provider}: {text}"


def _model_line(provider: str, models: Sequence[str]) -> str:
    return f"  {_models_text(provider, models)}"


def _plain(records: "Sequence[PluginRecord]", models: dict[str, dict[str, list[str]]]) -> str:
    """The table without a terminal: aligned columns, each provider's models under it."""
    rows = [tuple(c.upper() for c in COLUMNS), *(_row(r) for r in records)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    notes = [{}, *(models.get(r.name, {}) for r in records)]
    lines = []
    for row, provided in zip(rows, notes, strict=True):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        lines.extend(_model_line(provider, names) for provider, names in provided.items())
    return "\n".join(lines) + "\n"


def _rich(records: "Sequence[PluginRecord]", models: dict[str, dict[str, list[str]]]) -> None:
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
        for provider, names in models.get(record.name, {}).items():
            cells[3].append(f"\n{_models_text(provider, names)}", style="dim")
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
        registry = state().registry(verify=check)
        host = registry.host
    records = list(iter_records(host, wanted_hook))
    models = {record.name: provider_models(registry, record) for record in records}
    stored = _listing_cache.wanted()  # ``plugins list [--json]`` and nothing else
    terminal = not as_json and sys.stdout.isatty()  # a table as wide as the terminal
    plain = _plain(records, models) if stored or not (as_json or terminal) else ""
    text = ""
    if stored or as_json:
        text = json_text([{**r.to_dict(), "models": models[r.name]} for r in records])
    if stored:
        statuses = (record.status for record in records)
        _listing_cache.store(statuses, plain, text, host.metadata_files)
    if as_json:
        typer.echo(text, nl=False)
    elif terminal:
        _rich(records, models)
    else:
        typer.echo(plain, nl=False)
    if check and host.problems:
        problems = ", ".join(f"{r.name} ({r.status})" for r in host.problems)
        typer.echo(f"error: plugin problem(s): {problems}", err=True)
        raise typer.Exit(1)


@plugins_app.command("show")
def show_plugin(
    name: Annotated[
        str,
        typer.Argument(
            metavar="NAME",
            help="A plugin name, or a name it provides (continuity, grouping:continuity).",
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
) -> None:
    """Show one plugin: distribution, version, status, what it provides and the options
    its grouping strategies declare. Imports its lazy registrations to check them."""
    with user_errors(as_json=as_json):
        registry = state().registry(verify=True)
        key = _plugin_key(registry, name)
        record = registry.host.records[key]
        claims = registry.registered_by(key)
        provides = [_claim(claim) for claim in claims]
    if as_json:
        echo_json({**record.to_dict(), "provides": provides})
        return
    requires = f"recoil-core {record.requires_core}" if record.requires_core else "-"
    fields = [
        ("plugin", record.name),
        ("distribution", f"{record.distribution or '(in-process)'} {record.version or ''}"),
        ("module", record.module or "-"),
        ("requires", requires),
        ("status", record.status),
        ("error", record.error or ""),
        ("hooks", ", ".join(record.hooks) or "-"),
    ]
    for label, value in fields:
        if value.strip():
            typer.echo(f"{label + ':':<14}{value.strip()}")
    typer.echo("provides:" if provides else "provides:     -")
    for item in provides:
        typer.echo(f"  {item['name']}  {item['description']}".rstrip())
        if item["state"] != "owned":
            typer.echo(f"    ({item['state']})")
        for option in item.get("options") or []:
            default = "no default" if option["default"] is None else f"default {option['default']}"
            typer.echo(f"    --option {option['name']}=<{option['type']}>  {default}")
            if option["help"]:
                typer.echo(f"        {option['help']}")
        if item.get("options_error"):
            typer.echo(f"    options unavailable: {item['options_error']}")


def _plugin_key(registry: "Registry", name: str) -> str:
    """The plugin ``name`` designates: a plugin (entry-point) name, else the one plugin
    that registered a name such as ``continuity`` or ``grouping:continuity``."""
    from recoil_core.errors import UnknownNameError

    records = registry.host.records
    if name in records:
        return name
    keys = [key for key, record in records.items() if record.name == name]
    keys = keys or registry.claimants(name)
    if len(keys) == 1:
        return keys[0]
    if keys:
        from recoil_core.errors import NameConflictError

        raise NameConflictError(
            "name",
            name,
            [repr(key) for key in sorted(keys)],
            "Show one of them: " + " or ".join(f"recoil plugins show {k!r}" for k in sorted(keys)),
        )
    raise UnknownNameError("plugin", name, [record.name for record in records.values()])


def _claim(claim: "Claim") -> dict[str, Any]:
    """One provided name as ``plugins show`` prints it, with a strategy's options."""
    contest = claim.contest
    if claim.obj is None:
        where = "registered, but the plugin failed"
    elif claim.owned:
        where = "owned" if contest is None else "owned (preferred over the other claimants)"
    elif contest is not None and contest.owner is not None:
        where = f"not used: {contest.owner.origin()} owns it (preferred)"
    else:
        where = "not used: contested, no owner chosen (--prefer / RECOIL_PREFER)"
    item: dict[str, Any] = {
        "name": claim.name,
        "description": str(getattr(claim.obj, "description", "") or ""),
        "state": where,
    }
    if claim.name.startswith("grouping:") and claim.obj is not None:
        from recoil_core.options import strategy_option_specs

        try:
            specs = strategy_option_specs(cast("GroupingStrategy", claim.obj))
        except Exception as exc:  # a malformed declaration, or a class that cannot load
            item["options_error"] = str(exc)
            specs = ()
        item["options"] = [
            {
                "name": spec.name,
                "type": getattr(spec.type, "__name__", str(spec.type)),
                "default": spec.default,
                "help": spec.help,
            }
            for spec in specs
        ]
    return item
