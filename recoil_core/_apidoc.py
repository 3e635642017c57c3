"""Writes docs/api.md, the reference page of :mod:`recoil_core.api`, from the code itself.

Run ``python -m recoil_core.api --markdown > docs/api.md``; tests/test_api_reference.py
fails when the page and the code disagree. Field and constant docstrings (the string after
an attribute) are read from the source, as Sphinx does; nothing here is imported by a run.
"""

from __future__ import annotations

import argparse
import ast
import enum
import inspect
import itertools
import re
import sys
import textwrap
import typing
from collections.abc import Callable, Iterator
from importlib import import_module
from typing import Any

import attrs

from recoil_core import api

SECTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "Registering a plugin",
        "A plugin module implements hooks (docs/hooks.md) with `@hookimpl` and returns the "
        "objects below. Register strategies, runners and estimates lazily, so "
        "`recoil plugins list` does not import them.",
        ("hookimpl", "LazyStrategy", "LazyRunner", "LazyFunction"),
    ),
    (
        "Grouping strategies",
        "What `recoil_grouping_strategies` returns, what a strategy is given and what it "
        "makes (docs/writing-a-grouping-strategy.md).",
        (
            "GroupingStrategy",
            "GroupingContext",
            "OptionSpec",
            "CanonicalPlan",
            "CanonicalShot",
            "CoveragePass",
            "CoverageSegment",
            "Group",
            "GroupIdentity",
            "RenderUnit",
            "Segment",
        ),
    ),
    (
        "Modality runners",
        "What `recoil_modality_runners` returns and the workflow it builds for a beat "
        "(docs/writing-a-modality-runner.md).",
        (
            "ModalityRunner",
            "BuildContext",
            "Beat",
            "Workflow",
            "WorkflowStep",
            "StepState",
            "FINAL_STEP_STATES",
        ),
    ),
    (
        "Providers and cost estimators",
        "What `recoil_providers` and `recoil_cost_estimators` return, and what a provider "
        "is asked and answers (docs/writing-a-provider.md).",
        (
            "Provider",
            "ProviderSpec",
            "ModelCapabilities",
            "Durations",
            "ProviderLimits",
            "ProviderContext",
            "SubmitRequest",
            "JobStatus",
            "JobStateName",
            "FINAL_JOB_STATES",
            "CostEstimator",
        ),
    ),
    (
        "Provider toolkit",
        "What every HTTP provider needs alike, without an HTTP client: the key kept out of "
        "reprs, bounded retries with backoff and Retry-After, an HTTP answer or a lost "
        "connection mapped to the provider errors, a download written with its checksum "
        "and a studio's dated price file read (docs/writing-a-provider.md).",
        (
            "Secret",
            "RetryPolicy",
            "retrying",
            "only_rate_limited",
            "retry_after_s",
            "http_error",
            "unreachable",
            "write_media",
            "price_file",
            "read_price_file",
        ),
    ),
    (
        "Persistence backends",
        "What `recoil_persistence_backends` returns, the protocol a backend implements and "
        "the documents it stores (docs/persistence-backends.md). A backend passes "
        "`recoil_core.testing.conformance`.",
        (
            "PersistenceBackend",
            "CreateGuard",
            "BackendSpec",
            "BackendContext",
            "Scene",
            "SceneManifest",
            "VersionEntry",
            "Downstream",
            "Take",
            "TakeState",
            "FINAL_TAKE_STATES",
            "owes",
            "GenerationReceipt",
            "RunResult",
            "LedgerEntry",
            "ChargeKind",
            "conform_target",
            "dump_document",
            "load_document",
            "SCENE_KIND",
            "MANIFEST_KIND",
            "DERIVATION_KIND",
            "LEDGER_KIND",
            "RENDERS_DIR",
            "ensure_directory",
        ),
    ),
    (
        "Preflight gates and observers",
        "What `recoil_preflight_gates` returns and what `recoil_on_take_event` and "
        "`recoil_on_scene_event` are called with.",
        ("PreflightGate", "PreflightContext", "TakeEvent", "SceneEvent"),
    ),
    (
        "Names, ids and digests",
        "Helpers that name files the way the kernel does and read plan details.",
        (
            "render_name",
            "validate_id",
            "id_problem",
            "MAX_ID_LENGTH",
            "pass_ordinal",
            "reference_images",
            "stable_digest",
            "shotset_hash",
            "WILDCARD",
        ),
    ),
    (
        "Assets",
        "The plan's characters and locations with their look and references "
        "(`CanonicalPlan.assets`), and the reference sheet a studio approved "
        "(docs/assets.md). Runners send their references within the model's limits.",
        ("Asset", "AssetKind", "ApprovedReference"),
    ),
    (
        "Review marks and the cut",
        "What reviewers decide per beat (`recoil select`, `approve`, `reject`, `retake`, the "
        "review page) and the cut an exporter reads (docs/review-and-export.md). Marks never "
        "touch paid takes or renders.",
        (
            "BeatMark",
            "Verdict",
            "load_marks",
            "select_take",
            "approve",
            "reject",
            "request_retake",
            "pending_retakes",
            "cut_take",
            "episode_cut",
            "Cut",
            "CutEvent",
        ),
    ),
)
"""The page's sections: title, introduction and the names they document, in order.
Errors are a section of their own, drawn as a tree."""

