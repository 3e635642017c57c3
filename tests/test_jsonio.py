"""Document JSON: orjson's bytes equal the standard library's, and what orjson refuses
still goes through json."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recoil_core import jsonio

DOCUMENT = {
    "schema_version": 1,
    "document": "scene",
    "scene_id": "EP001_SC01",
    "prompt": "Mara crosses the café — dusk, 雨",
    "estimate_usd": 0.6048,
    "tiny": 1.5e-07,
    "beats": [{"takes": [], "metadata": {}, "seed": 2147483647, "ok": True, "none": None}],
}


def test_compact_bytes_equal_the_standard_librarys() -> None:
    expected = json.dumps(DOCUMENT, ensure_ascii=False, separators=(",", ":")).encode()
    assert json.loads(jsonio.dumps(DOCUMENT)) == DOCUMENT
    assert jsonio.dumps(DOCUMENT).replace(b"1.5e-7", b"1.5e-07") == expected


def test_indented_bytes_equal_the_standard_librarys() -> None:
    expected = json.dumps(DOCUMENT, ensure_ascii=False, indent=2).encode()
    assert jsonio.dumps(DOCUMENT, indent=True).replace(b"1.5e-7", b"1.5e-07") == expected


def test_sorted_keys() -> None:
    assert jsonio.dumps({"b": 1, "a": {"d": 2, "c": 3}}, sort_keys=True) == (
        b'{"a":{"c":3,"d":2},"b":1}'
    )


@pytest.mark.parametrize(
    "value",
    [
        {"seed": 2**70},  # wider than orjson's 64 bits
        {1: "a non-string key"},
    ],
    ids=["huge-int", "int-key"],
)
def test_what_orjson_refuses_is_written_by_json(value: dict[object, object]) -> None:
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    assert jsonio.dumps(value) == expected
    assert jsonio.dumps(value, indent=True) == json.dumps(value, indent=2).encode()


def test_a_value_json_has_no_type_for_is_a_type_error_without_default() -> None:
    for value in ({"x": object()}, {"at": datetime(2026, 1, 2, tzinfo=UTC)}):
        with pytest.raises(TypeError):
            jsonio.dumps(value)


def test_default_str_writes_paths_and_datetimes_as_their_text() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    value = {"at": at, "path": Path("renders/EP001_SH1_take1.mp4")}
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()
    assert jsonio.dumps(value, sort_keys=True, default=str) == expected
    assert json.loads(expected)["at"] == "2026-01-02 03:04:05+00:00"


def test_loads_reads_what_json_reads_and_refuses_what_it_refuses() -> None:
    assert jsonio.loads(b'{"a": [1, 2.5, "\\u00e9"]}') == {"a": [1, 2.5, "é"]}
    assert math.isnan(jsonio.loads(b'{"cost": NaN}')["cost"])  # json reads it; orjson does not
    huge = 123456789012345678901234567890  # orjson would read it as a float
    assert jsonio.loads(b'{"n": %d}' % huge)["n"] == huge
    with pytest.raises(ValueError, match="Expecting"):
        jsonio.loads(b'{"torn": ')
