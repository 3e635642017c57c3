"""Seed rows S12-S16, S18, S19, S22 (grouping half): identities the strategies stamp.

Scenes are built from groups by the runner's own ``scene_from_group`` (one beat per unit).
"""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest

from recoil_core.convert import dump_document, load_document
from recoil_core.hashing import shotset_hash
from recoil_core.model import (
    CanonicalShot,
    CoveragePass,
    CoverageSegment,
    Group,
    Scene,
)
from recoil_core.registry import Registry, build_registry
from recoil_core.runner.planning import scene_from_group
from recoil_core.testing.grouping import assert_identity, grouping_context, units_of
from recoil_core.testing.plans import canonical_shot


def shot(shot_id: str, order: int, *, location: str = "LOC_A") -> CanonicalShot:
    return canonical_shot(
        shot_id, order, order=order, location_id=location, prompt=f"prompt {shot_id}"
    )


@pytest.fixture(scope="module")
def registry() -> Registry:
    return build_registry()


def identity_dict(strategy: str, ordinal: int, shot_ids: list[str], pass_id: str | None = None):
    return {
        "strategy": strategy,
        "ordinal": ordinal,
        "shot_ids": shot_ids,
        "source_pass_id": pass_id,
        "shotset_hash": shotset_hash(shot_ids),
    }


def round_trip(scene: Scene, tmp_path: Path) -> Scene:
    path = tmp_path / f"{scene.scene_id}.json"
    path.write_text(json.dumps(dump_document("scene", scene)), encoding="utf-8")
    data = json.loads(path.read_text(encoding="utf-8"))
    return load_document("scene", data, Scene, source=str(path))


# A first batch at another location, so SH01+SH02 become the second batch, BATCH_002.
S12_SHOTS = [
    shot("EP001_SH00", 0, location="LOC_B"),
    shot("EP001_SH01", 1),
    shot("EP001_SH02", 2),
]


def test_s12_continuity_batch_scene_and_unit_carry_the_batch_identity(registry: Registry) -> None:
    groups = registry.strategy("continuity").assemble(S12_SHOTS, grouping_context(S12_SHOTS))

    batch = groups[1]
    assert batch.scene_id == "BATCH_002"
    expected = identity_dict("continuity", 2, ["EP001_SH01", "EP001_SH02"])
    assert batch.identity.to_dict() == expected
    [unit] = batch.units
    assert unit.unit_id == "BATCH_002__cont"
    assert unit.modality == "r2v_multi"
    assert unit.identity.to_dict() == expected
    assert [seg.shot_id for seg in unit.segments] == ["EP001_SH01", "EP001_SH02"]


def test_s13_batch_below_threshold_falls_back_to_one_solo_i2v_unit_per_shot(
    registry: Registry,
) -> None:
    ctx = grouping_context(S12_SHOTS, options={"min_multi_shots": 3})
    batch = registry.strategy("continuity").assemble(S12_SHOTS, ctx)[1]

    assert batch.scene_id == "BATCH_002"
    assert batch.identity.strategy == "continuity"
    assert [unit.unit_id for unit in batch.units] == ["EP001_SH01", "EP001_SH02"]
    assert [unit.modality for unit in batch.units] == ["video_i2v", "video_i2v"]
    assert [unit.identity.to_dict() for unit in batch.units] == [
        identity_dict("solo", 0, ["EP001_SH01"]),
        identity_dict("solo", 0, ["EP001_SH02"]),
    ]


def test_s13_single_shot_batch_below_default_threshold_is_solo(registry: Registry) -> None:
    groups = registry.strategy("continuity").assemble(S12_SHOTS, grouping_context(S12_SHOTS))
    assert groups[0].scene_id == "BATCH_001"
    assert_identity(groups[0], strategy="continuity", ordinal=1, shot_ids=["EP001_SH00"])
    [unit] = groups[0].units
    assert unit.modality == "video_i2v"
    assert_identity(unit, strategy="solo", ordinal=0, shot_ids=["EP001_SH00"])


