"""Entry point module of recoil-i2v: the hook implementations Recoil loads.

Registrations are lazy: the implementation modules are imported on first use, so
``recoil plugins list`` and ``recoil --help`` stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recoil_core.api import LazyRunner, hookimpl

if TYPE_CHECKING:  # the protocol is for type checkers; the kernel checks at registration
    from recoil_core.api import ModalityRunner


@hookimpl
def recoil_modality_runners() -> list[ModalityRunner]:
    return [
        LazyRunner(
            "video_i2v",
            "image to video from the shot's first frame (keyframe if none)",
            "recoil_i2v.runner:VideoI2VRunner",
        ),
    ]
