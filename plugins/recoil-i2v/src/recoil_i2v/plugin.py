"""Entry point module of recoil-i2v: the hook implementations Recoil loads."""

from __future__ import annotations

from recoil_core import hookimpl
from recoil_core.interfaces import ModalityRunner


@hookimpl
def recoil_modality_runners() -> list[ModalityRunner]:
    from recoil_i2v.runner import VideoI2VRunner

    return [VideoI2VRunner()]
