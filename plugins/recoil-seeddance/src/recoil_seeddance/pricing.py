"""The dated Seedance price table and the output-token formula.

The shipped table (``data/prices.json``) is dated. A studio with contracted prices, or a
model newer than the release, points ``RECOIL_SEEDDANCE_PRICES`` at a JSON file of the
same shape: its ``models`` entries override or add families (per price key), its
``dimensions`` likewise, and its ``as_of`` dates the result. Every estimate uses the table
in force, and every bill says which one (``JobStatus.metadata["price_table"]``), so the
ledger records it.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from importlib import resources
from typing import Any

import attrs

from recoil_core.api import PriceFileError, price_file, read_price_file

PRICES_ENV = "RECOIL_SEEDDANCE_PRICES"
SHIPPED = "shipped"


@attrs.frozen
class PriceTable:
    """USD per million output tokens per model family, and output sizes per resolution."""

    as_of: str
    models: Mapping[str, Mapping[str, float]]
    dimensions: Mapping[str, Mapping[str, tuple[int, int]]]
    name: str = SHIPPED
    """``shipped``, or the path of the studio file merged over it."""

    @property
    def label(self) -> str:
        """Which table, and its date: what a bill and the ledger record."""
        return f"{self.name} {self.as_of}"

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
def shipped_table() -> PriceTable:
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


def price_table(env: Mapping[str, str] | None = None) -> PriceTable:
    """The table in force: the shipped one, with the studio file named by
    ``RECOIL_SEEDDANCE_PRICES`` merged over it (read again when the file changes)."""
    found = price_file(PRICES_ENV, env)
    return shipped_table() if found is None else _studio_table(*found)


@functools.lru_cache(maxsize=8)
def _studio_table(path: str, _mtime_ns: int, _size: int) -> PriceTable:
    raw = read_price_file(path)
    as_of = raw["as_of"]
    base = shipped_table()
    models = {family: dict(prices) for family, prices in base.models.items()}
    for family, prices in _object(raw, "models", path).items():
        if not isinstance(prices, dict):
            raise PriceFileError(f"{path}: models.{family}: expected an object of prices")
        merged = {
            **models.get(family, {}),
            **{k: _price(v, f"{path}: models.{family}.{k}") for k, v in prices.items()},
        }
        if "default" not in merged:
            raise PriceFileError(f"{path}: models.{family}.default: required for a new family")
        models[family] = merged
    dimensions = {res: dict(by_ratio) for res, by_ratio in base.dimensions.items()}
    for res, by_ratio in _object(raw, "dimensions", path).items():
        if not isinstance(by_ratio, dict):
            raise PriceFileError(f"{path}: dimensions.{res}: expected an object of sizes")
        for ratio, size in by_ratio.items():
            ok = (
                isinstance(size, list)
                and len(size) == 2
                and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in size)
            )
            if not ok:
                raise PriceFileError(f"{path}: dimensions.{res}.{ratio}: expected [width, height]")
            dimensions.setdefault(res, {})[ratio] = (size[0], size[1])
    return PriceTable(as_of=as_of, models=models, dimensions=dimensions, name=path)


def _object(raw: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise PriceFileError(f"{path}: {key}: expected an object")
    return value


def _price(value: object, where: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise PriceFileError(f"{where}: a price must be a number >= 0 (USD per million tokens)")
    return float(value)
