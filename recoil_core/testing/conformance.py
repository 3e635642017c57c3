"""Conformance tests every persistence backend must pass (the filesystem backend does).

Subclass :class:`BackendConformance` in a test module under a ``Test*`` name and provide a
``make_backend`` fixture: a callable that opens a backend over one fresh, empty store
(calling it twice must give two backend objects over the *same* store)::

    class TestMyBackend(BackendConformance):
        @pytest.fixture
        def make_backend(self, tmp_path):
            return lambda: MyBackend(tmp_path)

The ``backend`` fixture (one backend object) is derived from it; override it if needed.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import pytest

from recoil_core.errors import (
    EpisodeLockedError,
    InvalidIdError,
    RecoilError,
    SceneVersionConflictError,
)
from recoil_core.hashing import shotset_hash
from recoil_core.model import (
    Beat,
    ChargeKind,
    Downstream,
    GenerationReceipt,
    GroupIdentity,
    LedgerEntry,
    RunResult,
    Scene,
    Segment,
    StepState,
    Take,
    TakeState,
    Workflow,
    WorkflowStep,
    charge_entry_id,
)
from recoil_core.persistence.protocol import (
    PersistenceBackend,
    SceneNotFoundError,
    UnknownSceneVersionError,
)

__all__ = [
    "EPISODE",
    "PASS_ID",
    "PROJECT",
    "BackendConformance",
    "MakeBackend",
    "charge",
    "coverage_scene",
    "solo_scene",
]

PROJECT = "p"
"""The project the conformance tests write to."""
EPISODE = "ep_001"
"""The episode the conformance tests write to."""
PASS_ID = "EP001_PASS_011_SH01_02_A_ENV"
"""The scene id of :func:`coverage_scene` by default."""

MakeBackend = Callable[[], PersistenceBackend]
"""A callable opening a backend object over one store; each call, another object."""


def coverage_scene(scene_id: str = PASS_ID, *, with_take: bool = True) -> Scene:
    """A coverage scene with one beat carrying grouping and pass configs (and a take)."""
    grouping = GroupIdentity(
        strategy="coverage",
        ordinal=11,
        shot_ids=("EP001_SH01", "EP001_SH02"),
        source_pass_id=scene_id,
    )
    beat = Beat(
        beat_id=f"{scene_id}__cov",
        modality="r2v_multi",
        grouping=grouping,
        segments=[Segment("EP001_SH01", 2.0, "wide"), Segment(None, 1.5, "insert", "CU")],
        max_takes=2,
        generation_config={"tier": "pro", "seed": 1234, "format_mode": "C"},
        element_config={"identity_ref_mode": "full_turnaround", "characters": ["JADE"]},
        metadata={"note": "ünïcode ok"},
    )
    if with_take:
        step = WorkflowStep(
            step_id="video",
            modality="r2v_multi",
            payload={"prompt": "wide", "duration_s": 3.5, "grouping": grouping.to_dict()},
            provider="animatic",
            model="seeddance-2.0",
            state=StepState.SUCCEEDED,
            seed=7,
            job_id="job-1",
            estimate_usd=0.5,
            receipt=GenerationReceipt(
                receipt_id="r1",
                take_id=f"{beat.beat_id}_take_0",
                step_id="video",
                modality="r2v_multi",
                provider="animatic",
                model="seeddance-2.0",
                job_id="job-1",
                timestamp_utc="2025-01-01T00:00:00+00:00",
                run_result=RunResult(True, "renders/x.mp4", "ab" * 32, 0.42, metadata={"k": 1}),
            ),
        )
        take = beat.new_take(Workflow("wf-1", [step], provenance={"strategy": "coverage"}))
        take.uid = "tk_" + "0" * 32  # fixed: two calls must build equal scenes
        take.state = TakeState.SUCCEEDED
        take.created_at = take.updated_at = "2025-01-01T00:00:00+00:00"
        take.cost_usd = 0.42
        take.render_path = "renders/x.mp4"
        beat.primary_take_id = take.take_id
    return Scene(
        scene_id=scene_id,
        beats=[beat],
        grouping=grouping,
        project=PROJECT,
        episode=EPISODE,
        derivation_digest="d1",
        metadata={"source": "plan.json"},
    )


def solo_scene(scene_id: str, shot_ids: list[str]) -> Scene:
    """A scene with one solo beat per shot."""
    beats = [
        Beat(beat_id=sid, grouping=GroupIdentity("solo", n, (sid,)), segments=[Segment(sid, 2.0)])
        for n, sid in enumerate(shot_ids, start=1)
    ]
    grouping = GroupIdentity("solo", 1, tuple(shot_ids))
    return Scene(scene_id=scene_id, beats=beats, grouping=grouping)


def charge(take_id: str, amount: float, *, episode: str = EPISODE) -> LedgerEntry:
    """A ``succeeded`` ledger entry of ``amount`` USD for the ``video`` step of ``take_id``."""
    kind = ChargeKind.SUCCEEDED
    return LedgerEntry(
        entry_id=charge_entry_id(take_id, "video", kind),
        project=PROJECT,
        episode=episode,
        scene_id="S1",
        beat_id="B1",
        take_id=take_id,
        step_id="video",
        provider="animatic",
        model="seeddance-2.0",
        kind=kind,
        amount_usd=amount,
        job_id=f"job-{take_id}",
    )


def _takes(scene: Scene) -> list[list[Take]]:
    return [list(beat.takes) for beat in scene.beats]


class BackendConformance:
    """The behaviour of :class:`PersistenceBackend` every backend must show."""

    @pytest.fixture
    def backend(self, make_backend: MakeBackend) -> PersistenceBackend:
        """One backend object over the store ``make_backend`` opens."""
        return make_backend()

    # ---------------------------------------------------------------- round trips

    def test_backend_satisfies_the_protocol(self, backend: PersistenceBackend) -> None:
        assert isinstance(backend, PersistenceBackend)
        assert isinstance(backend.name, str) and backend.name

    def test_s21_scene_round_trip_keeps_grouping_takes_and_pass_configs(
        self, backend: PersistenceBackend
    ) -> None:
        scene = coverage_scene()
        assert backend.create_scene(PROJECT, EPISODE, scene) == 1
        loaded = backend.load_scene(PROJECT, EPISODE, scene.scene_id)
        assert loaded == scene
        assert loaded is not None
        beat = loaded.beats[0]
        assert beat.grouping is not None
        assert beat.grouping.to_dict() == {
            "strategy": "coverage",
            "ordinal": 11,
            "shot_ids": ["EP001_SH01", "EP001_SH02"],
            "source_pass_id": PASS_ID,
            "shotset_hash": shotset_hash(["EP001_SH01", "EP001_SH02"]),
        }
        assert beat.generation_config == {"tier": "pro", "seed": 1234, "format_mode": "C"}
        assert beat.element_config == {
            "identity_ref_mode": "full_turnaround",
            "characters": ["JADE"],
        }
        take = beat.takes[0]
        assert take.state is TakeState.SUCCEEDED
        assert take.workflow.steps[0].state is StepState.SUCCEEDED
        assert take.workflow.steps[0].receipt == scene.beats[0].takes[0].workflow.steps[0].receipt

    def test_s14_shotset_hash_is_order_invariant_and_survives_round_trip(
        self, backend: PersistenceBackend
    ) -> None:
        expected = shotset_hash(["EP001_SH01", "EP001_SH02"])
        forward = coverage_scene("BATCH_002", with_take=False)
        reversed_ids = ("EP001_SH02", "EP001_SH01")
        backward = attrs.evolve(
            coverage_scene("BATCH_003", with_take=False),
            grouping=GroupIdentity("continuity", 3, reversed_ids),
        )
        backward.beats[0].grouping = GroupIdentity("continuity", 3, reversed_ids)
        solo = solo_scene("BATCH_004", ["EP001_SH01", "EP001_SH02"])
        for scene in (forward, backward, solo):
            backend.create_scene(PROJECT, EPISODE, scene)

        for scene_id in ("BATCH_002", "BATCH_003"):
            loaded = backend.load_scene(PROJECT, EPISODE, scene_id)
            assert loaded is not None and loaded.grouping is not None
            assert loaded.grouping.shotset_hash == expected
            assert loaded.beats[0].grouping is not None
            assert loaded.beats[0].grouping.shotset_hash == expected
        loaded_back = backend.load_scene(PROJECT, EPISODE, "BATCH_003")
        assert loaded_back is not None and loaded_back.grouping is not None
        assert loaded_back.grouping.shot_ids == reversed_ids
        loaded_solo = backend.load_scene(PROJECT, EPISODE, "BATCH_004")
        assert loaded_solo is not None
        assert [b.grouping.shotset_hash for b in loaded_solo.beats if b.grouping] == [
            shotset_hash(["EP001_SH01"]),
            shotset_hash(["EP001_SH02"]),
        ]

    def test_create_scene_makes_v1_active_and_derived(self, backend: PersistenceBackend) -> None:
        backend.create_scene(PROJECT, EPISODE, coverage_scene())
        manifest = backend.load_manifest(PROJECT, EPISODE, PASS_ID)
        assert manifest is not None
        assert manifest.scene_id == PASS_ID
        assert manifest.active_version == 1
        assert [(e.version, e.downstream) for e in manifest.versions] == [(1, Downstream.DERIVED)]
        active = backend.load_active(PROJECT, EPISODE, PASS_ID)
        assert active is not None and active[1] == 1
        assert active[0] == coverage_scene()

    def test_create_existing_scene_conflicts_and_keeps_v1(
        self, backend: PersistenceBackend
    ) -> None:
        original = coverage_scene()
        backend.create_scene(PROJECT, EPISODE, original)
        other = coverage_scene(with_take=False)
        with pytest.raises(SceneVersionConflictError):
            backend.create_scene(PROJECT, EPISODE, other)
        assert backend.load_scene(PROJECT, EPISODE, PASS_ID) == original

    def test_save_scene_rewrites_the_active_version(self, backend: PersistenceBackend) -> None:
        scene = coverage_scene(with_take=False)
        backend.create_scene(PROJECT, EPISODE, scene)
        loaded = backend.load_active(PROJECT, EPISODE, PASS_ID)
        assert loaded is not None
        current, version = loaded
        current.beats[0].new_take(Workflow("wf-2"))
        backend.save_scene(PROJECT, EPISODE, current, expected_version=version)
        backend.save_scene(PROJECT, EPISODE, current, expected_version=version)
        reloaded = backend.load_active(PROJECT, EPISODE, PASS_ID)
        assert reloaded is not None
        assert reloaded == (current, 1)
        manifest = backend.load_manifest(PROJECT, EPISODE, PASS_ID)
        assert manifest is not None and [e.version for e in manifest.versions] == [1]

    def test_save_of_unknown_scene_raises_conflict(self, backend: PersistenceBackend) -> None:
        with pytest.raises(SceneVersionConflictError):
            backend.save_scene(PROJECT, EPISODE, coverage_scene(), expected_version=1)
        assert backend.load_manifest(PROJECT, EPISODE, PASS_ID) is None

    # ---------------------------------------------------------------- versions

    def test_s24_save_after_active_version_moved_raises_conflict_and_writes_nothing(
        self, backend: PersistenceBackend
    ) -> None:
        backend.create_scene(PROJECT, EPISODE, coverage_scene())
        loaded = backend.load_active(PROJECT, EPISODE, PASS_ID)
        assert loaded is not None
        v1, version = loaded
        assert version == 1
        candidate = coverage_scene(with_take=False)
        candidate.beats[0].generation_config = {"tier": "fast"}
        assert backend.stage_candidate(PROJECT, EPISODE, candidate) == 2
        assert backend.conform(PROJECT, EPISODE, PASS_ID, 2) == 2

        v1.beats[0].takes[0].state = TakeState.SUBMITTING
        with pytest.raises(SceneVersionConflictError) as caught:
            backend.save_scene(PROJECT, EPISODE, v1, expected_version=1)
        assert (caught.value.expected, caught.value.actual) == (1, 2)
        assert backend.load_scene(PROJECT, EPISODE, PASS_ID, 1) == coverage_scene()
        assert backend.load_scene(PROJECT, EPISODE, PASS_ID, 2) == candidate
        assert backend.load_active(PROJECT, EPISODE, PASS_ID) == (candidate, 2)

    def test_s24_conform_through_another_backend_object_is_detected(
        self, make_backend: MakeBackend
    ) -> None:
        runner_side, operator_side = make_backend(), make_backend()
        runner_side.create_scene(PROJECT, EPISODE, coverage_scene())
        loaded = runner_side.load_active(PROJECT, EPISODE, PASS_ID)
        assert loaded is not None
        scene, version = loaded
        runner_side.save_scene(PROJECT, EPISODE, scene, expected_version=version)
        operator_side.stage_candidate(PROJECT, EPISODE, coverage_scene(with_take=False))
        operator_side.conform(PROJECT, EPISODE, PASS_ID)
        with pytest.raises(SceneVersionConflictError):
            runner_side.save_scene(PROJECT, EPISODE, scene, expected_version=version)
        assert runner_side.load_active(PROJECT, EPISODE, PASS_ID) == (
            coverage_scene(with_take=False),
            2,
        )

    def test_s20_staged_candidate_is_not_derived_and_leaves_active_untouched(
        self, backend: PersistenceBackend
    ) -> None:
        active = coverage_scene()
        backend.create_scene(PROJECT, EPISODE, active)
        candidate = coverage_scene(with_take=False)
        candidate.beats[0].generation_config = {"tier": "pro", "seed": 99}
        candidate.derivation_digest = "d2"

        version = backend.stage_candidate(PROJECT, EPISODE, candidate, note="pass config changed")

        assert version == 2
        manifest = backend.load_manifest(PROJECT, EPISODE, PASS_ID)
        assert manifest is not None
        assert manifest.active_version == 1
        assert manifest.entry(1).downstream == Downstream.DERIVED
        entry = manifest.entry(2)
        assert entry.downstream == Downstream.NOT_DERIVED
        assert entry.note == "pass config changed"
        assert entry.derivation_digest == "d2"
        assert [e.version for e in manifest.candidates()] == [2]
        loaded = backend.load_active(PROJECT, EPISODE, PASS_ID)
        assert loaded == (active, 1)
        assert loaded is not None and _takes(loaded[0]) == _takes(active)
        staged = backend.load_scene(PROJECT, EPISODE, PASS_ID, 2)
        assert staged == candidate
        assert staged is not None and all(not beat.takes for beat in staged.beats)

    def test_conform_defaults_to_newest_candidate_and_marks_it_derived(
        self, backend: PersistenceBackend
    ) -> None:
        backend.create_scene(PROJECT, EPISODE, coverage_scene())
        second = coverage_scene(with_take=False)
        third = coverage_scene(with_take=False)
        third.metadata = {"which": "third"}
        backend.stage_candidate(PROJECT, EPISODE, second)
        backend.stage_candidate(PROJECT, EPISODE, third)

        assert backend.conform(PROJECT, EPISODE, PASS_ID) == 3

        manifest = backend.load_manifest(PROJECT, EPISODE, PASS_ID)
        assert manifest is not None
        assert manifest.active_version == 3
        assert manifest.entry(3).downstream == Downstream.DERIVED
        assert manifest.entry(2).downstream == Downstream.NOT_DERIVED
        assert backend.load_active(PROJECT, EPISODE, PASS_ID) == (third, 3)
        assert backend.conform(PROJECT, EPISODE, PASS_ID, 2) == 2
        assert backend.load_active(PROJECT, EPISODE, PASS_ID) == (second, 2)

    def test_conform_unknown_version_or_without_candidate_is_a_clear_error(
        self, backend: PersistenceBackend
    ) -> None:
        backend.create_scene(PROJECT, EPISODE, coverage_scene())
        with pytest.raises(UnknownSceneVersionError, match="v7"):
            backend.conform(PROJECT, EPISODE, PASS_ID, 7)
        with pytest.raises(UnknownSceneVersionError, match="active remains v1"):
            backend.conform(PROJECT, EPISODE, PASS_ID)
        with pytest.raises(SceneNotFoundError):
            backend.conform(PROJECT, EPISODE, "NOPE")
        with pytest.raises(SceneNotFoundError):
            backend.stage_candidate(PROJECT, EPISODE, coverage_scene("NOPE"))
        assert issubclass(UnknownSceneVersionError, RecoilError)
        manifest = backend.load_manifest(PROJECT, EPISODE, PASS_ID)
        assert manifest is not None and manifest.active_version == 1
        assert backend.list_scenes(PROJECT, EPISODE) == [PASS_ID]

    def test_s04_restamped_max_takes_persist(self, backend: PersistenceBackend) -> None:
        stale = Scene(
            scene_id="SEQ11",
            beats=[Beat(beat_id="EP001_SH01", max_takes=1), Beat(beat_id="EP001_SH02")],
            project=PROJECT,
            episode=EPISODE,
        )
        backend.create_scene(PROJECT, EPISODE, stale)
        loaded = backend.load_active(PROJECT, EPISODE, "SEQ11")
        assert loaded is not None
        scene, version = loaded
        for beat in scene.beats:
            beat.max_takes = 5
        backend.save_scene(PROJECT, EPISODE, scene, expected_version=version)
        reloaded = backend.load_scene(PROJECT, EPISODE, "SEQ11")
        assert reloaded is not None
        assert [beat.max_takes for beat in reloaded.beats] == [5, 5]

    def test_write_batch_if_offered_reads_its_writes_and_keeps_them(
        self, backend: PersistenceBackend, make_backend: MakeBackend
    ) -> None:
        """``write_batch()`` is optional; a backend that offers it keeps this contract."""
        batch = getattr(backend, "write_batch", None)
        if batch is None:
            pytest.skip(f"{backend.name} has no write_batch()")
        scene = coverage_scene()
        with batch():
            assert backend.create_scene(PROJECT, EPISODE, scene) == 1
            assert backend.load_active(PROJECT, EPISODE, PASS_ID) == (scene, 1)
            scene.metadata = {"saved": "in the batch"}
            backend.save_scene(PROJECT, EPISODE, scene, expected_version=1)
            with pytest.raises(SceneVersionConflictError):
                backend.save_scene(PROJECT, EPISODE, scene, expected_version=2)
            assert backend.append_ledger(charge("t1", 0.5))
            assert not backend.append_ledger(charge("t1", 0.5))
        fresh = make_backend()
        assert fresh.load_active(PROJECT, EPISODE, PASS_ID) == (scene, 1)
        assert [e.amount_usd for e in fresh.read_ledger(PROJECT, EPISODE)] == [0.5]

    # ---------------------------------------------------------------- derivation and ledger

    def test_derivation_manifest_round_trips(self, backend: PersistenceBackend) -> None:
        assert backend.load_derivation(PROJECT, EPISODE) == {}
        manifest = {"grouping": {"inputs": "abc", "fresh": True}, "render": {"n": [1, 2.5, None]}}
        backend.save_derivation(PROJECT, EPISODE, manifest)
        assert backend.load_derivation(PROJECT, EPISODE) == manifest
        backend.save_derivation(PROJECT, EPISODE, {"grouping": {"fresh": False}})
        assert backend.load_derivation(PROJECT, EPISODE) == {"grouping": {"fresh": False}}
        assert backend.load_derivation(PROJECT, "ep_002") == {}

    def test_ledger_append_is_idempotent_by_entry_id_and_keeps_order(
        self, backend: PersistenceBackend
    ) -> None:
        first, second = charge("t1", 0.5), charge("t2", 0.25)
        assert backend.append_ledger(first) is True
        assert backend.append_ledger(second) is True
        assert backend.append_ledger(attrs.evolve(first, amount_usd=9.0)) is False
        assert backend.read_ledger(PROJECT, EPISODE) == [first, second]

    def test_ledger_idempotency_holds_for_a_new_backend_object(
        self, make_backend: MakeBackend
    ) -> None:
        one, two = make_backend(), make_backend()
        assert one.append_ledger(charge("t1", 0.5)) is True
        assert two.append_ledger(charge("t1", 0.5)) is False
        assert two.append_ledger(charge("t2", 0.5)) is True
        assert one.append_ledger(charge("t2", 0.5)) is False
        assert [e.take_id for e in make_backend().read_ledger(PROJECT, EPISODE)] == ["t1", "t2"]

    def test_ledger_reads_per_episode_or_whole_project(self, backend: PersistenceBackend) -> None:
        a1, b1, a2 = charge("a1", 1.0), charge("b1", 2.0, episode="ep_002"), charge("a2", 3.0)
        for entry in (a1, b1, a2):
            backend.append_ledger(entry)
        assert backend.read_ledger(PROJECT, EPISODE) == [a1, a2]
        assert backend.read_ledger(PROJECT, "ep_002") == [b1]
        assert backend.read_ledger(PROJECT) == [a1, a2, b1]
        assert backend.read_ledger(PROJECT, "ep_003") == []
        assert backend.read_ledger("other") == []

    # ---------------------------------------------------------------- discovery

    def test_lists_projects_episodes_and_scenes(self, backend: PersistenceBackend) -> None:
        assert backend.list_projects() == []
        backend.create_scene(PROJECT, EPISODE, coverage_scene("S2"))
        backend.create_scene(PROJECT, EPISODE, coverage_scene("S1"))
        backend.create_scene(PROJECT, "ep_002", coverage_scene("S3"))
        backend.create_scene("q", "ep_001", coverage_scene("S4"))
        assert backend.list_projects() == ["p", "q"]
        assert backend.list_episodes(PROJECT) == ["ep_001", "ep_002"]
        assert backend.list_episodes("missing") == []
        assert backend.list_scenes(PROJECT, EPISODE) == ["S1", "S2"]
        assert backend.list_scenes(PROJECT, "ep_009") == []

    def test_unknown_scene_reads_as_none(self, backend: PersistenceBackend) -> None:
        assert backend.load_manifest(PROJECT, EPISODE, "NOPE") is None
        assert backend.load_scene(PROJECT, EPISODE, "NOPE") is None
        assert backend.load_active(PROJECT, EPISODE, "NOPE") is None
        backend.create_scene(PROJECT, EPISODE, coverage_scene())
        assert backend.load_scene(PROJECT, EPISODE, PASS_ID, 5) is None

    def test_renders_dir_is_per_episode(self, backend: PersistenceBackend) -> None:
        first = backend.renders_dir(PROJECT, EPISODE)
        assert first == backend.renders_dir(PROJECT, EPISODE)
        assert first != backend.renders_dir(PROJECT, "ep_002")

    @pytest.mark.parametrize("bad", ["../x", "/abs", "a\x00b", "..", "", "a/b"])
    def test_unsafe_ids_are_refused(self, backend: PersistenceBackend, bad: str) -> None:
        with pytest.raises(InvalidIdError):
            backend.create_scene(bad, EPISODE, coverage_scene())
        with pytest.raises(InvalidIdError):
            backend.create_scene(PROJECT, bad, coverage_scene())
        with pytest.raises(InvalidIdError):
            backend.create_scene(PROJECT, EPISODE, attrs.evolve(coverage_scene(), scene_id=bad))
        with pytest.raises(InvalidIdError):
            backend.load_scene(PROJECT, EPISODE, bad)
        with pytest.raises(InvalidIdError):
            backend.append_ledger(attrs.evolve(charge("t1", 1.0), episode=bad))
        with pytest.raises(InvalidIdError):
            backend.lock_episode(bad, EPISODE)
        assert backend.list_projects() == []

    # ---------------------------------------------------------------- locking

    def test_episode_lock_excludes_another_backend_object(self, make_backend: MakeBackend) -> None:
        one, two = make_backend(), make_backend()
        with one.lock_episode(PROJECT, EPISODE):
            with pytest.raises(EpisodeLockedError), two.lock_episode(PROJECT, EPISODE):
                pass
            with two.lock_episode(PROJECT, "ep_002"):
                pass
        with two.lock_episode(PROJECT, EPISODE):
            pass

    # ---------------------------------------------------------------- review marks

    def test_marks_save_compare_and_set_by_revision(self, backend: PersistenceBackend) -> None:
        assert backend.load_marks(PROJECT, EPISODE) == {}
        first = {"selected_take": "B1_take_0", "by": "ana", "note": "ünïcode ok"}
        assert backend.save_mark(PROJECT, EPISODE, "S1", "B1", first, expected_revision=0) == 1
        assert backend.load_marks(PROJECT, EPISODE) == {("S1", "B1"): (1, first)}
        second = {**first, "verdict": "approved"}
        assert backend.save_mark(PROJECT, EPISODE, "S1", "B1", second, expected_revision=1) == 2
        stale = {**first, "verdict": "rejected"}
        assert backend.save_mark(PROJECT, EPISODE, "S1", "B1", stale, expected_revision=1) is None
        assert backend.save_mark(PROJECT, EPISODE, "S1", "B1", stale, expected_revision=0) is None
        assert backend.load_marks(PROJECT, EPISODE) == {("S1", "B1"): (2, second)}

    def test_marks_are_per_beat_and_episode_and_shared_by_backend_objects(
        self, make_backend: MakeBackend
    ) -> None:
        one, two = make_backend(), make_backend()
        assert one.save_mark(PROJECT, EPISODE, "S1", "B1", {"n": 1}, expected_revision=0) == 1
        assert two.save_mark(PROJECT, EPISODE, "S1", "B2", {"n": 2}, expected_revision=0) == 1
        assert two.save_mark(PROJECT, EPISODE, "S2", "B1", {"n": 3}, expected_revision=0) == 1
        assert two.save_mark(PROJECT, "ep_002", "S1", "B1", {"n": 4}, expected_revision=0) == 1
        assert one.save_mark(PROJECT, EPISODE, "S1", "B1", {"n": 5}, expected_revision=0) is None
        assert make_backend().load_marks(PROJECT, EPISODE) == {
            ("S1", "B1"): (1, {"n": 1}),
            ("S1", "B2"): (1, {"n": 2}),
            ("S2", "B1"): (1, {"n": 3}),
        }
        assert one.load_marks(PROJECT, "ep_002") == {("S1", "B1"): (1, {"n": 4})}

    def test_marks_never_touch_scenes_or_the_ledger(self, backend: PersistenceBackend) -> None:
        scene = coverage_scene()
        backend.create_scene(PROJECT, EPISODE, scene)
        entry = charge("t1", 0.5)
        backend.append_ledger(entry)
        beat_id = scene.beats[0].beat_id
        mark = {"selected_take": scene.beats[0].takes[0].take_id}
        backend.save_mark(PROJECT, EPISODE, PASS_ID, beat_id, mark, expected_revision=0)
        assert backend.load_active(PROJECT, EPISODE, PASS_ID) == (scene, 1)
        assert backend.read_ledger(PROJECT, EPISODE) == [entry]
        manifest = backend.load_manifest(PROJECT, EPISODE, PASS_ID)
        assert manifest is not None and [e.version for e in manifest.versions] == [1]

    def test_marks_are_saved_while_another_object_holds_the_episode_lock(
        self, make_backend: MakeBackend
    ) -> None:
        runner_side, reviewer_side = make_backend(), make_backend()
        with runner_side.lock_episode(PROJECT, EPISODE):
            saved = reviewer_side.save_mark(
                PROJECT, EPISODE, "S1", "B1", {"n": 1}, expected_revision=0
            )
            assert saved == 1
            assert runner_side.load_marks(PROJECT, EPISODE) == {("S1", "B1"): (1, {"n": 1})}

    def test_marks_refuse_unsafe_ids(self, backend: PersistenceBackend) -> None:
        for project, episode, scene_id in (
            ("../x", EPISODE, "S1"),
            (PROJECT, "a/b", "S1"),
            (PROJECT, EPISODE, "../S1"),
        ):
            with pytest.raises(InvalidIdError):
                backend.save_mark(project, episode, scene_id, "B1", {}, expected_revision=0)
        with pytest.raises(InvalidIdError):
            backend.load_marks("..", EPISODE)

    def test_selection_marks_a_take_with_who_and_when_through_the_backend(
        self, make_backend: MakeBackend
    ) -> None:
        from recoil_core.selection import Verdict, approve, load_marks, request_retake, select_take

        backend = make_backend()
        scene = coverage_scene()
        backend.create_scene(PROJECT, EPISODE, scene)
        beat_id, take_id = scene.beats[0].beat_id, scene.beats[0].takes[0].take_id
        select_take(backend, PROJECT, EPISODE, PASS_ID, beat_id, take_id, by="ana")
        approve(backend, PROJECT, EPISODE, PASS_ID, beat_id, by="ben", note="good")
        request_retake(backend, PROJECT, EPISODE, PASS_ID, beat_id, by="ana")
        mark = load_marks(make_backend(), PROJECT, EPISODE)[(PASS_ID, beat_id)]
        assert (mark.selected_take, mark.verdict, mark.note) == (take_id, Verdict.APPROVED, "good")
        assert mark.retakes_requested == 1
        assert [(e.action, e.by) for e in mark.history] == [
            ("select", "ana"),
            ("approve", "ben"),
            ("retake", "ana"),
        ]
        assert (mark.by, mark.at) == ("ana", mark.history[-1].at)
        assert backend.load_active(PROJECT, EPISODE, PASS_ID) == (scene, 1)
