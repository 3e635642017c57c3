"""The dated Seedance price table (``data/prices.json``) and the output-token formula."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

import attrs


@attrs.frozen
class PriceTable:
    """USD per million output tokens per model family, and output sizes per resolution."""

    as_of: str
    models: Mapping[str, Mapping[str, float]]
    dimensions: Mapping[str, Mapping[str, tuple[int, int]]]

    def usd_per_mtok(
        self, family: str, *, resolution: str | None = None, generate_audio: bool | None = None
    ) -> float:
        """The price for one model family; an unknown family gets the highest listed price.

        ``generate_audio=None`` (not known) never picks the cheaper silent price.
        """
        prices = self.models.get(family)
        if prices is None:
            return max(p for table in self.models.values() for p in table.values())
        if resolution is not None and resolution in prices:
            return prices[resolution]
        if generate_audio is False and "silent" in prices:
            return prices["silent"]
        return prices["default"]

    def size(self, resolution: str, ratio: str) -> tuple[int, int]:
        """Output width and height; ``adaptive`` or unknown ratios take the largest area."""
        by_ratio = self.dimensions.get(resolution) or self.dimensions[max_resolution(self)]
        if ratio in by_ratio:
            return by_ratio[ratio]
        return max(by_ratio.values(), key=lambda wh: wh[0] * wh[1])

    def tokens(self, resolution: str, ratio: str, duration: int) -> int:
        """Output tokens Ark bills for a clip: ``width * height * (24 * duration + 1) // 1024``."""
        width, height = self.size(resolution, ratio)
        return width * height * (24 * duration + 1) // 1024

    def cost_usd(self, tokens: int, price_per_mtok: float) -> float:
        return tokens * price_per_mtok / 1_000_000


def max_resolution(table: PriceTable) -> str:
    return max(table.dimensions, key=lambda r: max(w * h for w, h in table.dimensions[r].values()))


@functools.cache
def price_table() -> PriceTable:
    """The price table shipped with the package (loaded once)."""
    raw: dict[str, Any] = json.loads(
        resources.files("recoil_seeddance").joinpath("data/prices.json").read_text("utf-8")
    )
    return PriceTable(
        as_of=str(raw["as_of"]),
        models={k: {n: float(p) for n, p in v.items()} for k, v in raw["models"].items()},
        dimensions={
            res: {ratio: (int(wh[0]), int(wh[1])) for ratio, wh in by_ratio.items()}
            for res, by_ratio in raw["dimensions"].items()
        },
    )
