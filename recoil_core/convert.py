"""The one cattrs converter, and versioned (un)structuring of persisted documents.

Every persisted document carries ``schema_version``. A document from a newer Recoil is a
:class:`SchemaVersionError`; an older one is migrated step by step by ``MIGRATIONS``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import cattrs
from cattrs.v import format_exception

from recoil_core.errors import CorruptDocumentError, SchemaVersionError
from recoil_core.model import SCHEMA_VERSION, GroupIdentity

T = TypeVar("T")

converter = cattrs.Converter(omit_if_default=False)
converter.register_unstructure_hook(GroupIdentity, lambda identity: identity.to_dict())
converter.register_structure_hook(GroupIdentity, lambda data, _t: GroupIdentity.from_dict(data))

Migration = Callable[[dict[str, Any]], dict[str, Any]]
MIGRATIONS: dict[tuple[str, int], Migration] = {}
"""(document kind, from version) -> function returning the document at from version + 1."""


def dump_document(kind: str, obj: object) -> dict[str, Any]:
    """Unstructure ``obj`` to a JSON-ready dict stamped with document kind and schema version."""
    data: dict[str, Any] = converter.unstructure(obj)
    return {"schema_version": SCHEMA_VERSION, "document": kind, **data}


def document_version(data: dict[str, Any], source: str, *, to: str = "read it") -> int:
    """A document's ``schema_version``: corrupt if missing, refused if newer than this
    Recoil (the message says to upgrade recoil-core ``to`` do what was asked)."""
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise CorruptDocumentError(source, "missing or invalid schema_version")
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{source}: schema_version {version} is newer than this Recoil understands "
            f"({SCHEMA_VERSION}); upgrade recoil-core to {to}"
        )
    return version


def load_document(kind: str, data: object, cls: type[T], *, source: str) -> T:
    """Structure a persisted document, checking and migrating its schema version."""
    if not isinstance(data, dict):
        raise CorruptDocumentError(source, f"expected a JSON object, got {type(data).__name__}")
    version = document_version(data, source)
    while version < SCHEMA_VERSION:
        migrate = MIGRATIONS.get((kind, version))
        if migrate is None:
            raise SchemaVersionError(f"{source}: no migration for {kind} v{version}")
        data = migrate(dict(data))
        version += 1
    body = {k: v for k, v in data.items() if k not in ("schema_version", "document")}
    try:
        return converter.structure(body, cls)
    except Exception as exc:
        detail = (
            cattrs.transform_error(exc, format_exception=_say_why)
            if isinstance(exc, cattrs.BaseValidationError)
            else [str(exc)]
        )
        raise CorruptDocumentError(source, "; ".join(detail)) from None


def _say_why(exc: BaseException, type_: type | None) -> str:
    """cattrs' wording, plus the reason a model's own check gave (it names the field)."""
    said = format_exception(exc, type_)
    if type_ is None and isinstance(exc, ValueError) and str(exc):
        return f"{said}: {exc}"
    return said
