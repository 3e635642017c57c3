"""The asset bible: a reference sheet per character and location, approved once and bound
into the plan every clip is built from.

Each asset without studio-supplied references is a scene of its own (``asset_<ID>``, one
``image_t2i`` beat) run by the normal episode runner, so its takes obey every money rule
(reservation, ``submitting`` before the paid call, ledger, resume, never paid twice). The
approved take is recorded in that scene's metadata. Writes happen under the episode lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from recoil_core.contracts.grouping import GroupingContext
from recoil_core.errors import (
    PlanError,
    PlanIssue,
    PluginCodeError,
    PreflightError,
    RecoilError,
)
from recoil_core.model import (
    ApprovedReference,
    Asset,
    AssetKind,
    CanonicalPlan,
    CanonicalShot,
    Group,
    GroupIdentity,
    RenderUnit,
    Scene,
    Segment,
    TakeState,
)
from recoil_core.model.assets import bind_approved
from recoil_core.persistence.protocol import PersistenceBackend
from recoil_core.plugin_code import guarded
from recoil_core.runner.episode import EpisodeRunner, Progress
from recoil_core.runner.options import DEFAULT_PROVIDER, RunOptions
from recoil_core.runner.planning import derive_scenes
from recoil_core.runner.workflows import image_provider_for

if TYPE_CHECKING:
    from recoil_core.registry import Registry

ASSET_STRATEGY = "asset-bible"
"""The grouping an asset scene is made by (one sheet per asset)."""
SHEET_MODALITY = "image_t2i"
SHEET_SHOT_TYPE = "SHEET"
APPROVED_KEY = "approved"
"""Where an asset scene's metadata records the approved take."""


class AssetError(RecoilError):
    """An asset command that cannot go ahead (unknown asset, no take to approve...)."""

    exit_code = 1


# --------------------------------------------------------------------------- the plan side


def used_assets(plan: CanonicalPlan) -> list[Asset]:
    """The declared assets some shot of the plan uses (its characters and locations)."""
    used = {c for shot in plan.shots for c in shot.characters}
    used |= {shot.location_id for shot in plan.shots}
    return [asset for asset in plan.assets if asset.asset_id in used]


def select_assets(plan: CanonicalPlan, asset_ids: Sequence[str] = ()) -> list[Asset]:
    """The plan's assets named by ``asset_ids`` (all when empty); an unknown id is a
    :class:`PlanError` naming the declared ones."""
    if not asset_ids:
        return list(plan.assets)
    known = [asset.asset_id for asset in plan.assets]
    missing = [a for a in dict.fromkeys(asset_ids) if plan.asset(a) is None]
    if missing:
        raise PlanError(
            plan.source_path or "plan",
            [
                PlanIssue(
                    "--asset",
                    f"no character or location {a!r}; declared: {', '.join(known) or 'none'}",
                )
                for a in missing
            ],
        )
    return [asset for asset in plan.assets if asset.asset_id in asset_ids]


def sheet_prompt(asset: Asset) -> str:
    """What the reference sheet shows: the asset's name and look (or description)."""
    look = asset.look or asset.description
    if asset.kind is AssetKind.CHARACTER:
        text = f"Character reference sheet of {asset.label}"
        tail = "front, three-quarter and side views, full body, neutral background"
    else:
        text = f"Location reference of {asset.label}"
        tail = "establishing view, no people"
    return f"{text}: {look}. {tail}." if look else f"{text}. {tail}."


