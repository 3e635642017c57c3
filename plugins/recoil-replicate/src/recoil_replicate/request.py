"""Builds a Replicate create call (path, body, ``Prefer`` header) from a SubmitRequest."""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from recoil_core.api import ProviderRejected, SubmitRequest
from recoil_replicate.models import Model, OfficialModel, UnknownModel, VersionedModel, resolve
from recoil_replicate.pricing import price_table

KEY_FIELD = "recoil_request_key"
"""The input field carrying the create's request key. Replicate accepts inputs a model does
not declare (Cog drops them before the model runs) and keeps the input as sent on the
prediction and its list item for an hour: how :meth:`find` tells this create from any other."""
SEED_MODULUS = 2**31
MAX_WAIT_S = 60
"""``Prefer: wait=n`` holds the create for at most 60 s."""

_IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
}


@attrs.frozen
class CreateCall:
    """What to POST, where, and the ``Prefer: wait`` seconds (``None``: answer at once)."""

    path: str
    body: Mapping[str, Any]
    model: Model
    wait_s: int | None
    duration_s: int | None
    """The output seconds an official model is asked for (what it bills)."""
    resolution: str | None


def requested_model(request: SubmitRequest) -> Model:
    name = request.model or str(request.payload.get("model") or "")
    if not name:
        raise ProviderRejected(f"step {request.step_id}: no model given", code="invalid_request")
    try:
        return resolve(name)
    except UnknownModel as exc:
        raise ProviderRejected(f"step {request.step_id}: {exc}", code="unknown_model") from None


def build_create(request: SubmitRequest) -> CreateCall:
    """The create call for ``request``; ProviderRejected for what Replicate would refuse and
    for a duration the model cannot render (never clamped)."""
    model = requested_model(request)
    if isinstance(model, OfficialModel):
        return _official(request, model)
    return _versioned(request, model)


def billed_output(request: SubmitRequest) -> tuple[int, str] | None:
    """The output seconds and resolution an official model's create for ``request`` asks
    for (what Replicate bills it by); ``None`` for a versioned model. Raises
    ProviderRejected where :func:`build_create` would. Reads no file."""
    model = requested_model(request)
    if not isinstance(model, OfficialModel):
        return None
    return _official_output(request, model)


def _official_output(request: SubmitRequest, model: OfficialModel) -> tuple[int, str]:
    payload = request.payload
    try:
        duration = model.duration_for(payload.get("duration_s"))
    except ValueError as exc:
        raise _reject(request, str(exc), "duration_out_of_range") from None
    resolution = str(payload.get("resolution") or "720p")
    if resolution not in model.resolutions:
        raise _reject(
            request, f"{model.ref} renders {', '.join(model.resolutions)}, not {resolution}"
        )
    return duration, resolution


def _hints(request: SubmitRequest) -> Mapping[str, Any]:
    hints = request.payload.get("provider_hints")
    return hints if isinstance(hints, Mapping) else {}


def _reject(
    request: SubmitRequest, message: str, code: str = "invalid_request"
) -> ProviderRejected:
    return ProviderRejected(f"step {request.step_id}: {message}", code=code)


def _frame(request: SubmitRequest, role: str) -> str | None:
    source = request.inputs.get(role) or request.payload.get(role)
    return image_url(request, source) if source else None


def _official(request: SubmitRequest, model: OfficialModel) -> CreateCall:
    payload = request.payload
    prompt = str(payload.get("prompt") or "")
    if not prompt:
        raise _reject(request, f"{model.ref} needs a prompt")
    duration, resolution = _official_output(request, model)
    start, last = _frame(request, "first_frame"), _frame(request, "last_frame")
    if model.needs_start_image and start is None:
        raise _reject(request, f"{model.ref} animates a start image; this step has none")
    inputs: dict[str, Any] = {"prompt": prompt, "duration": duration}
    if start is not None:
        inputs[model.start_image_field] = start
    if model.modes:
        inputs["mode"] = model.modes[resolution]
    elif model.resolution_field:
        inputs[model.resolution_field] = resolution
    if last is not None:
        if model.last_image_field is None or (model.modes and inputs["mode"] != "pro"):
            raise _reject(request, f"{model.ref} takes no last frame at {resolution}")
        inputs[model.last_image_field] = last
    if model.aspect_ratios and start is None:
        ratio = str(payload.get("aspect_ratio") or "16:9")
        if ratio not in model.aspect_ratios:
            raise _reject(
                request, f"{model.ref} renders {', '.join(model.aspect_ratios)}, not {ratio}"
            )
        inputs["aspect_ratio"] = ratio
    if model.seed_field:
        inputs[model.seed_field] = _seed(request)
    if payload.get("negative_prompt"):
        inputs["negative_prompt"] = str(payload["negative_prompt"])
    _identify(request, inputs)
    return CreateCall(
        path=f"/models/{model.ref}/predictions",
        body={"input": inputs},
        model=model,
        wait_s=None,  # video takes minutes: a held create would only time out
        duration_s=duration,
        resolution=resolution,
    )


def _versioned(request: SubmitRequest, model: VersionedModel) -> CreateCall:
    payload = request.payload
    hints = _hints(request)
    extra = hints.get("input")
    inputs: dict[str, Any] = dict(extra) if isinstance(extra, Mapping) else {}
    if payload.get("prompt"):
        inputs.setdefault("prompt", str(payload["prompt"]))
    start = _frame(request, "first_frame")
    if start is not None:
        inputs[str(hints.get("start_image_field") or "image")] = start
    if not inputs:
        raise _reject(request, "nothing to generate from (no prompt, image or input)")
    _identify(request, inputs)
    entry = price_table().versioned_price(model.ref, model.version)[2]
    expected = entry.estimate_predict_s
    wait_s = max(1, math.ceil(expected)) if expected <= MAX_WAIT_S else None
    return CreateCall(
        path="/predictions",
        body={"version": model.name, "input": inputs},
        model=model,
        wait_s=wait_s,
        duration_s=None,
        resolution=None,
    )


def _identify(request: SubmitRequest, inputs: dict[str, Any]) -> None:
    if request.request_key:
        inputs[KEY_FIELD] = request.request_key


def _seed(request: SubmitRequest) -> int:
    explicit = request.payload.get("seed")
    if explicit is None:
        explicit = _hints(request).get("seed")
    if explicit is None:
        return request.seed % SEED_MODULUS
    return int(explicit)


def image_url(request: SubmitRequest, source: str | Path) -> str:
    """URLs pass through; a local file becomes a ``data:`` URL (Replicate keeps no copy)."""
    text = str(source)
    if isinstance(source, str) and text.startswith(("http://", "https://", "data:")):
        return text
    path = Path(source)
    mime = _IMAGE_TYPES.get(path.suffix.lower())
    if mime is None:
        raise _reject(
            request,
            f"{path} is not an image Replicate's video models read ({', '.join(_IMAGE_TYPES)})",
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _reject(
            request, f"cannot read image {path}: {exc.strerror or exc}", "input_missing"
        ) from None
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
