"""Renders: file names, typed provenance, and the writer of media with their sidecars.

- :mod:`~recoil_core.render.naming`: render and sidecar file names.
- :mod:`~recoil_core.render.provenance`: :class:`Provenance` and :func:`build_provenance`.
- :mod:`~recoil_core.render.secret_scan`: refusing credential-like provenance.
- :mod:`~recoil_core.render.writer`: :func:`write_render`, atomic media + sidecar.
"""

from __future__ import annotations

from recoil_core.render.checksums import file_sha256
from recoil_core.render.naming import STRATEGY_TAGS, render_name, sidecar_name
from recoil_core.render.provenance import (
    InputRecord,
    OutputRecord,
    Provenance,
    Timings,
    build_provenance,
    provenance_document,
)
from recoil_core.render.secret_scan import SecretInProvenanceError, find_secret_keys
from recoil_core.render.writer import (
    PROCESS_FOLDERS,
    SIDECAR_KIND,
    SIDECAR_SCHEMA_VERSION,
    RenderFolders,
    RenderRecord,
    RenderSidecar,
    write_render,
)

__all__ = [
    "PROCESS_FOLDERS",
    "SIDECAR_KIND",
    "SIDECAR_SCHEMA_VERSION",
    "STRATEGY_TAGS",
    "InputRecord",
    "OutputRecord",
    "Provenance",
    "RenderFolders",
    "RenderRecord",
    "RenderSidecar",
    "SecretInProvenanceError",
    "Timings",
    "build_provenance",
    "file_sha256",
    "find_secret_keys",
    "provenance_document",
    "render_name",
    "sidecar_name",
    "write_render",
]