def sheet_plan(plan: CanonicalPlan, assets: Iterable[Asset]) -> CanonicalPlan:
    """A plan whose shots are the assets' reference sheets (shot id = asset scene id)."""
    shots = [
        CanonicalShot(
            shot_id=asset.scene_id,
            sequence_id=asset.scene_id,
            scene_index=1,
            location_id=asset.scene_id,
            duration_s=1.0,
            prompt=sheet_prompt(asset),
            shot_type=SHEET_SHOT_TYPE,
            previs_model=plan.defaults.get("previs_model"),
            aspect_ratio=str(plan.defaults.get("aspect_ratio") or "16:9"),
            resolution=str(plan.defaults.get("resolution") or "720p"),
            order=order,
        )
        for order, asset in enumerate(assets)
    ]
    return CanonicalPlan(
        project=plan.project,
        episode_id=plan.episode_id,
        shots=shots,
        sequence_ids=[shot.shot_id for shot in shots],
        defaults=plan.defaults,
        source_path=plan.source_path,
    )


class SheetStrategy:
    """One scene per asset sheet: a single ``image_t2i`` beat named after the scene."""

    name = ASSET_STRATEGY
    description = "one reference sheet per asset (recoil assets render)"

    def assemble(self, shots: Sequence[CanonicalShot], ctx: GroupingContext) -> list[Group]:
        groups = []
        for shot in shots:
            identity = GroupIdentity("solo", 0, (shot.shot_id,))
            unit = RenderUnit(
                unit_id=shot.shot_id,
                identity=identity,
                modality=SHEET_MODALITY,
                segments=(Segment(shot.shot_id, shot.duration_s, shot.prompt, shot.shot_type),),
            )
            groups.append(Group(scene_id=shot.shot_id, identity=identity, units=(unit,)))
        return groups


# --------------------------------------------------------------------------- plugin references

REFERENCES_HOOK = "recoil_asset_references"


def supply_references(plan: CanonicalPlan, registry: Registry | None) -> CanonicalPlan:
    """``plan`` with the references plugins supply (``recoil_asset_references``) set as the
    ``reference_images`` of each asset the plan gives none, ``supplied_by`` naming the
    plugin: the first answer other than ``None`` (or an empty list), in pluggy's order."""
    if registry is None or not plan.assets:
        return plan
    hook = getattr(registry.host.pm.hook, REFERENCES_HOOK, None)
    impls = list(reversed(hook.get_hookimpls())) if hook is not None else []
    if not impls:
        return plan
    assets = []
    for asset in plan.assets:
        if not asset.studio_supplied:
            for impl in impls:
                kwargs = {"asset": asset, "plan": plan}
                what = f"{REFERENCES_HOOK} for asset {asset.asset_id!r}"
                origin = f"plugin {impl.plugin_name!r}"
                with guarded(what, origin):
                    found = impl.function(*[kwargs[name] for name in impl.argnames])
                if found is None:
                    continue
                references = _checked_references(found, what, origin)
                if references:
                    asset = attrs.evolve(
                        asset, reference_images=references, supplied_by=impl.plugin_name
                    )
                    break
        assets.append(asset)
    return attrs.evolve(plan, assets=tuple(assets))


def _checked_references(found: object, what: str, origin: str) -> tuple[str, ...]:
    if not isinstance(found, (list, tuple)) or not all(isinstance(r, str) for r in found):
        raise PluginCodeError(
            what, origin, f"returned {type(found).__name__}, not a list of str or None"
        )
    for reference in found:
        if reference.startswith(("http://", "https://")):
            continue
        path = Path(reference)
        if not path.is_absolute() or not path.is_file():
            raise PluginCodeError(
                what,
                origin,
                f"returned {reference!r}, neither an existing absolute file nor an http(s) URL",
            )
    return tuple(found)


# --------------------------------------------------------------------------- rendering


class AssetSheetRunner(EpisodeRunner):
    """The episode runner over a :func:`sheet_plan`: its scenes are the asset scenes, and
    it leaves the episode's derivation record (the plan's scenes) alone."""

    def derive(self) -> list[Scene]:
        return derive_scenes(self.plan, SheetStrategy(), max_takes=self.options.max_takes)

    def _stamp_derivation(self, scenes: Sequence[Scene]) -> None:
        return None


