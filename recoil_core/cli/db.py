"""``recoil db upgrade [--check]``: bring the PostgreSQL backend's tables (and those of an
installed executor, e.g. procrastinate's queue) to the layouts the installed plugins
write. recoil-postgres is imported only when the command runs.

Executors (``recoil.executors``) take part when their module provides
``schema_status(env, projects_root) -> [{"name", "found", "latest"}]`` and
``schema_upgrade(env, projects_root)``.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Annotated, Any

import typer

from recoil_core.cli._app import echo_json, fail, state, user_errors

db_app = typer.Typer(
    help="The PostgreSQL backend's database.", no_args_is_help=True, add_completion=False
)

EXIT_BEHIND = 1
"""``recoil db upgrade --check``: the database is behind the installed plugins."""


def _executors() -> list[Any]:
    modules = []
    for ep in entry_points(group="recoil.executors"):
        module = importlib.import_module(ep.value)
        if hasattr(module, "schema_status") and hasattr(module, "schema_upgrade"):
            modules.append(module)
    return modules


def _parts(env: Any, root: str, schema: str, dsn: str) -> list[dict[str, Any]]:
    from recoil_postgres.migrations import inspect

    parts = [part.to_dict() for part in inspect(dsn, schema)]
    for module in _executors():
        parts.extend(module.schema_status(env, root))
    return parts


def _behind(part: dict[str, Any]) -> bool:
    return part["found"] is None or part["found"] < part["latest"]


def _line(part: dict[str, Any], *, upgraded: bool) -> str:
    found = "absent" if part["found"] is None else f"version {part['found']}"
    if not _behind(part):
        return f"{part['name']}: {found}, up to date"
    if upgraded:
        return f"{part['name']}: {found} -> {part['latest']}"
    return f"{part['name']}: {found}, behind (latest {part['latest']})"


@db_app.command()
def upgrade(
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Change nothing; exit 1 if any table layout is behind (for CI).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Create or upgrade Recoil's tables in the PostgreSQL database ($RECOIL_POSTGRES_DSN,
    schema $RECOIL_POSTGRES_SCHEMA): the backend's, the lease tables render nodes use,
    and procrastinate's queue when recoil-procrastinate is installed."""
    try:
        from recoil_postgres.config import describe, dsn_from_env, schema_from_env
    except ImportError:
        fail("the postgres backend is not installed: pip install recoil-postgres", 2)
    import psycopg

    settings = state().settings
    env, root = settings.env, str(settings.projects_root)
    dsn, schema = dsn_from_env(env), schema_from_env(env)
    with user_errors(as_json=as_json):
        try:
            parts = _parts(env, root, schema, dsn)
            if not check:
                from recoil_postgres.migrations import upgrade as upgrade_tables

                upgrade_tables(dsn, schema)
                for module in _executors():
                    module.schema_upgrade(env, root)
        except psycopg.Error as exc:
            fail(describe(exc, dsn), 2)
    behind = [part for part in parts if _behind(part)]
    if as_json:
        echo_json({"ok": not (check and behind), "checked": check, "parts": parts})
    else:
        for part in parts:
            typer.echo(_line(part, upgraded=not check))
        if check and behind:
            typer.echo("run `recoil db upgrade`", err=True)
    if check and behind:
        raise typer.Exit(EXIT_BEHIND)