def test_s14_shotset_hash_is_order_invariant_and_survives_persistence(
    registry: Registry, tmp_path: Path
) -> None:
    continuity = registry.strategy("continuity")
    ctx = grouping_context(S12_SHOTS)
    batch = continuity.assemble(S12_SHOTS, ctx)[1]
    expected = shotset_hash(["EP001_SH01", "EP001_SH02"])

    loaded = round_trip(scene_from_group(batch), tmp_path)
    assert loaded.grouping is not None and loaded.grouping.shotset_hash == expected
    assert loaded.beats[0].grouping == batch.units[0].identity
    assert loaded.beats[0].grouping is not None
    assert loaded.beats[0].grouping.to_dict()["shotset_hash"] == expected

    reversed_identity = attrs.evolve(
        batch.identity, shot_ids=tuple(reversed(batch.identity.shot_ids))
    )
    assert reversed_identity.to_dict()["shotset_hash"] == expected

    solo_ctx = grouping_context(S12_SHOTS, options={"min_multi_shots": 3})
    solo_batch = continuity.assemble(S12_SHOTS, solo_ctx)[1]
    loaded_solo = round_trip(scene_from_group(solo_batch), tmp_path)
    assert [
        beat.grouping.to_dict()["shotset_hash"] for beat in loaded_solo.beats if beat.grouping
    ] == [shotset_hash(["EP001_SH01"]), shotset_hash(["EP001_SH02"])]


def _s15_passes() -> list[CoveragePass]:
    return [
        CoveragePass(
            pass_id="EP001_PASS_021_SH01_02_A_ENV",
            episode_id="ep_001",
            shot_range=("EP001_SH01", "EP001_SH02"),
            segments=[
                CoverageSegment(0, "EP001_SH02", "MS", 2, "b"),
                CoverageSegment(1, "EP001_SH01", "MS", 2, "a"),
            ],
        ),
        CoveragePass(
            pass_id="EP001_PASS_022_SH04_05_A_JADE",
            episode_id="ep_001",
            shot_range=("EP001_SH04", "EP001_SH05"),
            focus_character="JADE",
            pass_type="character",
            segments=[
                CoverageSegment(0, "EP001_SH04", "MS", 2, "real a"),
                CoverageSegment(1, "wildcard", "MS", 2, "wild", is_wildcard=True),
                CoverageSegment(2, "EP001_SH05", "MS", 2, "real b"),
            ],
            wildcard_enabled=True,
        ),
        CoveragePass(
            pass_id="EP001_PASS_023_SH05_06_A_JADE",
            episode_id="ep_001",
            shot_range=("EP001_SH05", "EP001_SH06"),
            focus_character="JADE",
            pass_type="character",
            segments=[CoverageSegment(0, "wildcard", "MS", 2, "wild", is_wildcard=True)],
            wildcard_enabled=True,
        ),
    ]


def test_s15_every_unit_kind_hashes_its_shot_ids_stably_and_order_invariantly(
    registry: Registry,
) -> None:
    shots = [shot(f"EP001_SH0{n}", n) for n in range(1, 7)]
    passes = _s15_passes()
    ctx = grouping_context(shots, selected_passes=passes)

    def derive() -> dict[str, list[Group]]:
        return {
            "continuity": registry.strategy("continuity").assemble(shots[:3], ctx)[:1],
            "solo": registry.strategy("solo").assemble([shots[3]], ctx),
            "coverage": registry.strategy("coverage").assemble(shots, ctx),
        }

    first, second = derive(), derive()
    assert first["continuity"][0].modality == "r2v_multi"
    assert first["continuity"][0].identity.strategy == "continuity"
    assert first["solo"][0].modality == "video_i2v"
    assert [g.scene_id for g in first["coverage"]] == [p.pass_id for p in passes]

    hashes_first: dict[str, str] = {}
    hashes_second: dict[str, str] = {}
    for kind in first:
        for unit, again in zip(units_of(first[kind]), units_of(second[kind]), strict=True):
            grouping = unit.identity.to_dict()
            assert grouping["shotset_hash"] == shotset_hash(grouping["shot_ids"])
            reordered = attrs.evolve(
                unit.identity, shot_ids=tuple(reversed(unit.identity.shot_ids))
            )
            assert reordered.to_dict()["shotset_hash"] == grouping["shotset_hash"]
            hashes_first[unit.unit_id] = grouping["shotset_hash"]
            hashes_second[again.unit_id] = again.identity.shotset_hash
    assert hashes_first == hashes_second
    assert len(hashes_first) == 1 + 1 + 3  # one batch unit, one solo unit, three passes

    for coverage_pass, group in zip(passes, first["coverage"], strict=True):
        assert group.units[0].identity.shotset_hash == coverage_pass.to_dict()["shotset_hash"]
        reversed_pass = attrs.evolve(
            coverage_pass, segments=tuple(reversed(coverage_pass.segments))
        )
        assert reversed_pass.to_dict()["shotset_hash"] == coverage_pass.shotset_hash

    mixed = first["coverage"][1].units[0]
    assert list(mixed.identity.shot_ids) == ["EP001_SH04", "EP001_SH05"]
    assert [seg.shot_id for seg in mixed.segments] == ["EP001_SH04", None, "EP001_SH05"]
    wildcard_only = first["coverage"][2].units[0]
    assert list(wildcard_only.identity.shot_ids) == ["EP001_SH05", "EP001_SH06"]
    assert wildcard_only.identity.shotset_hash == shotset_hash(["EP001_SH05", "EP001_SH06"])
    assert [seg.shot_id for seg in wildcard_only.segments] == [None]


