"""``ark-sheets``: a test stand-in provider that makes asset reference sheets (``image_t2i``)
with the real Seedance Ark client, so sheet takes are paid, billed and searched for by the
fake Ark like any clip (Ark itself makes no images; no shipped provider makes paid images).

:func:`install` writes a distribution record declaring it as a ``recoil.plugins`` entry
point into a folder, so a real ``recoil`` subprocess with that folder and this one on
``PYTHONPATH`` loads it as an installed plugin. An integration-test support module of this
repository, not part of any distribution.
"""

from __future__ import annotations

from pathlib import Path

from recoil_seeddance.estimate import estimate_step_usd
from recoil_seeddance.provider import create_provider

from recoil_core.interfaces import CostEstimator, ProviderLimits, ProviderSpec
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
    info = site / "recoil_test_ark_sheets-0.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: recoil-test-ark-sheets\nVersion: 0.0\n"
    )
    (info / "entry_points.txt").write_text(f"[recoil.plugins]\n{NAME} = ark_sheets:plugin\n")
    return site