HOOKIMPL_DOC = (
    "Marks a function of a plugin module as the implementation of the hook it is named "
    "after (pluggy's `HookimplMarker` for the project `recoil`). `@hookimpl` alone is the "
    "usual form; `@hookimpl(specname=...)` implements a hook under another function name, "
    "`tryfirst=True` / `trylast=True` order gates and observers. Hook wrappers are refused. "
    "Every hook: docs/hooks.md."
)

FINAL_STATES: dict[str, str] = {
    "StepState": "FINAL_STEP_STATES",
    "TakeState": "FINAL_TAKE_STATES",
}
"""Enums whose members a ``FINAL_*`` set marks as final."""

_ROLE = re.compile(r":(?:class|func|meth|attr|data|mod|exc):`(~?)([\w.]+)(\(\))?`")


def _resolve(name: str) -> Any:
    return getattr(api, name)


def _is_error(value: object) -> bool:
    return isinstance(value, type) and (
        issubclass(value, Exception) or value.__name__ == "PlanIssue"
    )


def error_names() -> list[str]:
    """The exported errors as a tree walk: each class before its subclasses, by name."""
    errors: dict[str, type] = {
        name: _resolve(name) for name in api.__all__ if _is_error(_resolve(name))
    }

    def parent(cls: type) -> str | None:
        for base in cls.__mro__[1:]:
            if errors.get(base.__name__) is base:
                return str(base.__name__)
        return None

    children: dict[str | None, list[str]] = {}
    for name in sorted(errors):
        children.setdefault(parent(errors[name]), []).append(name)

    def walk(node: str | None) -> Iterator[str]:
        for child in children.get(node, []):
            yield child
            yield from walk(child)

    return list(walk(None))


def check_sections() -> None:
    """Raise ``ValueError`` unless every exported name is documented exactly once."""
    placed = [name for _title, _intro, names in SECTIONS for name in names] + error_names()
    repeated = sorted({name for name in placed if placed.count(name) > 1})
    missing = sorted(set(api.__all__) - set(placed))
    unknown = sorted(set(placed) - set(api.__all__))
    if repeated or missing or unknown:
        raise ValueError(
            "recoil_core/_apidoc.py SECTIONS must name every export of recoil_core.api once: "
            f"missing {missing}, repeated {repeated}, not exported {unknown}"
        )


# --------------------------------------------------------------------------- text