def test_s16_single_shot_oner_is_i2v_but_keeps_its_oner_identity(registry: Registry) -> None:
    shots = [shot("EP001_SH05", 1)]
    [group] = registry.strategy("oner").assemble(shots, grouping_context(shots))

    assert group.scene_id == "ONER_001"
    assert group.modality == "video_i2v"
    [unit] = group.units
    assert unit.unit_id == "ONER_001__oner"
    assert unit.identity.to_dict() == identity_dict("oner", 1, ["EP001_SH05"])


def test_s18_solo_through_the_registry_names_scenes_by_shot(registry: Registry) -> None:
    shots = [shot("EP001_SH01", 1), shot("EP001_SH02", 2)]
    groups = registry.strategy("solo").assemble(shots, grouping_context(shots))

    assert [g.scene_id for g in groups] == ["EP001_SH01", "EP001_SH02"]
    assert [g.identity.to_dict() for g in groups] == [
        identity_dict("solo", 0, ["EP001_SH01"]),
        identity_dict("solo", 0, ["EP001_SH02"]),
    ]
    assert [u.unit_id for u in units_of(groups)] == ["EP001_SH01", "EP001_SH02"]


def _s19_pass(**configs: dict[str, object]) -> CoveragePass:
    return CoveragePass(
        pass_id="EP001_PASS_011_SH01_02_A_ENV",
        episode_id="ep_001",
        shot_range=("EP001_SH01", "EP001_SH02"),
        segments=[
            CoverageSegment(0, "EP001_SH01", "MS", 2, "a"),
            CoverageSegment(1, "EP001_SH02", "MS", 2, "b"),
        ],
        **configs,  # type: ignore[arg-type]
    )


def test_s19_selected_coverage_pass_is_one_scene_with_ordinal_from_pass_id(
    registry: Registry,
) -> None:
    shots = [shot("EP001_SH01", 1), shot("EP001_SH02", 2)]
    selected = _s19_pass()
    ctx = grouping_context(shots, passes=[selected], selected_passes=[selected])

    groups = registry.strategy("coverage").assemble(shots, ctx)

    assert [g.scene_id for g in groups] == ["EP001_PASS_011_SH01_02_A_ENV"]
    [unit] = groups[0].units
    assert unit.unit_id == "EP001_PASS_011_SH01_02_A_ENV__cov"
    assert unit.modality == "r2v_multi"
    assert unit.identity.to_dict() == identity_dict(
        "coverage", 11, ["EP001_SH01", "EP001_SH02"], "EP001_PASS_011_SH01_02_A_ENV"
    )


def test_s22_coverage_unit_carries_the_pass_generation_and_element_config(
    registry: Registry,
) -> None:
    generation_config = {"tier": "pro", "seed": 1234, "resolution": "1080p", "format_mode": "C"}
    element_config = {"location_id": "LOC_A", "character_elements": [{"char_id": "JADE"}]}
    selected = _s19_pass(generation_config=generation_config, element_config=element_config)
    shots = [shot("EP001_SH01", 1), shot("EP001_SH02", 2)]

    [group] = registry.strategy("coverage").assemble(
        shots, grouping_context(shots, selected_passes=[selected])
    )

    [unit] = group.units
    assert unit.generation_config == generation_config
    assert unit.element_config == element_config
    assert [(s.shot_id, s.prompt) for s in unit.segments] == [
        ("EP001_SH01", "a"),
        ("EP001_SH02", "b"),
    ]
