"""The one cattrs converter, and versioned (un)structuring of persisted documents.

Every persisted document carries ``schema_version``. A document from a newer Recoil is a
:class:`SchemaVersionError`; an older one is migrated step by step by ``MIGRATIONS``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

import cattrs
from cattrs.v import format_exception

from recoil_core.errors import CorruptDocumentError, SchemaVersionError
from recoil_core.model.base import SCHEMA_VERSION
from recoil_core.model.grouping import GroupIdentity

T = TypeVar("T")

SCENE_KIND = "scene"
"""Document kind of a :class:`~recoil_core.model.Scene` version."""
MANIFEST_KIND = "scene_manifest"
"""Document kind of a :class:`~recoil_core.model.SceneManifest`."""
DERIVATION_KIND = "derivation"
"""Document kind of an episode's derivation manifest."""
LEDGER_KIND = "ledger_entry"
"""Document kind of a :class:`~recoil_core.model.LedgerEntry`."""

converter = cattrs.Converter(omit_if_default=False)


def _strict_float(value: object, _type: object) -> float:
    """A persisted number must be a JSON number: ``"12"`` or ``true`` in a hand-edited
    document is corruption, not 12.0 or 1.0 (cattrs would convert them silently)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, not {value!r}")
    return float(value)


converter.register_structure_hook(float, _strict_float)
# a unit's identity is written with its derived shotset_hash, the form plugins see too
converter.register_unstructure_hook(GroupIdentity, lambda identity: identity.to_dict())
converter.register_structure_hook(GroupIdentity, lambda data, _t: GroupIdentity.from_dict(data))

Migration = Callable[[dict[str, Any]], dict[str, Any]]
MIGRATIONS: dict[tuple[str, int], Migration] = {}
"""(document kind, from version) -> function returning the document at from version + 1."""


def _scene_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v2 gives every take a ``uid``. A v1 take gets one derived from where it lives (the
    same on every read until the scene is next written with it); its steps keep their
    seeds, which a lost create is still matched by."""
    where = f"{data.get('project')}/{data.get('episode')}/{data.get('scene_id')}"
    for beat in data.get("beats") or []:
        for take in beat.get("takes") or [] if isinstance(beat, dict) else []:
            if isinstance(take, dict) and not take.get("uid"):
                digest = hashlib.sha256(f"{where}/{take.get('take_id')}".encode()).hexdigest()
                take["uid"] = f"tk_{digest[:32]}"
    return data


def _unchanged(data: dict[str, Any]) -> dict[str, Any]:
    return data


MIGRATIONS.update(
    {
        (SCENE_KIND, 1): _scene_v1_to_v2,
        (MANIFEST_KIND, 1): _unchanged,
        (DERIVATION_KIND, 1): _unchanged,
        (LEDGER_KIND, 1): _unchanged,  # take_uid is optional
    }
)


def dump_document(kind: str, obj: object) -> dict[str, Any]:
    """Unstructure ``obj`` to a JSON-ready dict stamped with document kind and schema version.

    ``kind`` is one of the ``*_KIND`` constants; :func:`load_document` reads the result back.
    """
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


def migrated(kind: str, data: dict[str, Any], source: str) -> dict[str, Any]:
    """The ``kind`` document ``data`` brought to this Recoil's schema version (``data``
    itself when it is there already); refuses a newer or unreadable version."""
    version = document_version(data, source)
    while version < SCHEMA_VERSION:
        migrate = MIGRATIONS.get((kind, version))
        if migrate is None:
            raise SchemaVersionError(f"{source}: no migration for {kind} v{version}")
        data = migrate(dict(data))
        version += 1
    return data


def load_document(kind: str, data: object, cls: type[T], *, source: str) -> T:
    """Structure a persisted document, checking and migrating its schema version."""
    if not isinstance(data, dict):
        raise CorruptDocumentError(source, f"expected a JSON object, got {type(data).__name__}")
    data = migrated(kind, data, source)
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
