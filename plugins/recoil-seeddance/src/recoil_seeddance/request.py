"""Builds the Ark create-task body from a SubmitRequest (content items, params, seed)."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from recoil_core.api import ProviderRejected, SubmitRequest
from recoil_seeddance.models import ModelInfo, model_info

SEED_MODULUS = 2**32
"""Ark seeds are 0..2**32-1 (-1 asks for a random one)."""

MAX_REFERENCE_IMAGES = 9
SAFETY_IDENTIFIER_MAX = 64
FRAME_ROLES = ("first_frame", "last_frame")

_IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
    ".gif": "image/gif",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
}


@attrs.frozen
class CreateCall:
    """The body to POST and what :meth:`find` matches it by."""

    body: Mapping[str, Any]
    info: ModelInfo
    seed: int
    explicit_seed: bool
    """True when the plan fixed the seed: other takes may share it (see ``find``)."""


def requested_model(request: SubmitRequest) -> str:
    return request.model or str(request.payload.get("model") or "")


def match_key(request: SubmitRequest) -> tuple[ModelInfo, int, bool]:
    """``(model, seed sent, whether the plan fixed the seed)`` without reading any image."""
    name = requested_model(request)
    if not name:
        raise ProviderRejected(f"step {request.step_id}: no model given", code="invalid_request")
    seed, explicit = _seed(request)
    return model_info(name), seed, explicit


def build_create(request: SubmitRequest) -> CreateCall:
    """The create body for ``request``; ProviderRejected for requests Ark would refuse."""
    payload = request.payload
    info, seed, explicit = match_key(request)
    content = _content(request, info)
    body: dict[str, Any] = {
        "model": info.model_id,
        "content": content,
        "resolution": str(payload.get("resolution") or "720p"),
        "ratio": str(payload.get("aspect_ratio") or "16:9"),
        "duration": info.duration_for(payload.get("duration_s")),
        "seed": seed,
        "camera_fixed": bool(payload.get("camera_fixed", False)),
        "watermark": bool(payload.get("watermark", False)),
    }
    if request.request_key:
        # echoed on the task and its list item: how find() tells this create from any
        # other take's, whatever their seeds
        body["safety_identifier"] = request.request_key[:SAFETY_IDENTIFIER_MAX]
    if info.supports_audio:
        body["generate_audio"] = bool(payload.get("generate_audio", False))
    tier = _tier(request, info)
    if tier is not None:
        body["service_tier"] = tier
    return CreateCall(body=body, info=info, seed=seed, explicit_seed=explicit)


def _hints(request: SubmitRequest) -> Mapping[str, Any]:
    hints = request.payload.get("provider_hints")
    return hints if isinstance(hints, Mapping) else {}


def _seed(request: SubmitRequest) -> tuple[int, bool]:
    explicit = request.payload.get("seed")
    if explicit is None:
        explicit = _hints(request).get("seed")
    if explicit is None:
        return request.seed % SEED_MODULUS, False
    value = int(explicit)
    if not -1 <= value < SEED_MODULUS:
        raise ProviderRejected(
            f"step {request.step_id}: seed {value} is outside Ark's range -1..{SEED_MODULUS - 1}",
            code="invalid_request",
        )
    return value, True


def _tier(request: SubmitRequest, info: ModelInfo) -> str | None:
    tier = _hints(request).get("tier")
    if tier is None:
        return None
    if tier not in ("default", "flex"):
        raise ProviderRejected(
            f"step {request.step_id}: provider_hints.tier {tier!r} is not one of default, flex",
            code="invalid_request",
        )
    if info.is_v2:
        if tier == "flex":
            raise ProviderRejected(
                f"step {request.step_id}: {info.model_id} has no flex tier; "
                "remove tier: flex or choose a 1.x model",
                code="invalid_request",
            )
        return None
    return str(tier)


def _content(request: SubmitRequest, info: ModelInfo) -> list[dict[str, Any]]:
    payload = request.payload
    items: list[dict[str, Any]] = []
    prompt = str(payload.get("prompt") or "")
    if prompt:
        items.append({"type": "text", "text": prompt})
    frames: list[tuple[str, str | Path]] = []
    for role in FRAME_ROLES:
        source = request.inputs.get(role) or payload.get(role)
        if source:
            frames.append((role, source))
    references: list[str | Path] = [
        path for role, path in sorted(request.inputs.items()) if role.startswith("reference_image")
    ]
    references += list(_as_list(payload.get("reference_images")))
    if info.is_v2 and frames and references:
        raise ProviderRejected(
            f"step {request.step_id}: {info.model_id} cannot mix first/last frames with "
            "reference images in one request; use one or the other",
            code="invalid_request",
        )
    if len(references) > MAX_REFERENCE_IMAGES:
        raise ProviderRejected(
            f"step {request.step_id}: {len(references)} reference images; "
            f"Seedance accepts at most {MAX_REFERENCE_IMAGES}",
            code="invalid_request",
        )
    for role, source in frames:
        items.append(_image_item(request, role, source))
    for source in references:
        items.append(_image_item(request, "reference_image", source))
    if not items:
        raise ProviderRejected(
            f"step {request.step_id}: nothing to generate from (no prompt and no image)",
            code="invalid_request",
        )
    return items


def _as_list(value: Any) -> Iterable[str | Path]:
    if value is None:
        return []
    if isinstance(value, (str, Path)):
        return [value]
    return list(value)


def _image_item(request: SubmitRequest, role: str, source: str | Path) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": image_url(request, source)}, "role": role}


def image_url(request: SubmitRequest, source: str | Path) -> str:
    """URLs pass through; a local file becomes a ``data:image/...;base64,`` URL."""
    text = str(source)
    if isinstance(source, str) and text.startswith(("http://", "https://", "data:")):
        return text
    path = Path(source)
    mime = _IMAGE_TYPES.get(path.suffix.lower())
    if mime is None:
        raise ProviderRejected(
            f"step {request.step_id}: {path} is not an image Seedance reads "
            f"({', '.join(sorted(_IMAGE_TYPES))})",
            code="invalid_request",
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ProviderRejected(
            f"step {request.step_id}: cannot read image {path}: {exc.strerror or exc}",
            code="input_missing",
        ) from None
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