def sheet_runner(
    plan: CanonicalPlan,
    *,
    registry: Registry,
    backend: PersistenceBackend,
    options: RunOptions,
    asset_ids: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    renders_root: Path | None = None,
    progress: Progress | None = None,
) -> AssetSheetRunner:
    """The runner rendering a sheet for each selected asset without studio references,
    through the image provider (``options.image_provider``, else the provider if it serves
    ``image_t2i``); raises :class:`PreflightError` when there is none. Assets a plugin
    supplies references for (:func:`supply_references`) are studio-supplied too."""
    plan = supply_references(plan, registry)
    chosen = select_assets(plan, asset_ids)
    supplied = [a for a in chosen if a.studio_supplied]
    if asset_ids and supplied:
        raise AssetError(
            "; ".join(f"{a.asset_id}: {_supplier(a)} supplies its references" for a in supplied)
            + "; nothing to render (a sheet is rendered only for an asset without them)"
        )
    provider = options.provider or DEFAULT_PROVIDER
    image = image_provider_for(registry, provider, options.image_provider)
    if image is None:
        raise PreflightError(
            f"provider {provider} does not make images and no --image-provider was given; "
            "nothing was reserved. Name a provider that serves image_t2i (e.g. animatic)"
        )
    sheets = attrs.evolve(
        options,
        provider=image,
        image_provider=image,
        strategy=ASSET_STRATEGY,
        selected_pass_ids=(),
        strategy_options={},
    )
    return AssetSheetRunner(
        sheet_plan(plan, [a for a in chosen if not a.studio_supplied]),
        registry=registry,
        backend=backend,
        options=sheets,
        env=env,
        renders_root=renders_root,
        progress=progress,
    )


# --------------------------------------------------------------------------- approval


@attrs.frozen
class AssetTake:
    take_id: str
    version: int
    state: str
    cost_usd: float
    render_path: str | None


@attrs.frozen
class AssetEntry:
    """One asset as ``recoil assets list`` shows it."""

    asset: Asset
    takes: tuple[AssetTake, ...] = ()
    approved: ApprovedReference | None = None
    scene_version: int | None = None

    @property
    def cost_usd(self) -> float:
        return sum(take.cost_usd for take in self.takes)

    @property
    def status(self) -> str:
        if self.asset.studio_supplied:
            return "studio"
        if self.approved is not None:
            return "approved"
        return "rendered" if any(t.render_path for t in self.takes) else "not rendered"

    def to_dict(self) -> dict[str, Any]:
        asset = self.asset
        return {
            "asset_id": asset.asset_id,
            "kind": asset.kind.value,
            "name": asset.label,
            "look": asset.look,
            "status": self.status,
            "reference_images": list(asset.reference_images),
            "supplied_by": asset.supplied_by,
            "scene_id": asset.scene_id,
            "scene_version": self.scene_version,
            "takes": [attrs.asdict(take) for take in self.takes],
            "approved": attrs.asdict(self.approved) if self.approved else None,
            "cost_usd": round(self.cost_usd, 6),
        }


def _supplier(asset: Asset) -> str:
    if asset.supplied_by is not None:
        return f"plugin {asset.supplied_by!r} (recoil_asset_references)"
    return "the plan (reference_images)"


def _approved_of(scene: Scene) -> ApprovedReference | None:
    found = scene.metadata.get(APPROVED_KEY)
    if not isinstance(found, Mapping):
        return None
    return ApprovedReference(str(found["take_id"]), int(found["version"]), str(found["path"]))


def list_assets(
    plan: CanonicalPlan, backend: PersistenceBackend, registry: Registry | None = None
) -> list[AssetEntry]:
    """Every asset of the plan with the takes of its active sheet scene; reads only (the
    references plugins supply are asked for when ``registry`` is given)."""
    plan = supply_references(plan, registry)
    entries = []
    for asset in plan.assets:
        found = backend.load_active(plan.project, plan.episode_id, asset.scene_id)
        if found is None:
            entries.append(AssetEntry(asset))
            continue
        scene, version = found
        takes = tuple(
            AssetTake(t.take_id, t.version, t.state.value, t.cost_usd, t.render_path)
            for beat in scene.beats
            for t in beat.takes
        )
        entries.append(AssetEntry(asset, takes, _approved_of(scene), version))
    return entries


