"""The dated Replicate price table: per output second for official models, per hardware
second for versioned ones.

The shipped table (``data/prices.json``) is dated. A studio with contracted prices, a new
official model or its own versioned models points ``RECOIL_REPLICATE_PRICES`` at a JSON
file of the same shape: its ``official``, ``hardware`` and ``versioned`` entries override
or add to the shipped ones, and its ``as_of`` dates the result. Every estimate and every
bill says which table it used (``JobStatus.metadata["price_table"]``).
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

PRICES_ENV = "RECOIL_REPLICATE_PRICES"
SHIPPED = "shipped"
RUN_LIMIT_S = 1800.0
"""Replicate stops a prediction after 30 minutes: the longest a versioned run can bill."""


@attrs.frozen
class VersionedPrice:
    """Which hardware a versioned model runs on and how long one prediction may take."""

    hardware: str | None = None
    estimate_predict_s: float = RUN_LIMIT_S


@attrs.frozen
class PriceTable:
    as_of: str
    official: Mapping[str, Mapping[str, float]]
    """``owner/name`` to USD per output second, by resolution."""
    hardware: Mapping[str, float]
    """Hardware SKU to USD per second of ``predict_time``."""
    versioned: Mapping[str, VersionedPrice]
    """``owner/name`` (or ``owner/name:version``) to its hardware."""
    name: str = SHIPPED

    @property
    def label(self) -> str:
        """Which table, and its date: what a bill and the ledger record."""
        return f"{self.name} {self.as_of}"

    def per_output_second(self, ref: str, resolution: str) -> float:
        """USD per second of output video; an unknown resolution or model gets the
        highest listed price (never an estimate below the bill)."""
        prices = self.official.get(ref)
        if prices is None:
            return max(p for table in self.official.values() for p in table.values())
        return prices.get(resolution, max(prices.values()))

    def versioned_price(self, ref: str, version: str) -> tuple[str, float, VersionedPrice]:
        """``(hardware, USD per second, entry)`` for a versioned model; an unlisted model
        or hardware is priced at the most expensive hardware."""
        entry = (
            self.versioned.get(f"{ref}:{version}") or self.versioned.get(ref) or VersionedPrice()
        )
        if entry.hardware is not None and entry.hardware in self.hardware:
            return entry.hardware, self.hardware[entry.hardware], entry
        sku = max(self.hardware, key=lambda k: self.hardware[k])
        return f"{sku} (assumed: hardware not listed)", self.hardware[sku], entry


def _parse(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    official = {
        ref: {
            res: _price(p, f"{where}: official.{ref}.{res}")
            for res, p in _obj(v, f"{where}: official.{ref}").items()
        }
        for ref, v in _obj(raw.get("official", {}), f"{where}: official").items()
    }
    hardware = {
        sku: _price(p, f"{where}: hardware.{sku}")
        for sku, p in _obj(raw.get("hardware", {}), f"{where}: hardware").items()
    }
    versioned: dict[str, VersionedPrice] = {}
    for ref, v in _obj(raw.get("versioned", {}), f"{where}: versioned").items():
        entry = _obj(v, f"{where}: versioned.{ref}")
        hw = entry.get("hardware")
        if hw is not None and not isinstance(hw, str):
            raise PriceFileError(f"{where}: versioned.{ref}.hardware: a hardware name")
        seconds = entry.get("estimate_predict_s", RUN_LIMIT_S)
        versioned[ref] = VersionedPrice(
            hardware=hw,
            estimate_predict_s=_price(seconds, f"{where}: versioned.{ref}.estimate_predict_s"),
        )
    return {"official": official, "hardware": hardware, "versioned": versioned}


@functools.cache
def shipped_table() -> PriceTable:
    """The table shipped with the package (loaded once)."""
    raw = json.loads(
        resources.files("recoil_replicate").joinpath("data/prices.json").read_text("utf-8")
    )
    return PriceTable(as_of=str(raw["as_of"]), **_parse(raw, "data/prices.json"))


def price_table(env: Mapping[str, str] | None = None) -> PriceTable:
    """The table in force: the shipped one with the studio file named by
    ``RECOIL_REPLICATE_PRICES`` merged over it (read again when the file changes)."""
    found = price_file(PRICES_ENV, env)
    return shipped_table() if found is None else _studio_table(*found)


@functools.lru_cache(maxsize=8)
def _studio_table(path: str, _mtime_ns: int, _size: int) -> PriceTable:
    raw = read_price_file(path)
    as_of = raw["as_of"]
    studio = _parse(raw, path)
    base = shipped_table()
    official = {ref: dict(prices) for ref, prices in base.official.items()}
    for ref, prices in studio["official"].items():
        official[ref] = {**official.get(ref, {}), **prices}
        if not official[ref]:
            raise PriceFileError(f"{path}: official.{ref}: give at least one resolution's price")
    return PriceTable(
        as_of=as_of,
        official=official,
        hardware={**base.hardware, **studio["hardware"]},
        versioned={**base.versioned, **studio["versioned"]},
        name=path,
    )


def _obj(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise PriceFileError(f"{where}: expected an object")
    return value


def _price(value: object, where: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise PriceFileError(f"{where}: expected a number >= 0")
    return float(value)
