"""render_name: render file names from grouping identities, for every strategy."""

from __future__ import annotations

import pytest

from recoil_core.errors import InvalidIdError
from recoil_core.model import GroupIdentity
from recoil_core.render import render_name, sidecar_name


def _name(strategy: str, ordinal: int, *shot_ids: str, **kwargs: object) -> str:
    identity = GroupIdentity(strategy, ordinal, shot_ids, kwargs.pop("source_pass_id", None))
    options: dict = {"episode": "EP001", "take_number": 1, **kwargs}
    return render_name(identity, **options)


def test_s13_solo_names_use_shot_number_without_leading_zeros() -> None:
    assert _name("solo", 0, "EP001_SH01") == "EP001_SH1_take1.mp4"
    assert _name("solo", 0, "EP001_SH02") == "EP001_SH2_take1.mp4"
    assert _name("solo", 0, "EP001_SH120", take_number=3) == "EP001_SH120_take3.mp4"


def test_continuity_name_carries_ordinal_and_first_and_last_shot() -> None:
    name = _name("continuity", 2, "EP001_SH01", "EP001_SH02", "EP001_SH03")
    assert name == "EP001_CONT_002_SH01_03_take1.mp4"


def test_s16_single_shot_oner_name_is_not_the_solo_stem() -> None:
    name = _name("oner", 1, "EP001_SH05")
    assert name == "EP001_ONER_001_SH05_take1.mp4"
    assert name != _name("solo", 0, "EP001_SH05")


def test_coverage_name_takes_its_ordinal_from_the_pass() -> None:
    name = _name(
        "coverage", 11, "EP001_SH02", "EP001_SH01", source_pass_id="EP001_PASS_011_SH01_02_A"
    )
    assert name == "EP001_COV_011_SH01_02_take1.mp4"


def test_wildcards_do_not_count_as_shots() -> None:
    assert _name("coverage", 4, "EP001_SH01", "wildcard") == "EP001_COV_004_SH01_take1.mp4"


def test_third_party_strategy_gets_its_upper_case_name_as_tag() -> None:
    name = _name("by-location", 7, "EP001_SH03", "EP001_SH04")
    assert name == "EP001_BY_LOCATION_007_SH03_04_take1.mp4"


def test_tag_marks_intermediate_outputs_before_the_suffix() -> None:
    assert _name("solo", 0, "EP001_SH01", suffix=".png", tag="kf") == "EP001_SH1_take1_kf.png"


def test_episode_prefix_comes_from_the_plan_when_shot_ids_have_none() -> None:
    assert _name("solo", 0, "OPENING") == "EP001_OPENING_take1.mp4"
    assert _name("solo", 0, "EP001_OPENING") == "EP001_OPENING_take1.mp4"
    assert _name("continuity", 1, "A1", "B2") == "EP001_CONT_001_A1_B2_take1.mp4"


def test_prefix_of_shot_ids_wins_over_the_episode_argument() -> None:
    identity = GroupIdentity("solo", 0, ("EP002_SH07",))
    assert render_name(identity, episode="ep_002", take_number=2) == "EP002_SH7_take2.mp4"


def test_unsafe_shot_ids_cannot_produce_a_file_name() -> None:
    with pytest.raises(InvalidIdError):
        _name("solo", 0, "../../etc/passwd")


@pytest.mark.parametrize(
    "kwargs", [{"take_number": 0}, {"suffix": "mp4"}, {"tag": "a/b"}, {"suffix": "./x"}]
)
def test_bad_name_arguments_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        _name("solo", 0, "EP001_SH01", **kwargs)


def test_sidecar_name_appends_json() -> None:
    assert sidecar_name("EP001_SH1_take1.mp4") == "EP001_SH1_take1.mp4.json"


def test_a_later_scene_version_is_named_apart_so_it_never_overwrites_an_earlier_render() -> None:
    identity = GroupIdentity("coverage", 11, ("EP001_SH01", "EP001_SH02"))
    first = render_name(identity, episode="EP001", take_number=1)
    second = render_name(identity, episode="EP001", take_number=1, version=2)
    assert first == "EP001_COV_011_SH01_02_take1.mp4"
    assert second == "EP001_COV_011_SH01_02_v2_take1.mp4"
    with pytest.raises(ValueError, match="version"):
        render_name(identity, episode="EP001", take_number=1, version=0)


def test_ids_valid_on_their_own_never_make_a_render_name_fail() -> None:
    long_shot = "X" * 120
    identity = GroupIdentity("continuity", 1, (long_shot, "Y" * 120))
    names = {
        render_name(identity, episode="E" * 128, take_number=n, version=3, tag="kf") for n in (1, 2)
    }
    assert len(names) == 2 and all(len(name) <= 128 for name in names)
    other = GroupIdentity("continuity", 1, (long_shot, "Z" * 120))
    assert render_name(other, episode="E" * 128, take_number=1, version=3, tag="kf") not in names
