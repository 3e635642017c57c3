"""``recoil providers show NAME``: what a provider declares it can render (per model),
cancel, find and keep, and where its prices come from (the kernel's
:func:`recoil_core.runner.capabilities.describe_provider`; this module only renders it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import typer

from recoil_core.cli._app import echo_json, state, user_errors

providers_app = typer.Typer(
    help="Inspect the installed providers.", no_args_is_help=True, add_completion=False
)


def _seconds(value: float | None, none: str) -> str:
    if value is None:
        return none
    for one, many, size in (("day", "days", 86400), ("h", "h", 3600), ("min", "min", 60)):
        if value >= size and value % size == 0:
            count = value / size
            return f"{count:g} {one if count == 1 else many}"
    return f"{value:g} s"


def _durations(data: Mapping[str, Any] | None) -> str:
    if data is None:
        return "not declared"
    if "choices" in data:
        return ", ".join(f"{c:g}" for c in data["choices"]) + " s"
    step = data["step_s"]
    every = "any length" if step <= 0 else f"step {step:g} s"
    return f"{data['min_s']:g}-{data['max_s']:g} s ({every})"


def _references(count: int | None) -> str:
    if count is None:
        return "not declared"
    return "none" if count == 0 else f"at most {count}"


def _fields(pairs: list[tuple[str, str]], indent: str = "") -> list[str]:
    return [f"{indent}{label + ':':<20}{value}" for label, value in pairs]


def _model_lines(name: str, caps: Mapping[str, Any] | None) -> list[str]:
    if caps is None:
        return [f"  {name}: no capabilities declared (not checked)"]
    frames = "yes" if caps["frames_with_references"] else "no (frames or references)"
    return [
        f"  {name}",
        *_fields(
            [
                ("durations", _durations(caps["durations"])),
                ("resolutions", ", ".join(caps["resolutions"]) or "not declared"),
                ("aspect ratios", ", ".join(caps["aspect_ratios"]) or "not declared"),
                ("reference images", _references(caps["max_reference_images"])),
                ("frames with refs", frames),
            ],
            indent="    ",
        ),
    ]


def render(info: Mapping[str, Any]) -> str:
    """The text ``recoil providers show`` prints for :func:`describe_provider`'s data."""
    find = info["find"]
    prices = info["prices"]
    found = (
        f"yes, {_seconds(find['window_s'], 'at any age')} back "
        f"(a new job may take {_seconds(find['consistency_s'], '0 s')} to show)"
        if find["supported"]
        else "no (a lost create is left for a person)"
    )
    pairs = [
        ("provider", info["name"]),
        ("description", info["description"] or "-"),
        ("modalities", ", ".join(info["modalities"])),
        ("cancellable states", ", ".join(info["cancellable_states"]) or "none"),
        ("running cancel", "billed" if info["cancel_running_billed"] else "not billed"),
        ("bills failures", "yes" if info["bills_failures"] else "no"),
        ("finds lost creates", found),
        ("keeps outputs", _seconds(info["output_retention_s"], "not declared")),
        ("price table", prices.get("source") or prices.get("source_error") or "not dated"),
        ("estimator", prices.get("estimator") or "none (estimated at 0)"),
    ]
    if info["mirrors_models"]:
        pairs.append(("previs", "renders any model as the provider declaring it delivers it"))
    lines = _fields(pairs)
    models = info["models"]
    if models:
        lines.append("models (and any other name):" if info["any_model"] else "models:")
        for model, caps in models.items():
            lines += _model_lines(model, caps)
    else:
        lines.append(f"{'models:':<20}any (none declared)")
    return "\n".join(lines)


@providers_app.command("show")
def show_provider(
    name: Annotated[str, typer.Argument(metavar="NAME", help="A provider name (seeddance).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
) -> None:
    """Show what a provider declares: per model durations, resolutions, aspect ratios and
    reference limits; what it can cancel and whether a running cancel is billed; whether
    it can find a lost create and for how long; how long it keeps outputs; and which price
    table (and date) its estimates come from."""
    with user_errors(as_json=as_json):
        from recoil_core.runner.capabilities import describe_provider

        info = describe_provider(state().registry(), name)
    if as_json:
        echo_json(info)
        return
    typer.echo(render(info))
