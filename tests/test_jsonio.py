"""Document JSON: orjson's bytes equal the standard library's, and what orjson refuses
still goes through json."""

from __future__ import annotations

import enum
import json
import math
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


_DIGITS_AND_OTHERS = st.lists(
    st.sampled_from([b"0", b"1", b"5", b"9", b"-", b".", b"e", b'"', b"a", b" ", b"\xc3\xa9"]),
    max_size=80,
).map(b"".join)


@given(st.one_of(_DIGITS_AND_OTHERS, st.binary(max_size=80)))
def test_the_long_integer_check_answers_as_a_19_digit_search_does(raw: bytes) -> None:
    assert jsonio.may_hold_long_integer(raw) == (re.search(rb"[0-9]{19}", raw) is not None)


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.integers(min_value=-(10**19), max_value=10**19)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(_JSON_VALUES, st.booleans())
def test_loads_reads_every_document_as_json_does(value: object, indent: bool) -> None:
    raw = json.dumps(value, ensure_ascii=False, indent=2 if indent else None).encode()
    read = jsonio.loads(raw)
    assert read == json.loads(raw)
    assert repr(read) == repr(json.loads(raw))  # same types too: an int stays an int


class _Colour(enum.Enum):
    RED = "red"


class _Kind(enum.StrEnum):
    TAKE = "take"


_TEXT = st.text(
    alphabet=st.sampled_from(
        [
            "a",
            "Z",
            " ",
            '"',
            "\\",
            "/",
            "\n",
            "\t",
            "\x00",
            "\x1f",
            "\x7f",
            "é",
            "雨",
            "😀",
            ":",
            "e",
            "1",
        ]
    ),
    max_size=10,
)
_OUTPUT_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | _TEXT
    | st.sampled_from([_Colour.RED, _Kind.TAKE, Path("a/b.mp4"), datetime(2026, 1, 2, tzinfo=UTC)])
    | st.decimals(allow_nan=False, places=3),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(_TEXT, inner, max_size=4)
    ),
    max_leaves=16,
)


@given(_OUTPUT_VALUES)
def test_output_bytes_equal_the_standard_librarys(value: object) -> None:
    expected = json.dumps(value, indent=2, default=str).encode()
    assert jsonio.dumps_as_json_does(value) == expected


def test_output_of_a_report_is_orjsons_and_the_standard_librarys() -> None:
    report = {"project": "p", "scenes": [{"cost_usd": 0.6048, "job_ids": [], "meta": {}}] * 3}
    assert jsonio.dumps_as_json_does(report) == json.dumps(report, indent=2).encode()
    for tiny in (1e-05, 1e16, -2.5e-07):
        value = {"cost": tiny, "list": [tiny]}
        assert jsonio.dumps_as_json_does(value) == json.dumps(value, indent=2).encode()
