"""Entry point module of recoil-plugins-video: the hook implementations Recoil loads.

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
            "image_t2i",
            "keyframe images (text to image), one per shot of the beat",
            "recoil_plugins_video.image_t2i:ImageT2IRunner",
        ),
    ]