def approved_references(
    plan: CanonicalPlan, backend: PersistenceBackend
) -> dict[str, ApprovedReference]:
    """The approved reference of each asset whose active sheet scene records one."""
    out = {}
    for asset in plan.assets:
        if asset.studio_supplied:
            continue
        found = backend.load_active(plan.project, plan.episode_id, asset.scene_id)
        approved = _approved_of(found[0]) if found is not None else None
        if approved is not None:
            out[asset.asset_id] = approved
    return out


def bind_assets(
    plan: CanonicalPlan, backend: PersistenceBackend, registry: Registry | None = None
) -> CanonicalPlan:
    """``plan`` with each asset's approved reference bound (what clips are built from); with
    ``registry``, the references plugins supply first (:func:`supply_references`)."""
    if not plan.assets:
        return plan
    plan = supply_references(plan, registry)
    return attrs.evolve(plan, assets=bind_approved(plan.assets, approved_references(plan, backend)))


def missing_approvals(plan: CanonicalPlan) -> list[Asset]:
    """The assets some shot uses that have no reference yet (neither studio-supplied nor
    approved); ``plan`` as :func:`bind_assets` returns it."""
    return [asset for asset in used_assets(plan) if not asset.has_reference]


def require_approved(plan: CanonicalPlan) -> None:
    """Raise :class:`PreflightError` (nothing reserved) while a needed asset has no
    approved reference."""
    missing = missing_approvals(plan)
    if missing:
        names = ", ".join(a.asset_id for a in missing)
        raise PreflightError(
            "preflight refused the run; nothing was reserved or submitted:\n"
            f"  - asset(s) without an approved reference: {names}; run "
            "`recoil assets render PLAN` then `recoil assets approve PLAN ID`"
        )


def approve(
    plan: CanonicalPlan,
    backend: PersistenceBackend,
    asset_id: str,
    *,
    take: int | None = None,
    registry: Registry | None = None,
) -> ApprovedReference:
    """Record take ``take`` (the N of ``asset_<ID>_take_N``; default: the newest that
    succeeded) of the asset's active sheet scene as its approved reference."""
    asset = select_assets(supply_references(plan, registry), [asset_id])[0]
    if asset.studio_supplied:
        raise AssetError(
            f"{asset_id}: {_supplier(asset)} supplies its references; they are used as given"
        )
    with backend.lock_episode(plan.project, plan.episode_id, timeout_s=0.0):
        found = backend.load_active(plan.project, plan.episode_id, asset.scene_id)
        if found is None:
            raise AssetError(f"{asset_id}: no reference sheet yet; run `recoil assets render`")
        scene, version = found
        rendered = [
            t
            for b in scene.beats
            for t in b.takes
            if t.state is TakeState.SUCCEEDED and t.render_path
        ]
        if take is not None:
            rendered = [t for t in rendered if t.index == take]
        if not rendered:
            which = f"take {take}" if take is not None else "a succeeded take"
            raise AssetError(
                f"{asset_id}: {which} of v{version} has no render; "
                "`recoil assets list` shows its takes"
            )
        chosen = rendered[-1]
        approved = ApprovedReference(chosen.take_id, chosen.version, str(chosen.render_path))
        scene.metadata[APPROVED_KEY] = attrs.asdict(approved)
        backend.save_scene(plan.project, plan.episode_id, scene, expected_version=version)
    return approved


__all__ = [
    "ASSET_STRATEGY",
    "AssetEntry",
    "AssetError",
    "AssetSheetRunner",
    "SheetStrategy",
    "approve",
    "approved_references",
    "bind_assets",
    "list_assets",
    "missing_approvals",
    "require_approved",
    "sheet_plan",
    "sheet_runner",
    "supply_references",
    "used_assets",
]
