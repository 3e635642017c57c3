"""The render writer: file names from grouping identities, atomic media + provenance sidecars.

Every modality writes its outputs through here, so names, checksums and sidecars look the
same whichever runner or provider produced them.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import stat
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import attrs

from recoil_core import jsonio
from recoil_core.errors import RecoilError
from recoil_core.hashing import WILDCARD
from recoil_core.ids import MAX_ID_LENGTH, validate_id
from recoil_core.model import Beat, GroupIdentity, Take, WorkflowStep
from recoil_core.persistence.atomic import (
    commit_group,
    ensure_directory,
    is_temp_name,
    replace_durably,
    temp_path,
    write_atomic,
)

__all__ = [
    "SIDECAR_KIND",
    "RenderRecord",
    "SecretInProvenanceError",
    "build_provenance",
    "file_sha256",
    "find_secret_keys",
    "render_name",
    "sidecar_name",
    "write_render",
]

SIDECAR_KIND = "render_sidecar"
SIDECAR_SCHEMA_VERSION = 1
STRATEGY_TAGS = {"continuity": "CONT", "oner": "ONER", "coverage": "COV"}
_CHUNK = 1024 * 1024
_SHOT_ID = re.compile(r"^(?P<prefix>.+)_SH(?P<number>\d+)(?P<suffix>[A-Za-z0-9]*)$")
_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_SUFFIX = re.compile(r"^\.[A-Za-z0-9]+$")
_SECRET_KEY = re.compile(
    r"(^|_)(authorization|proxy_authorization|auth|api_?key|access_?key|secret|secret_?key"
    r"|client_secret|password|passwd|token|access_token|refresh_token|bearer|cookie"
    r"|credentials?)($|_)"
)
_BEARER_VALUE = re.compile(r"^\s*bearer\s+\S+", re.IGNORECASE)


class SecretInProvenanceError(RecoilError, ValueError):
    """Provenance about to be written holds something that looks like a credential."""

    def __init__(self, name: str, locations: list[str]) -> None:
        self.locations = locations
        super().__init__(
            f"render {name}: refused to write the sidecar, provenance holds secret-looking "
            f"field(s) {', '.join(locations)}; remove credentials from the provenance "
            "(the values were not written anywhere)"
        )


# --------------------------------------------------------------------------- names


@attrs.frozen
class _ShotNumber:
    prefix: str
    number: int
    suffix: str


def _parse_shot(shot_id: str) -> _ShotNumber | None:
    match = _SHOT_ID.match(shot_id)
    if match is None:
        return None
    return _ShotNumber(match["prefix"], int(match["number"]), match["suffix"])


def _strategy_tag(strategy: str) -> str:
    if strategy in STRATEGY_TAGS:
        return STRATEGY_TAGS[strategy]
    return re.sub(r"[^A-Za-z0-9]+", "_", strategy).strip("_").upper() or "UNIT"


def _solo_stem(shot_id: str, episode: str) -> str:
    parsed = _parse_shot(shot_id)
    if parsed is not None:
        return f"{parsed.prefix}_SH{parsed.number}{parsed.suffix}"
    if shot_id.startswith(f"{episode}_"):
        return shot_id
    return f"{episode}_{shot_id}"


def _multi_stem(identity: GroupIdentity, shot_ids: list[str], episode: str) -> str:
    head = f"{_strategy_tag(identity.strategy)}_{identity.ordinal:03d}"
    if not shot_ids:
        return f"{episode}_{head}"
    parsed = [_parse_shot(sid) for sid in shot_ids]
    numbers = [p for p in parsed if p is not None]
    if len(numbers) != len(parsed):
        span = shot_ids[0] if len(shot_ids) == 1 else f"{shot_ids[0]}_{shot_ids[-1]}"
        return f"{episode}_{head}_{span}"
    ordered = sorted(numbers, key=lambda p: (p.number, p.suffix))
    first, last = ordered[0], ordered[-1]
    span = f"SH{first.number:02d}{first.suffix}"
    if (last.number, last.suffix) != (first.number, first.suffix):
        span += f"_{last.number:02d}{last.suffix}"
    return f"{numbers[0].prefix}_{head}_{span}"


def render_name(
    identity: GroupIdentity,
    *,
    episode: str,
    take_number: int,
    suffix: str = ".mp4",
    tag: str | None = None,
    version: int = 1,
) -> str:
    """The file name of a render of ``identity`` (``EP001_SH1_take1.mp4``, ``EP001_ONER_001_...``).

    Solo units use the shot stem (shot number without leading zeros); multi-shot strategies
    put their tag and 3-digit ordinal before the first and last shot numbers. The episode
    prefix comes from the shot ids (the part before ``_SH``), else ``episode``. ``tag``
    (``"kf"``) marks intermediate outputs. A take of scene ``version`` 2 or later is named
    ``..._v2_take1.mp4``, so a re-derived version never overwrites an earlier version's
    render. Raises InvalidIdError for an unsafe result.
    """
    if take_number < 1:
        raise ValueError(f"take_number must be 1 or more, got {take_number}")
    if not _SUFFIX.match(suffix):
        raise ValueError(f"suffix must look like '.mp4', got {suffix!r}")
    if tag is not None and not _TAG.match(tag):
        raise ValueError(f"tag may only use letters, digits and '-', got {tag!r}")
    shot_ids = [sid for sid in identity.shot_ids if sid and sid != WILDCARD]
    if identity.strategy == "solo" and len(shot_ids) == 1:
        stem = _solo_stem(shot_ids[0], episode)
    else:
        stem = _multi_stem(identity, shot_ids, episode)
    if version < 1:
        raise ValueError(f"version must be 1 or more, got {version}")
    tail = (f"_v{version}" if version > 1 else "") + f"_take{take_number}"
    tail += (f"_{tag}" if tag else "") + suffix
    if len(stem) + len(tail) > MAX_ID_LENGTH:
        # ids that are valid on their own can make a name too long for the file system's
        # limit: keep the start of the stem and make it unique with a digest of all of it
        digest = hashlib.sha256(stem.encode()).hexdigest()[:12]
        stem = f"{stem[: MAX_ID_LENGTH - len(tail) - len(digest) - 1]}-{digest}"
    return validate_id(stem + tail, what="render file name")


def sidecar_name(name: str) -> str:
    """The provenance sidecar's file name for render ``name``."""
    return f"{name}.json"