def _prose(doc: str | None) -> str:
    """A docstring as Markdown: roles become code (linked when exported), ``x`` becomes
    `x`, a paragraph ending in ``::`` introduces a code block."""
    if not doc:
        return ""
    text = inspect.cleandoc(doc)

    def role(match: re.Match[str]) -> str:
        tilde, target, call = match.groups()
        short = target.rsplit(".", 1)[-1]
        if short in api.__all__:
            return f"[`{short}{call or ''}`](#{short.lower()})"
        return f"`{short if tilde else target}{call or ''}`"

    text = _ROLE.sub(role, text).replace("``", "`")
    out: list[str] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line.endswith("::"):
            out.append(line)
            continue
        out.append(line[:-1] if line[:-2].strip() else "")
        block: list[str] = []
        while index < len(lines) and (not lines[index].strip() or lines[index][:1] == " "):
            block.append(lines[index])
            index += 1
        out += ["", "```python", textwrap.dedent("\n".join(block)).strip("\n"), "```", ""]
    return "\n".join(out).strip()


def _cell(doc: str | None) -> str:
    """A docstring folded into one table cell."""
    return " ".join(_prose(doc).split()).replace("|", "\\|")


class _Raw:
    """An annotation shown as written (``from __future__ import annotations`` keeps strings)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _annotation(value: object) -> object:
    if value is inspect.Parameter.empty:
        return value
    return _Raw(value if isinstance(value, str) else inspect.formatannotation(value))


def signature(function: Callable[..., Any], *, drop_self: bool = False) -> str:
    """``(a: int, *, b: str = 'x') -> bool`` with annotations as written in the source."""
    sig = inspect.signature(function)
    parameters = [
        parameter.replace(annotation=_annotation(parameter.annotation))
        for parameter in sig.parameters.values()
        if not (drop_self and parameter.name in ("self", "cls"))
    ]
    return str(
        sig.replace(parameters=parameters, return_annotation=_annotation(sig.return_annotation))
    )


def value_repr(value: object) -> str:
    """A stable, readable form of a default or constant."""
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, frozenset | set):
        if not value:
            return f"{type(value).__name__}()"
        items = sorted(item.value if isinstance(item, enum.Enum) else item for item in value)
        return "{" + ", ".join(repr(item) for item in items) + "}"
    if attrs.has(type(value)):
        try:
            if value == type(value)():
                return f"{type(value).__name__}()"
        except TypeError:
            pass
    return repr(value)


# --------------------------------------------------------------------------- source


def written_annotations(node: ast.ClassDef) -> dict[str, str]:
    """The annotations of a class body as written (``str | None``), by attribute name."""
    return {
        statement.target.id: ast.unparse(statement.annotation)
        for statement in node.body
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
    }


def attribute_docs(node: ast.ClassDef | ast.Module) -> dict[str, str]:
    """Docstrings of the attributes assigned in a class or module body (the string
    literal right after ``name: type = ...`` or ``NAME = ...``)."""
    docs: dict[str, str] = {}
    body = node.body
    for statement, following in itertools.pairwise(body):
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            name = statement.target.id
        elif (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
        ):
            name = statement.targets[0].id
        else:
            continue
        if (
            isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[name] = following.value.value
    return docs


def class_source(cls: type) -> ast.ClassDef:
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    node = tree.body[0]
    assert isinstance(node, ast.ClassDef)
    return node


def module_attribute_docs(module_name: str) -> dict[str, str]:
    return attribute_docs(ast.parse(inspect.getsource(import_module(module_name))))


def _module_of(name: str) -> str:
    for module, names in api._EXPORTS.items():
        if name in names:
            return module
    raise KeyError(name)


# --------------------------------------------------------------------------- entries


def _members(cls: type) -> list[str]:
    """Public methods and properties the class itself defines, as Markdown list items."""
    items = []
    for name, member in vars(cls).items():
        if name.startswith("_"):
            continue
        doc = _cell(getattr(member, "__doc__", None))
        if isinstance(member, property):
            returns = member.fget.__annotations__.get("return") if member.fget else None
            kind = f": {returns}" if isinstance(returns, str) else ""
            items.append(f"- `{name}{kind}` (property){': ' + doc if doc else ''}")
        elif isinstance(member, classmethod | staticmethod) or inspect.isfunction(member):
            function = member.__func__ if isinstance(member, classmethod | staticmethod) else member
            prefix = "classmethod " if isinstance(member, classmethod) else ""
            if inspect.iscoroutinefunction(function):
                prefix += "async "
            shown = f"{prefix}{name}{signature(function, drop_self=True)}"
            items.append(f"- `{shown}`{': ' + doc if doc else ''}")
    return items


def _attrs_entry(cls: type) -> list[str]:
    node = class_source(cls)
    docs, written = attribute_docs(node), written_annotations(node)
    frozen = getattr(cls.__setattr__, "__name__", "") == "_frozen_setattrs"
    kind = "frozen (`attrs.evolve` makes a changed copy)" if frozen else "mutable"
    lines = [f"*attrs class, {kind}*", "", _prose(cls.__doc__), ""]
    rows = ["| field | type | default | |", "|---|---|---|---|"]
    for field in attrs.fields(cls):
        if not field.init:
            continue
        shown = field.alias if field.alias and field.alias != field.name else field.name
        if field.default is attrs.NOTHING:
            default = "required"
        elif isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
            factory = field.default.factory
            default = f"`{getattr(factory, '__name__', 'factory')}()`"
        else:
            default = f"`{value_repr(field.default)}`"
        kw_only = " (keyword)" if field.kw_only else ""
        field_type = written.get(field.name, str(field.type)).replace("|", "\\|")
        rows.append(
            f"| `{shown}`{kw_only} | `{field_type}` | {default} | {_cell(docs.get(field.name))} |"
        )
    lines += rows
    members = _members(cls)
    if members:
        lines += ["", *members]
    return lines


def _protocol_entry(cls: type) -> list[str]:
    node = class_source(cls)
    docs = attribute_docs(node)
    lines = ["*protocol: any object with these members satisfies it*", "", _prose(cls.__doc__)]
    attributes = written_annotations(node)
    if attributes:
        lines += ["", "| attribute | type | |", "|---|---|---|"]
        for name, written in attributes.items():
            shown_type = written.replace("|", "\\|")
            lines.append(f"| `{name}` | `{shown_type}` | {_cell(docs.get(name))} |")
    members = _members(cls)
    if members:
        lines += ["", *members]
    return lines


def _enum_entry(name: str, cls: type[enum.Enum]) -> list[str]:
    final_name = FINAL_STATES.get(name)
    final: frozenset[Any] = _resolve(final_name) if final_name else frozenset()
    lines = ["*enum (`str` values)*", "", _prose(cls.__doc__), ""]
    if final_name:
        lines += [f"| member | value | final ([`{final_name}`](#{final_name.lower()})) |"]
        lines += ["|---|---|---|"]
        lines += [
            f"| `{member.name}` | `{member.value!r}` | {'yes' if member in final else 'no'} |"
            for member in cls
        ]
    else:
        lines += ["| member | value |", "|---|---|"]
        lines += [f"| `{member.name}` | `{member.value!r}` |" for member in cls]
    return lines


def _job_states() -> list[str]:
    states = typing.get_args(_resolve("JobStateName"))
    final = _resolve("FINAL_JOB_STATES")
    lines = ["", "States (`state`), and which are final (`is_final`, `FINAL_JOB_STATES`):", ""]
    lines += ["| state | final |", "|---|---|"]
    lines += [f"| `{state!r}` | {'yes' if state in final else 'no'} |" for state in states]
    return lines


def _error_entry(cls: type) -> list[str]:
    bases = [base.__name__ for base in cls.__bases__ if base is not object]
    facts = [f"subclass of {', '.join(f'`{base}`' for base in bases)}"] if bases else []
    exit_code = getattr(cls, "exit_code", None)
    if isinstance(exit_code, int):
        facts.append(f"exit code {exit_code}")
    retryable = getattr(cls, "retryable", None)
    if isinstance(retryable, bool):
        facts.append(f"retryable: {retryable}")
    lines = [f"*{'; '.join(facts)}*" if facts else "*a value carried by an error*", ""]
    if "__init__" in vars(cls):
        shown = signature(vars(cls)["__init__"], drop_self=True).removesuffix(" -> None")
        lines += [f"`{cls.__name__}{shown}`", ""]
    lines.append(_prose(cls.__doc__))
    return lines


def entry(name: str) -> list[str]:
    """The Markdown of one exported name: a heading, what it is, its parts."""
    value = _resolve(name)
    heading = f"### {name}"
    if name == "hookimpl":
        usage = "`@hookimpl`, `@hookimpl(specname=..., tryfirst=..., trylast=...)`"
        return [heading, "", usage, "", HOOKIMPL_DOC]
    if isinstance(value, type) and issubclass(value, enum.Enum):
        return [heading, "", *_enum_entry(name, value)]
    if _is_error(value):
        return [heading, "", *_error_entry(value)]
    if isinstance(value, type) and getattr(value, "_is_protocol", False):
        return [heading, "", *_protocol_entry(value)]
    if isinstance(value, type) and attrs.has(value):
        lines = [heading, "", *_attrs_entry(value)]
        return lines + _job_states() if name == "JobStatus" else lines
    if inspect.isfunction(value):
        return [heading, "", f"`{name}{signature(value)}`", "", _prose(value.__doc__)]
    if isinstance(value, type):  # a plain class
        lines = [heading, "", "*class*", "", f"`{name}{signature(value)}`", ""]
        members = _members(value)
        return lines + [_prose(value.__doc__)] + (["", *members] if members else [])
    doc = module_attribute_docs(_module_of(name)).get(name)
    if typing.get_origin(value) is typing.Literal:
        shown = f"Literal[{', '.join(repr(arg) for arg in typing.get_args(value))}]"
        return [heading, "", f"`{name} = {shown}`", "", _prose(doc)]
    return [heading, "", f"`{name} = {value_repr(value)}`", "", _prose(doc)]


def markdown() -> str:
    """docs/api.md: every name of :mod:`recoil_core.api`, by section."""
    check_sections()
    lines = [
        "# recoil_core.api reference",
        "",
        "<!-- Generated by `python -m recoil_core.api --markdown > docs/api.md`; do not edit:",
        "     tests/test_api_reference.py fails when this page and the code disagree. -->",
        "",
        "Everything a plugin needs from the Recoil kernel is importable from `recoil_core.api`:",
        "",
        "```python",
        "from recoil_core.api import GroupingContext, LazyStrategy, OptionSpec, hookimpl",
        "```",
        "",
        "Every other `recoil_core` module is private and may change without notice; tests "
        "may also use `recoil_core.testing` (docs/testing-plugins.md). Importing "
        "`recoil_core.api` is free: each name is imported the first time it is used.",
        "",
        "## Contents",
        "",
    ]
    titles = [title for title, _intro, _names in SECTIONS] + ["Errors"]
    for title, names in zip(
        titles, [names for _t, _i, names in SECTIONS] + [tuple(error_names())], strict=True
    ):
        anchor = title.lower().replace(" ", "-").replace(",", "")
        links = ", ".join(f"[`{name}`](#{name.lower()})" for name in names)
        lines.append(f"- [{title}](#{anchor}): {links}")
    for title, intro, names in SECTIONS:
        lines += ["", f"## {title}", "", intro]
        for name in names:
            lines += ["", *entry(name)]
    lines += [
        "",
        "## Errors",
        "",
        "Raise a `RecoilError` for a problem the user can fix: the CLI prints its message and "
        "exits with its exit code, without a traceback. Anything else escaping plugin code "
        "is reported as a bug in the plugin (`PluginCodeError`, exit code 7).",
    ]
    for name in error_names():
        lines += ["", *entry(name)]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.rstrip() + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m recoil_core.api",
        description="Print the reference page of recoil_core.api (docs/api.md).",
    )
    parser.add_argument("--markdown", action="store_true", help="print docs/api.md")
    args = parser.parse_args(argv)
    if not args.markdown:
        parser.print_help()
        return
    sys.stdout.write(markdown())
