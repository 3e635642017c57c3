"""Behaviour of the standard strategies: batching rules, options, oner, properties (coverage:
plugins/recoil-coverage/tests/test_coverage_strategy.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from recoil_plugins_grouping.helpers import GroupingOptionError

from recoil_core.api import CanonicalShot, Group, GroupingStrategy, OptionError
from recoil_core.testing.grouping import (
    assert_covers_each_shot_once,
    assert_deterministic,
    assert_identity,
    grouping_context,
    units_of,
)
from recoil_core.testing.installed import InstalledPlugins

REGISTRY = InstalledPlugins()


def shot(
    n: int,
    *,
    location: str = "LOC_A",
    sequence: str = "SEQ01",
    duration: float = 2.0,
    characters: tuple[str, ...] = (),
) -> CanonicalShot:
    return CanonicalShot(
        shot_id=f"EP001_SH{n:02d}",
        sequence_id=sequence,
        scene_index=n,
        location_id=location,
        duration_s=duration,
        characters=characters,
        order=n,
    )


def grouped(name: str, shots: list[CanonicalShot], **options: object) -> list[Group]:
    """The groups ``name`` makes of ``shots``, the options checked as a run checks them."""
    plan = grouping_context(shots).plan
    return REGISTRY.derive_groups(plan, name, options=options)


def continuity(shots: list[CanonicalShot], **options: object) -> list[list[str]]:
    return [list(group.identity.shot_ids) for group in grouped("continuity", shots, **options)]


def test_continuity_breaks_batches_at_location_and_sequence_changes() -> None:
    shots = [
        shot(1),
        shot(2),
        shot(3, location="LOC_B"),
        shot(4, location="LOC_B", sequence="SEQ02"),
        shot(5, location="LOC_B", sequence="SEQ02"),
    ]
    assert continuity(shots) == [
        ["EP001_SH01", "EP001_SH02"],
        ["EP001_SH03"],
        ["EP001_SH04", "EP001_SH05"],
    ]


def test_continuity_bounds_batches_by_shot_count_and_total_duration() -> None:
    six = [shot(n) for n in range(1, 7)]
    assert [len(b) for b in continuity(six)] == [4, 2]
    assert [len(b) for b in continuity(six, max_shots=3)] == [3, 3]
    long = [shot(1, duration=6), shot(2, duration=6), shot(3, duration=6), shot(4, duration=20)]
    assert continuity(long) == [["EP001_SH01", "EP001_SH02"], ["EP001_SH03"], ["EP001_SH04"]]
    assert continuity(long, max_duration_s="18") == [
        ["EP001_SH01", "EP001_SH02", "EP001_SH03"],
        ["EP001_SH04"],
    ]


def test_continuity_breaks_when_characters_are_disjoint_but_joins_env_only_shots() -> None:
    shots = [
        shot(1, characters=("JADE",)),
        shot(2),
        shot(3, characters=("JADE", "KAI")),
        shot(4, characters=("MARA",)),
    ]
    assert continuity(shots) == [["EP001_SH01", "EP001_SH02", "EP001_SH03"], ["EP001_SH04"]]


def test_continuity_numbers_batches_in_plan_order_with_unit_ids() -> None:
    shots = [shot(1), shot(2), shot(3, location="LOC_B"), shot(4, location="LOC_B")]
    groups = REGISTRY.strategy("continuity").assemble(shots, grouping_context(shots))
    assert [g.scene_id for g in groups] == ["BATCH_001", "BATCH_002"]
    assert [u.unit_id for u in units_of(groups)] == ["BATCH_001__cont", "BATCH_002__cont"]
    assert_identity(
        groups[1].units[0], strategy="continuity", ordinal=2, shot_ids=["EP001_SH03", "EP001_SH04"]
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"max_shot": 3},
            "grouping strategy 'continuity': unknown option 'max_shot' (did you mean "
            "'max_shots'?); known options: max_duration_s (float, default 15.0), "
            "max_shots (int, default 4), min_multi_shots (int, default 2)",
        ),
        ({"max_shots": "three"}, "option max_shots='three' is not a whole number (int)"),
        ({"max_shots": 2.5}, "option max_shots=2.5 is not a whole number (int)"),
        ({"max_shots": True}, "option max_shots=True is not a whole number (int)"),
        ({"max_duration_s": 0}, "option max_duration_s=0.0 must be greater than 0"),
        ({"min_multi_shots": "-1"}, "option min_multi_shots=-1 must be greater than 0"),
        ({"max_duration_s": "nan"}, "option max_duration_s='nan' is not a finite number (float)"),
        ({"max_duration_s": "inf"}, "option max_duration_s='inf' is not a finite number (float)"),
        ({"max_duration_s": float("inf")}, "max_duration_s=inf is not a finite number (float)"),
    ],
)
def test_continuity_refuses_bad_options_with_a_clear_message(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(OptionError) as info:
        continuity([shot(1)], **options)
    assert message in str(info.value)
    assert info.value.exit_code == 2


def test_continuity_takes_whole_numbers_written_as_decimals_and_strings() -> None:
    six = [shot(n) for n in range(1, 7)]
    assert (
        continuity(six, max_shots="3")
        == continuity(six, max_shots=3.0)
        == continuity(six, max_shots=3)
    )


def test_the_old_grouping_option_error_is_the_kernel_option_error() -> None:
    assert GroupingOptionError is OptionError


@pytest.mark.parametrize("name", ["solo", "oner"])
def test_solo_and_oner_refuse_any_option(name: str) -> None:
    with pytest.raises(OptionError, match=f"'{name}': unknown option 'x'; it takes no options"):
        grouped(name, [shot(1)], x=1)


def test_standard_strategies_declare_their_options() -> None:
    declared = {
        name: [(s.name, s.type, s.default) for s in REGISTRY.strategy_options(name)]
        for name in ("continuity", "solo", "oner")
    }
    assert declared == {
        "continuity": [
            ("max_shots", int, 4),
            ("max_duration_s", float, 15.0),
            ("min_multi_shots", int, 2),
        ],
        "oner": [],
        "solo": [],
    }


def test_oner_makes_one_unit_per_sequence_numbered_in_plan_order() -> None:
    shots = [
        shot(1, sequence="SEQ20"),
        shot(2, sequence="SEQ20", location="LOC_B"),
        shot(3, sequence="SEQ10"),
    ]
    groups = REGISTRY.strategy("oner").assemble(shots, grouping_context(shots))
    assert [g.scene_id for g in groups] == ["ONER_001", "ONER_002"]
    assert [(u.unit_id, u.modality) for u in units_of(groups)] == [
        ("ONER_001__oner", "r2v_multi"),
        ("ONER_002__oner", "video_i2v"),
    ]
    assert_identity(
        groups[0].units[0], strategy="oner", ordinal=1, shot_ids=["EP001_SH01", "EP001_SH02"]
    )
    assert groups[0].duration_s == 4.0


# --------------------------------------------------------------------------- properties

shot_specs = st.lists(
    st.tuples(
        st.sampled_from(["SEQ01", "SEQ02"]),
        st.sampled_from(["LOC_A", "LOC_B"]),
        st.sets(st.sampled_from(["JADE", "KAI", "MARA"]), max_size=2),
        st.sampled_from([1.0, 2.5, 4.0, 9.0, 16.0]),
    ),
    min_size=1,
    max_size=25,
)


def build(specs: list[tuple[str, str, set[str], float]]) -> list[CanonicalShot]:
    return [
        shot(n, sequence=seq, location=loc, characters=tuple(sorted(chars)), duration=dur)
        for n, (seq, loc, chars, dur) in enumerate(specs, start=1)
    ]


@pytest.mark.parametrize("name", ["continuity", "solo", "oner"])
@settings(max_examples=60, deadline=None)
@given(specs=shot_specs, seed=st.integers(0, 1000))
def test_strategies_are_deterministic_order_invariant_and_cover_every_shot_once(
    name: str, specs: list[tuple[str, str, set[str], float]], seed: int
) -> None:
    strategy: GroupingStrategy = REGISTRY.strategy(name)
    shots = build(specs)
    ctx = grouping_context(shots)
    groups = assert_deterministic(strategy, shots, ctx, shuffled=True, seed=seed)
    assert_covers_each_shot_once(groups, shots)
    for unit in units_of(groups):
        assert [seg.shot_id for seg in unit.segments] == list(unit.identity.shot_ids)
        assert unit.modality == ("r2v_multi" if len(unit.segments) > 1 else "video_i2v")


@settings(max_examples=60, deadline=None)
@given(specs=shot_specs, max_shots=st.integers(1, 5), max_duration=st.sampled_from([5, 15, 30]))
def test_continuity_batches_respect_their_bounds_and_stay_in_one_place(
    specs: list[tuple[str, str, set[str], float]], max_shots: int, max_duration: int
) -> None:
    shots = build(specs)
    ctx = grouping_context(shots, options={"max_shots": max_shots, "max_duration_s": max_duration})
    groups = REGISTRY.strategy("continuity").assemble(shots, ctx)
    by_id = {s.shot_id: s for s in shots}
    assert [g.identity.ordinal for g in groups] == list(range(1, len(groups) + 1))
    for group in groups:
        members = [by_id[sid] for sid in group.identity.shot_ids]
        assert len(members) <= max_shots
        assert len({(m.sequence_id, m.location_id) for m in members}) == 1
        if len(members) > 1:
            assert sum(m.duration_s for m in members) <= max_duration
