"""What makes ``recoil status --json`` (and ``recoil group --json``) fast keeps its bytes:
``jsonio.dumps_as_json_does`` lets orjson write a value only when every value in it is one
orjson spells as ``json.dumps(indent=2)``; ``jsonio.loads`` leaves to :mod:`json` only the
documents that may hold a number of 19 digits or more (not the digits inside a digest)."""

from __future__ import annotations

import enum
import json
import math
import random
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from recoil_core import jsonio


class Color(enum.StrEnum):
    RED = "red"


class Size(enum.IntEnum):
    BIG = 3


class Odd(enum.Enum):
    THING = ("a", 1)


EDGE_FLOATS = [0.0, -0.0, 1e-4, 9.99e-5, 1e-5, 2.5e-5, 5413.9365, 1e15, 9.9e15, 1e16, 1e22]
VALUES: list[Any] = [
    {"estimated_usd": 5413.9365, "units": [{"estimate_usd": 0.00012, "ids": ("a", "b")}]},
    {"small": 1e-05, "big": 1e16, "neg": -2.5e-7},
    {"nan": math.nan},
    {"inf": [math.inf, -math.inf]},
    {"state": Color.RED, "size": Size.BIG},
    {Color.RED: 1},
    {"odd": Odd.THING},
    {"when": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)},
    {"wide": 2**70, "neg": -(2**64)},
    {"text": 'caf\u00e9 \x7f \x00\x1f \t\n"\\ /'},
    {"empty": [[], {}, ""], "none": None, "flags": [True, False]},
    {1: "int key"},
    [{"floats": EDGE_FLOATS}],
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_dumps_as_json_does_gives_json_dumps_bytes(value: Any) -> None:
    assert jsonio.dumps_as_json_does(value) == json.dumps(value, indent=2, default=str).encode()


def test_orjson_writes_the_plain_report() -> None:
    """A report of plain values (numbers repr spells as orjson does) is orjson's bytes."""
    value = {"estimated_usd": 5413.9365, "units": [{"estimate_usd": 0.1, "ids": ["a"]}]}
    assert jsonio._spelled_alike(value)
    assert jsonio.dumps_as_json_does(value) == orjson.dumps(value, option=orjson.OPT_INDENT_2)
    for odd in (1e-5, 1e16, math.nan, Odd.THING, datetime(2026, 1, 1)):
        assert not jsonio._spelled_alike({"x": [odd]})


def test_floats_in_the_range_are_spelled_alike() -> None:
    rng = random.Random(7)
    for _ in range(20_000):
        value = rng.choice((1, -1)) * 10 ** rng.uniform(-4, 16)
        if rng.random() < 0.5:
            value = round(value, rng.randint(0, 9))
        if jsonio._spelled_alike(value):
            assert orjson.dumps(value) == repr(value).encode()


@pytest.mark.parametrize(
    "raw",
    [
        b'{"sha":"cb040b01c0dca189b4ba7708faf4430522209288256199c8"}',
        b'{"job":"job-12345678901234567890"}',
        b'{"n":12345678901234567890}',
        b"[-12345678901234567890, 1]",
        b'{"n":1.1234567890123456789e5}',
        b'{"n": 1e1234567890123456789}',
        b'{"note":"x 12345678901234567890 y"}',
        b"12345678901234567890123",
    ],
)
def test_loads_reads_as_json_does(raw: bytes) -> None:
    assert jsonio.loads(raw) == json.loads(raw)
    assert type(jsonio.loads(raw)) is type(json.loads(raw))


def test_digits_inside_a_string_do_not_need_json() -> None:
    assert not jsonio.may_hold_long_number(b'{"sha":"af4430522209288256199c8"}')
    assert jsonio.may_hold_long_number(b'{"n":12345678901234567890}')
    assert jsonio.may_hold_long_number(b'{"n":[1,12345678901234567890]}')