# --------------------------------------------------------------------------- secrets


_NON_WORD = re.compile(r"[^a-z0-9]+")


@functools.lru_cache(maxsize=4096)
def _is_secret_key(key: str) -> bool:
    normalized = _NON_WORD.sub("_", key.lower()).strip("_")
    return bool(normalized) and _SECRET_KEY.search(normalized) is not None


def _is_bearer(value: object) -> bool:
    return isinstance(value, str) and _BEARER_VALUE.match(value) is not None


def _path(parts: tuple[str | int, ...]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _scan(value: object, where: tuple[str | int, ...], found: list[str]) -> None:
    if isinstance(value, (dict, Mapping)):  # dict first: it skips the ABC check
        for key, item in value.items():
            here = (*where, str(key))
            if _is_secret_key(str(key)) or _is_bearer(item):
                found.append(_path(here))
            if isinstance(item, (dict, list, tuple, Mapping)):
                _scan(item, here, found)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            if _is_bearer(item):
                found.append(_path((*where, index)))
            if isinstance(item, (dict, list, tuple, Mapping)):
                _scan(item, (*where, index), found)


def find_secret_keys(provenance: Mapping[str, Any]) -> list[str]:
    """Where ``provenance`` has a key named like a credential, or a bearer-token value."""
    found: list[str] = []
    _scan(provenance, (), found)
    return found


# --------------------------------------------------------------------------- writing


@attrs.frozen
class RenderRecord:
    """A render written in place: its path, sidecar, checksum and size."""

    path: Path
    sidecar_path: Path
    sha256: str
    bytes: int


def _digest(handle: BinaryIO) -> tuple[str, int]:
    """sha256 hex digest and size of what ``handle`` reads to its end."""
    digest = hashlib.sha256()
    size = 0
    while chunk := handle.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def file_sha256(path: Path) -> str:
    """sha256 hex digest of a file's content."""
    with path.open("rb") as handle:
        return _digest(handle)[0]


class _RenderFolders:
    """Per render folder, listed once per process: its temp files and file system.

    Listing a folder of thousands of renders for every write made writing N renders
    O(N^2). A temp file is left behind only by a process that died mid-write, and while
    a run writes an episode's renders it holds the episode lock, so no other process
    writes there: the folder is listed on this process's first write into it (or when the
    folder itself was replaced), and the list is kept up to date by the writes after it.
    One ``stat`` per render checks the folder is still the one listed.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._folders: dict[Path, tuple[int, set[str]]] = {}

    def prepare(self, dest_dir: Path, names: tuple[str, ...]) -> int:
        """Create ``dest_dir`` if needed, remove the temp files a crashed write of one of
        ``names`` left there, and return the folder's device number."""
        try:
            info = os.stat(dest_dir)
        except FileNotFoundError:
            ensure_directory(dest_dir)  # its entry made durable like the files put in it
            info = os.stat(dest_dir)
        prefixes = tuple(f".{name}." for name in names)
        with self._lock:
            cached = self._folders.get(dest_dir)
            if cached is not None and cached[0] == info.st_ino:
                temps = cached[1]
            else:
                with os.scandir(dest_dir) as entries:
                    temps = {e.name for e in entries if is_temp_name(e.name)}
                self._folders[dest_dir] = (info.st_ino, temps)
            stale = [t for t in temps if any(_is_temp_of(t, p) for p in prefixes)]
            temps.difference_update(stale)
        for leftover in stale:
            (dest_dir / leftover).unlink(missing_ok=True)
        return info.st_dev


def _is_temp_of(temp: str, prefix: str) -> bool:
    """Whether ``temp`` matches the glob ``<prefix>*.tmp``."""
    return temp.startswith(prefix) and temp[len(prefix) :].endswith(".tmp")


_FOLDERS = _RenderFolders()


def _copy_atomic(source: Path, final: Path, *, remove_source: bool = False) -> tuple[str, int]:
    """Copy ``source`` to ``final`` through a same-dir temp file; never a partial ``final``.

    With ``remove_source`` the source is deleted once the copy is durable.
    """
    temp = temp_path(final.parent, final.name)
    digest = hashlib.sha256()
    size = 0
    try:
        with temp.open("xb") as out, source.open("rb") as src:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        replace_durably(temp, final, on_replaced=source.unlink if remove_source else None)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return digest.hexdigest(), size


def _move_atomic(source: Path, final: Path) -> tuple[str, int]:
    """Hash ``source``, then rename it to ``final`` durably (same file system only)."""
    with source.open("rb") as src:
        digested = _digest(src)
    replace_durably(source, final)
    return digested


def _movable(source: Path, device: int) -> bool:
    """A regular file (not a link to one) on file system ``device``: a rename places it."""
    try:
        info = os.lstat(source)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_dev == device


def _sidecar_bytes(document: Mapping[str, Any]) -> bytes:
    # compact: sidecars are read by tools (and jq); indenting costs ~1 ms of CPU per render
    return jsonio.dumps(document, sort_keys=True, default=str) + b"\n"


def write_render(
    dest_dir: Path,
    name: str,
    media: Path,
    provenance: Mapping[str, Any],
    *,
    move: bool = True,
) -> RenderRecord:
    """Put finished ``media`` at ``dest_dir/name`` and its sidecar at ``dest_dir/name.json``.

    Both files are written through a same-directory temp file, synced and renamed, so the
    final names only ever hold complete files; a rerun replaces them (and any temp file a
    crash left behind). They are placed together by one commit group (the caller's, when
    it has one: see :func:`~recoil_core.persistence.atomic.commit_group`). The sidecar
    carries ``provenance`` plus ``provenance.output`` (name, sha256, bytes). Provenance
    holding credential-like fields is refused before anything is written. With ``move``
    the source media is removed once in place: renamed when it is on the same file system
    (a downloaded ``.part`` file beside the renders), copied otherwise.
    """
    validate_id(name, what="render file name")
    secrets = find_secret_keys(provenance)
    if secrets:
        raise SecretInProvenanceError(name, secrets)
    final = dest_dir / name
    sidecar = dest_dir / sidecar_name(name)
    device = _FOLDERS.prepare(dest_dir, (name, sidecar.name))
    with commit_group():  # both files placed and made durable together
        elsewhere = os.path.abspath(media) != os.path.abspath(final)
        if move and elsewhere and _movable(media, device):
            sha256, size = _move_atomic(media, final)
        else:
            sha256, size = _copy_atomic(media, final, remove_source=move and elsewhere)
        recorded = dict(provenance)
        recorded["output"] = {"name": name, "sha256": sha256, "bytes": size}
        sidecar_document = {
            "schema_version": SIDECAR_SCHEMA_VERSION,
            "kind": SIDECAR_KIND,
            "render": name,
            "sha256": sha256,
            "bytes": size,
            "provenance": recorded,
        }
        write_atomic(sidecar, _sidecar_bytes(sidecar_document))
    return RenderRecord(path=final, sidecar_path=sidecar, sha256=sha256, bytes=size)


# --------------------------------------------------------------------------- provenance


def _input_record(value: Path | str) -> dict[str, Any]:
    text = str(value)
    if "://" in text or text.startswith("data:"):
        label = text if not text.startswith("data:") else text.split(",", 1)[0] + ",..."
        return {"path": label, "sha256": None}
    path = Path(value)
    if path.is_file():
        return {"path": str(path), "sha256": file_sha256(path)}
    return {"path": str(path), "sha256": None}


def _first_set(*values: Any) -> Any:
    return next((value for value in values if value is not None), None)


def build_provenance(
    beat: Beat,
    take: Take,
    step: WorkflowStep,
    *,
    provider_version: str | None = None,
    job_id: str | None = None,
    seed: int | None = None,
    cost_usd: float | None = None,
    inputs: Mapping[str, Path | str] | None = None,
    provider_metadata: Mapping[str, Any] | None = None,
    project: str | None = None,
    episode: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The standard provenance of one step's render, ready for :func:`write_render`.

    Reads the grouping, shots, prompt, model, provider, job id, seed and timings from the
    beat, take and step (their receipt when present); keyword arguments override what the
    step recorded. Inputs are recorded with their sha256: frames named in the payload
    (``first_frame``, ``last_frame``, ``reference_images``), the outputs of the steps feeding
    ``step.inputs`` (from their receipts), then ``inputs`` (role -> local path or URL).
    ``provider_metadata`` is the finished job's ``JobStatus.metadata``. The output checksum
    is added by :func:`write_render`.
    """
    payload = step.payload
    receipt = step.receipt
    workflow_prov = take.workflow.provenance
    grouping = workflow_prov.get("grouping") or payload.get("grouping")
    if grouping is None and beat.grouping is not None:
        grouping = beat.grouping.to_dict()
    recorded_inputs: dict[str, Any] = {}
    for role in ("first_frame", "last_frame"):
        if isinstance(payload.get(role), str):
            recorded_inputs[role] = _input_record(payload[role])
    for index, ref in enumerate(payload.get("reference_images") or []):
        recorded_inputs[f"reference_image_{index + 1}"] = _input_record(ref)
    for role, source_id in step.inputs.items():
        try:
            source = take.workflow.step(source_id)
        except KeyError:
            continue
        output = source.receipt.run_result.output_path if source.receipt else None
        if output:
            recorded_inputs[role] = _input_record(output)
    for role, value in (inputs or {}).items():
        recorded_inputs[role] = _input_record(value)
    if cost_usd is None and receipt is not None:
        cost_usd = receipt.run_result.cost_usd
    provenance: dict[str, Any] = {
        "grouping": grouping,
        "project": project,
        "episode": episode,
        "scene_id": workflow_prov.get("scene_id"),
        "beat_id": beat.beat_id,
        "take_id": take.take_id,
        "take_number": take.index + 1,
        "step_id": step.step_id,
        "modality": step.modality,
        "shots": list(payload.get("shot_ids") or beat.shot_ids),
        "prompt": payload.get("prompt"),
        "model": step.model or payload.get("model"),
        "provider": step.provider or (receipt.provider if receipt else None),
        "provider_version": provider_version,
        "job_id": job_id or step.job_id or (receipt.job_id if receipt else None),
        "seed": _first_set(seed, payload.get("seed"), step.seed),
        "cost_usd": cost_usd if cost_usd is not None else 0.0,
        "timings": {
            "submitting_at": step.submitting_at,
            "submitted_at": step.submitted_at,
            "finished_at": step.finished_at,
        },
        "fallback": workflow_prov.get("fallback"),
        "generation_config": dict(beat.generation_config),
        "inputs": recorded_inputs,
        "workflow": dict(workflow_prov),
        "provider_metadata": dict(provider_metadata or {}),
    }
    if extra:
        provenance.update(extra)
    return provenance
