"""Entry point module of recoil-r2v-multi: the hook implementations Recoil loads."""

from __future__ import annotations

from recoil_core import hookimpl
from recoil_core.interfaces import ModalityRunner


@hookimpl
def recoil_modality_runners() -> list[ModalityRunner]:
    from recoil_r2v_multi.runner import R2VMultiRunner

    return [R2VMultiRunner()]
