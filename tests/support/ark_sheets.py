"""Support for the asset tests against the fake Ark.

``ark-sheets``: a test stand-in provider that makes asset reference sheets (``image_t2i``)
with the real Seedance Ark client, so sheet takes are paid, billed and searched for by the
fake Ark like any clip (Ark itself makes no images; no shipped provider makes paid images).

:func:`install` writes a distribution record declaring it as a ``recoil.plugins`` entry
point into a folder, so a real ``recoil`` subprocess with that folder and this one on
``PYTHONPATH`` loads it as an installed plugin.

:class:`RecordingArk`: the fake Ark keeping the body of every create that made a task, and
:func:`references_sent`, the images a create carried by role: what tests assert on.

An integration-test support module of this repository, not part of any distribution.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from recoil_seeddance.estimate import estimate_step_usd
from recoil_seeddance.provider import create_provider
from recoil_seeddance.testing.fake_ark import FakeArkServer

from recoil_core.interfaces import CostEstimator, ProviderLimits, ProviderSpec
from recoil_core.testing.distributions import write_distribution
from recoil_core.testing.doubles import make_plugin

NAME = "ark-sheets"
SHEET_MODEL = "seeddance-2.0"
"""The plan's ``previs_model``: what the sheets' creates ask Ark for."""

SPEC = ProviderSpec(
    name=NAME,
    modalities=frozenset({"image_t2i"}),
    factory=create_provider,
    limits=ProviderLimits(concurrency=4, poll_interval_s=0.0),
    can_find_by_request=True,
    cancellable_states=frozenset({"queued"}),
)

plugin = make_plugin(providers=[SPEC], estimators=[CostEstimator(NAME, estimate_step_usd)])
"""The plugin object (``recoil.plugins`` entry point ``ark-sheets = ark_sheets:plugin``)."""


def install(site: Path) -> Path:
    """Declare :data:`plugin` as an installed distribution in ``site`` (a folder to put on
    ``PYTHONPATH`` beside this module's); returns ``site``."""
    if not any(site.glob("*.dist-info")):
        write_distribution(site, "recoil-test-ark-sheets", entry_points={NAME: "ark_sheets:plugin"})
    return site


class RecordingArk(FakeArkServer):
    """The fake Ark keeping the body of every create that made a task (by task id)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bodies: dict[str, dict[str, Any]] = {}

    def _validate_and_make(self, body: Mapping[str, Any]) -> Any:
        task = super()._validate_and_make(body)
        self.bodies[task.id] = dict(body)
        return task


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def references_sent(body: Mapping[str, Any], role: str = "reference_image") -> list[str]:
    """The sha256 of each image of ``role`` a create carried (data URIs of local files), in
    the order sent."""
    return [
        sha256(base64.b64decode(item["image_url"]["url"].split(",", 1)[1]))
        for item in body["content"]
        if item.get("type") == "image_url" and item.get("role") == role
    ]


def roles_sent(body: Mapping[str, Any]) -> list[str]:
    """The role of each image a create carried."""
    return [str(i.get("role")) for i in body["content"] if i.get("type") == "image_url"]
