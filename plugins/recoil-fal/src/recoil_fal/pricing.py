"""The dated fal price table: USD per billable unit (a second of video, or a video).

The shipped table (``data/prices.json``) is dated. A studio with other prices points
``RECOIL_FAL_PRICES`` at a JSON file of the same shape; its ``models`` entries replace the
shipped ones by name and its ``as_of`` dates the result. Every bill names the table.
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

PRICES_ENV = "RECOIL_FAL_PRICES"


@attrs.frozen
class Price:
    unit: str
    """``second`` (per second of output video) or ``video``."""
    usd: float


@attrs.frozen
class PriceTable:
    as_of: str
    models: Mapping[str, Price]
    name: str = "shipped"

    @property
    def label(self) -> str:
        """Which table, and its date: what a bill and the ledger record."""
        return f"{self.name} {self.as_of}"

    def price(self, key: str) -> Price:
        """The price of one model; an unknown one gets the highest per-second price."""
        if key in self.models:
            return self.models[key]
        return max(self.models.values(), key=lambda p: p.usd)

    def cost_usd(self, key: str, seconds: float, units: float | None = None) -> float:
        """USD for one successful output: ``units`` (fal's billable units) when known,
        else the output's seconds (per-second) or 1 (per-video), times the unit price."""
        price = self.price(key)
        if units is None:
            units = seconds if price.unit == "second" else 1.0
        return round(units * price.usd, 6)


def _parse(raw: Mapping[str, Any], where: str) -> dict[str, Price]:
    models = raw.get("models", {})
    if not isinstance(models, dict):
        raise PriceFileError(f"{where}: models: expected an object")
    out = {}
    for key, entry in models.items():
        usd = entry.get("usd") if isinstance(entry, dict) else None
        unit = entry.get("unit") if isinstance(entry, dict) else None
        if unit not in ("second", "video"):
            raise PriceFileError(f"{where}: models.{key}.unit: 'second' or 'video'")
        if (
            isinstance(usd, bool)
            or not isinstance(usd, int | float)
            or not math.isfinite(usd)
            or usd < 0
        ):
            raise PriceFileError(f"{where}: models.{key}.usd: a number >= 0")
        out[key] = Price(unit=unit, usd=float(usd))
    return out


@functools.cache
def shipped_table() -> PriceTable:
    raw = json.loads(resources.files("recoil_fal").joinpath("data/prices.json").read_text("utf-8"))
    return PriceTable(as_of=str(raw["as_of"]), models=_parse(raw, "shipped prices"))


def price_table(env: Mapping[str, str] | None = None) -> PriceTable:
    """The table in force: the shipped one, with ``RECOIL_FAL_PRICES``'s file over it."""
    found = price_file(PRICES_ENV, env)
    return shipped_table() if found is None else _studio_table(*found)


@functools.lru_cache(maxsize=8)
def _studio_table(path: str, _mtime_ns: int, _size: int) -> PriceTable:
    raw = read_price_file(path)
    models = {**shipped_table().models, **_parse(raw, path)}
    return PriceTable(as_of=raw["as_of"], models=models, name=path)
