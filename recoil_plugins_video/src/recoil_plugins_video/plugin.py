"""Entry point module of recoil-plugins-video: the hook implementations Recoil loads."""

from __future__ import annotations

from recoil_core import hookimpl
from recoil_core.interfaces import ModalityRunner


@hookimpl
def recoil_modality_runners() -> list[ModalityRunner]:
    from recoil_plugins_video.image_t2i import ImageT2IRunner

    return [ImageT2IRunner()]
