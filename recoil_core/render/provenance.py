"""A render's provenance as a typed value, and how the one converter writes it.

:func:`build_provenance` reads it off a finished step; the render writer adds the output
record and writes it into the sidecar. Its JSON form has one key per field (``extra``
keys merged in at the top level, ``output`` only once it is known).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from recoil_core.convert import converter
from recoil_core.model import Beat, Take, WorkflowStep
from recoil_core.render.checksums import file_sha256


@attrs.frozen
class InputRecord:
    """One input of a render: a local file with its checksum, or a URL (no checksum)."""

    path: str
    """The file's path, the URL, or a ``data:`` URL's header followed by ``,...``."""
    sha256: str | None = None
    """The local file's sha256; ``None`` for a URL or a file that was not there."""

    @classmethod
    def of(cls, value: Path | str) -> InputRecord:
        """The record of ``value``, a local path or a URL (a ``data:`` URL is shortened)."""
        text = str(value)
        if text.startswith("data:"):
            return cls(text.split(",", 1)[0] + ",...")
        if "://" in text:
            return cls(text)
        path = Path(value)
        return cls(str(path), file_sha256(path) if path.is_file() else None)


@attrs.frozen
class Timings:
    """When the step's create was sent, accepted, and when its job finished (ISO 8601)."""

    submitting_at: str | None = None
    submitted_at: str | None = None
    finished_at: str | None = None


@attrs.frozen
class OutputRecord:
    """The render itself, as written: its file name, sha256 and size."""

    name: str
    sha256: str
    bytes: int


@attrs.frozen
class Provenance:
    """Where a render came from: grouping, shots, prompt, model, provider, job, seed,
    cost, timings and the checksums of its inputs (and, once written, its output)."""

    grouping: dict[str, Any] | None
    """The render unit's identity as the workflow recorded it (a ``GroupIdentity``'s
    ``to_dict()``); kept as recorded, since a modality runner writes it."""
    project: str | None
    episode: str | None
    scene_id: str | None
    beat_id: str
    take_id: str
    take_number: int
    """1-based (the take's index + 1), as in the render's name."""
    step_id: str
    modality: str
    shots: list[str]
    prompt: str | None
    model: str | None
    provider: str | None
    provider_version: str | None
    job_id: str | None
    seed: int | None
    cost_usd: float
    timings: Timings
    fallback: str | None
    """Why the workflow fell back (``text_to_video: ...``), if it did."""
    generation_config: dict[str, Any]
    inputs: dict[str, InputRecord]
    """Role (``first_frame``, ``reference_image_1``...) -> the input used."""
    workflow: dict[str, Any]
    """The provenance the modality runner recorded on the workflow."""
    provider_metadata: dict[str, Any]
    """The finished job's ``JobStatus.metadata``."""
    output: OutputRecord | None = None
    """Set by the render writer once the media is in place."""
    extra: dict[str, Any] = attrs.field(factory=dict)
    """More keys, written at the top level after the fields above (a key naming a field
    replaces that field's value in the JSON)."""


_FIELD_NAMES = frozenset(field.name for field in attrs.fields(Provenance)) - {"extra"}
_unstructure_fields = make_dict_unstructure_fn(
    Provenance, converter, output=override(omit=True), extra=override(omit=True)
)
_structure_fields = make_dict_structure_fn(Provenance, converter)


def _unstructure(provenance: Provenance) -> dict[str, Any]:
    data = _unstructure_fields(provenance)
    data.update(converter.unstructure(provenance.extra, dict[str, Any]))
    if provenance.output is not None:
        data["output"] = converter.unstructure(provenance.output, OutputRecord)
    return data


def _structure(data: Mapping[str, Any], _type: object) -> Provenance:
    fields = {key: value for key, value in data.items() if key in _FIELD_NAMES}
    fields["extra"] = {key: value for key, value in data.items() if key not in _FIELD_NAMES}
    return _structure_fields(fields, Provenance)


converter.register_unstructure_hook(Provenance, _unstructure)
converter.register_structure_hook(Provenance, _structure)


def provenance_document(provenance: Provenance) -> dict[str, Any]:
    """``provenance`` as the JSON-ready dict a sidecar holds."""
    return _unstructure(provenance)


def _first_set(*values: Any) -> Any:
    return next((value for value in values if value is not None), None)


def _inputs(
    take: Take, step: WorkflowStep, inputs: Mapping[str, Path | str] | None
) -> dict[str, InputRecord]:
    """Frames named in the payload, then the outputs of the steps feeding ``step``, then
    ``inputs``; a later one of the same role replaces an earlier one."""
    payload = step.payload
    recorded: dict[str, InputRecord] = {}
    for role in ("first_frame", "last_frame"):
        if isinstance(payload.get(role), str):
            recorded[role] = InputRecord.of(payload[role])
    for index, ref in enumerate(payload.get("reference_images") or []):
        recorded[f"reference_image_{index + 1}"] = InputRecord.of(ref)
    for role, source_id in step.inputs.items():
        try:
            source = take.workflow.step(source_id)
        except KeyError:
            continue
        output = source.receipt.run_result.output_path if source.receipt else None
        if output:
            recorded[role] = InputRecord.of(output)
    for role, value in (inputs or {}).items():
        recorded[role] = InputRecord.of(value)
    return recorded


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
) -> Provenance:
    """The standard provenance of one step's render, ready for
    :func:`~recoil_core.render.writer.write_render`.

    Reads the grouping, shots, prompt, model, provider, job id, seed and timings from the
    beat, take and step (their receipt when present); keyword arguments override what the
    step recorded. Inputs are recorded with their sha256: frames named in the payload
    (``first_frame``, ``last_frame``, ``reference_images``), the outputs of the steps feeding
    ``step.inputs`` (from their receipts), then ``inputs`` (role -> local path or URL).
    ``provider_metadata`` is the finished job's ``JobStatus.metadata``; ``extra`` keys are
    added (one naming a field replaces it). The output record is added by the writer.
    """
    payload = step.payload
    receipt = step.receipt
    workflow_prov = take.workflow.provenance
    grouping = workflow_prov.get("grouping") or payload.get("grouping")
    if grouping is None and beat.grouping is not None:
        grouping = beat.grouping.to_dict()
    if cost_usd is None and receipt is not None:
        cost_usd = receipt.run_result.cost_usd
    provenance = Provenance(
        grouping=grouping,
        project=project,
        episode=episode,
        scene_id=workflow_prov.get("scene_id"),
        beat_id=beat.beat_id,
        take_id=take.take_id,
        take_number=take.index + 1,
        step_id=step.step_id,
        modality=step.modality,
        shots=list(payload.get("shot_ids") or beat.shot_ids),
        prompt=payload.get("prompt"),
        model=step.model or payload.get("model"),
        provider=step.provider or (receipt.provider if receipt else None),
        provider_version=provider_version,
        job_id=job_id or step.job_id or (receipt.job_id if receipt else None),
        seed=_first_set(seed, payload.get("seed"), step.seed),
        cost_usd=cost_usd if cost_usd is not None else 0.0,
        timings=Timings(step.submitting_at, step.submitted_at, step.finished_at),
        fallback=workflow_prov.get("fallback"),
        generation_config=dict(beat.generation_config),
        inputs=_inputs(take, step, inputs),
        workflow=dict(workflow_prov),
        provider_metadata=dict(provider_metadata or {}),
    )
    if extra:  # a key naming a field replaces it, as in the JSON
        return converter.structure({**_unstructure(provenance), **extra}, Provenance)
    return provenance
