"""Assets: the characters and locations a plan declares, with the references that fix
their look (studio-supplied images, or an approved reference sheet). All frozen."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from recoil_core.model.base import as_tuple

ASSET_SCENE_PREFIX = "asset_"
"""Scene ids starting with this hold an asset's reference-sheet takes (``asset_MAYA``)."""


class AssetKind(enum.StrEnum):
    CHARACTER = "character"
    LOCATION = "location"


@attrs.frozen
class ApprovedReference:
    """The reference sheet a studio approved for an asset: which take of which version
    of the asset's scene, and the render file it landed as."""

    take_id: str
    version: int
    path: str


@attrs.frozen
class Asset:
    """A character or a location of the plan (docs/plan-format.md, "Assets")."""

    asset_id: str
    kind: AssetKind
    name: str = ""
    description: str = ""
    look: str = ""
    """How the asset looks, said in every prompt of a shot it is in."""
    reference_images: tuple[str, ...] = attrs.field(default=(), converter=as_tuple)
    """Studio-supplied references (absolute paths or URLs); none: render a sheet."""
    supplied_by: str | None = None
    """The plugin whose ``recoil_asset_references`` supplied ``reference_images`` (a
    studio's asset library); None: they come from the plan."""
    approved: ApprovedReference | None = None
    """The approved reference sheet, once bound from the asset bible."""

    @property
    def scene_id(self) -> str:
        """The scene persisting this asset's reference-sheet takes."""
        return f"{ASSET_SCENE_PREFIX}{self.asset_id}"

    @property
    def label(self) -> str:
        return self.name or self.asset_id

    @property
    def studio_supplied(self) -> bool:
        return bool(self.reference_images)

    @property
    def references(self) -> tuple[str, ...]:
        """What a clip is generated from: the approved sheet, else the studio's images."""
        if self.approved is not None:
            return (self.approved.path,)
        return self.reference_images

    @property
    def has_reference(self) -> bool:
        return bool(self.references)

    def fingerprint(self) -> dict[str, Any]:
        """What of the asset changes a render using it (its derivation part): the look,
        the studio references and the approved take and version."""
        approved = self.approved
        return {
            "asset": self.asset_id,
            "look": self.look,
            "reference_images": list(self.reference_images),
            "approved": None if approved is None else [approved.take_id, approved.version],
        }

    def used(self) -> dict[str, Any]:
        """How a sidecar names the asset a render used."""
        approved = self.approved
        used: dict[str, Any] = {
            "asset_id": self.asset_id,
            "kind": self.kind.value,
            "take_id": approved.take_id if approved else None,
            "version": approved.version if approved else None,
            "references": list(self.references),
        }
        if self.supplied_by is not None:
            used["supplied_by"] = self.supplied_by
        return used

    def shapes_render(self) -> bool:
        """Whether the asset changes a clip at all (a look or a reference to send)."""
        return bool(self.look or self.reference_images or self.approved)


def assets_by_id(assets: Iterable[Asset]) -> dict[str, Asset]:
    return {asset.asset_id: asset for asset in assets}


def bind_approved(
    assets: Iterable[Asset], approved: Mapping[str, ApprovedReference]
) -> tuple[Asset, ...]:
    """``assets`` with their approved references set from ``approved`` (by asset id)."""
    return tuple(
        attrs.evolve(asset, approved=approved.get(asset.asset_id))
        if not asset.studio_supplied
        else asset
        for asset in assets
    )
