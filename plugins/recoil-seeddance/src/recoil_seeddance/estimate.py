"""The Seedance cost estimator: output tokens of the requested clip times the listed price."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from recoil_core.api import CostEstimator
from recoil_seeddance.models import model_info
from recoil_seeddance.pricing import price_table

if TYPE_CHECKING:
    from recoil_core.api import WorkflowStep

DEFAULT_MODEL = "seeddance-2.0"


def estimate_payload_usd(model: str, payload: Mapping[str, Any]) -> float:
    """USD for generating ``payload`` with ``model`` (friendly name or Ark id).

    Uses the same duration mapping as the request and the same price as the cost
    reported after the job, so the estimate equals the billed cost of a succeeded clip.
    """
    info = model_info(model)
    table = price_table()
    resolution = str(payload.get("resolution") or "720p")
    ratio = str(payload.get("aspect_ratio") or "16:9")
    duration = info.duration_for(payload.get("duration_s"))
    generate_audio = bool(payload.get("generate_audio", False)) if info.supports_audio else None
    price = table.usd_per_mtok(info.family, resolution=resolution, generate_audio=generate_audio)
    return table.cost_usd(table.tokens(resolution, ratio, duration), price)


def estimate_step_usd(step: WorkflowStep) -> float:
    model = step.model or str(step.payload.get("model") or DEFAULT_MODEL)
    return estimate_payload_usd(model, step.payload)


def estimate_source() -> str:
    """The price table the estimates use (``shipped <date>``, or the studio file)."""
    return price_table().label


ESTIMATOR = CostEstimator(
    provider="seeddance",
    estimate=estimate_step_usd,
    description="Seedance output tokens x dated list price (data/prices.json)",
    source=estimate_source,
)
