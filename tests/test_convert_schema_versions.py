"""Versioned documents: a newer schema is a clear error, an older one is migrated."""

from __future__ import annotations

import pytest

from recoil_core.convert import MIGRATIONS, dump_document, load_document
from recoil_core.errors import CorruptDocumentError, SchemaVersionError
from recoil_core.model import SCHEMA_VERSION, Beat, GroupIdentity, Scene


def _scene() -> Scene:
    return Scene("S1", beats=[Beat("B1", grouping=GroupIdentity("solo", 0, ["EP001_SH01"]))])


def test_documents_round_trip_with_kind_and_schema_version():
    document = dump_document("scene", _scene())
    assert document["schema_version"] == SCHEMA_VERSION and document["document"] == "scene"
    assert load_document("scene", document, Scene, source="x.json") == _scene()


def test_newer_schema_version_names_the_file_and_says_to_upgrade():
    document = dump_document("scene", _scene()) | {"schema_version": SCHEMA_VERSION + 1}
    with pytest.raises(SchemaVersionError, match=r"v0001\.json.*upgrade recoil-core"):
        load_document("scene", document, Scene, source="scenes/S1/v0001.json")


@pytest.mark.parametrize("version", [None, "1", True, 1.5])
def test_missing_or_invalid_schema_version_is_a_corrupt_document(version):
    document = dump_document("scene", _scene()) | {"schema_version": version}
    with pytest.raises(CorruptDocumentError, match="schema_version"):
        load_document("scene", document, Scene, source="x.json")


def test_wrong_shape_is_a_corrupt_document_naming_the_field():
    document = dump_document("scene", _scene())
    document["beats"] = [{"beat_id": 7, "max_takes": "many"}]
    with pytest.raises(CorruptDocumentError) as info:
        load_document("scene", document, Scene, source="x.json")
    assert "x.json" in str(info.value) and "max_takes" in str(info.value)


@pytest.fixture
def older_scene_migration():
    """A migration from a hypothetical v0 scene layout that called beats 'units'."""

    def migrate(data: dict) -> dict:
        data["beats"] = data.pop("units")
        data["schema_version"] = 1
        return data

    MIGRATIONS[("scene", 0)] = migrate
    yield
    del MIGRATIONS[("scene", 0)]


def test_older_schema_version_is_migrated_step_by_step(older_scene_migration):
    document = dump_document("scene", _scene())
    document["units"] = document.pop("beats")
    document["schema_version"] = 0
    assert load_document("scene", document, Scene, source="x.json") == _scene()


def test_older_schema_version_without_a_migration_is_a_clear_error():
    document = dump_document("scene", _scene()) | {"schema_version": 0}
    with pytest.raises(SchemaVersionError, match="no migration for scene"):
        load_document("scene", document, Scene, source="x.json")


def test_a_v1_scene_is_migrated_with_a_stable_take_uid_and_its_seeds_kept() -> None:
    from recoil_core.model import Take, Workflow, WorkflowStep

    scene = _scene()
    step = WorkflowStep("video", "r2v_multi", seed=1234, job_id=None, state="submitting")
    scene.beats[0].takes.append(Take("B1_take_0", 0, Workflow("wf", [step])))
    document = dump_document("scene", scene)
    document["schema_version"] = 1
    for beat in document["beats"]:
        for take in beat["takes"]:
            for name in ("uid", "version"):
                take.pop(name)
            for old_step in take["workflow"]["steps"]:
                old_step.pop("request_key")
                old_step.pop("lookup_missed_at")

    once = load_document("scene", dict(document), Scene, source="x.json")
    twice = load_document("scene", dict(document), Scene, source="x.json")
    take = once.beats[0].takes[0]
    assert take.uid.startswith("tk_") and take.uid == twice.beats[0].takes[0].uid
    assert (take.version, take.workflow.steps[0].seed) == (1, 1234)
    assert take.workflow.steps[0].request_key is None
