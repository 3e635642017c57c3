"""Reconciliation: a freshly derived scene against what is persisted.

Reuse the active version when it derives from the same inputs; create the scene when it is
new; replace an active version that has no takes yet; otherwise stage a candidate version
and leave the active one (and its paid takes) untouched until the user conforms.
"""

from __future__ import annotations

import enum
from collections.abc import Container

import attrs

from recoil_core.model import Scene
from recoil_core.persistence.protocol import PersistenceBackend


class Action(enum.StrEnum):
    CREATED = "created"
    REUSED = "reused"
    REPLACED = "replaced"
    CANDIDATE_STAGED = "candidate_staged"
    CANDIDATE_EXISTS = "candidate_exists"


@attrs.define
class Reconciled:
    """The scene to run, its active version (None in a dry run of a new scene), and why."""

    scene: Scene
    version: int | None
    action: Action
    candidate_version: int | None = None

    @property
    def dispatch_new_takes(self) -> bool:
        """Candidates wait for ``rederive --conform``: only in-flight takes are resumed."""
        return self.action not in (Action.CANDIDATE_STAGED, Action.CANDIDATE_EXISTS)

    def notice(self) -> str | None:
        scene_id = self.scene.scene_id
        if self.action is Action.CANDIDATE_STAGED:
            return (
                f"scene {scene_id}: inputs changed; appended candidate version "
                f"v{self.candidate_version} (not_derived); active remains v{self.version}; "
                f"nothing dispatched for it. Review, then run "
                f"`recoil rederive --conform {scene_id}` to make it active."
            )
        if self.action is Action.CANDIDATE_EXISTS:
            return (
                f"scene {scene_id}: candidate already exists as v{self.candidate_version} "
                f"(not_derived); active remains v{self.version}. Run "
                f"`recoil rederive --conform {scene_id}` to make it active."
            )
        return None


def _has_takes(scene: Scene) -> bool:
    return any(beat.takes for beat in scene.beats)


def reconcile(
    backend: PersistenceBackend,
    project: str,
    episode: str,
    derived: Scene,
    *,
    max_takes: int,
    dry_run: bool = False,
    create: bool = True,
    stored: Container[str] | None = None,
) -> Reconciled:
    """Decide what to run for ``derived`` and persist that decision (unless ``dry_run``).

    With ``create=False`` a new scene is not written here: the caller creates it (version
    1) with its first take, or at the end of the run, whichever comes first. ``stored``:
    the scene ids the backend listed (under the episode lock); a scene not among them is
    new without a lookup.
    """
    if stored is not None and derived.scene_id not in stored:
        found = None
    else:
        found = backend.load_active(project, episode, derived.scene_id)
    if found is None:
        write = create and not dry_run
        version = backend.create_scene(project, episode, derived) if write else None
        return Reconciled(derived, version, Action.CREATED)

    active, version = found
    if active.derivation_digest == derived.derivation_digest:
        changed = [b for b in active.beats if b.max_takes != max_takes]
        for beat in changed:
            beat.max_takes = max_takes
        if changed and not dry_run:
            backend.save_scene(project, episode, active, expected_version=version)
        return Reconciled(active, version, Action.REUSED)

    if not _has_takes(active):
        if dry_run:
            return Reconciled(derived, version, Action.REPLACED)
        staged = backend.stage_candidate(
            project, episode, derived, note="replaces an unrendered version"
        )
        backend.conform(project, episode, derived.scene_id, staged)
        return Reconciled(derived, staged, Action.REPLACED)

    manifest = backend.load_manifest(project, episode, derived.scene_id)
    for entry in manifest.candidates() if manifest is not None else []:
        candidate = backend.load_scene(project, episode, derived.scene_id, entry.version)
        if candidate is not None and candidate.derivation_digest == derived.derivation_digest:
            return Reconciled(active, version, Action.CANDIDATE_EXISTS, entry.version)
    if dry_run:
        return Reconciled(active, version, Action.CANDIDATE_STAGED, None)
    staged = backend.stage_candidate(project, episode, derived, note="inputs changed")
    return Reconciled(active, version, Action.CANDIDATE_STAGED, staged)
