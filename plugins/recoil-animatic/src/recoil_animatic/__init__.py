"""Recoil provider: offline animatic previs clips, the default.

The ``animatic`` provider serves ``image_t2i``, ``video_i2v``, ``r2v_multi`` and
``video_t2v`` for any model, with no key and no network, at no cost:

- video steps become an H.264 MP4 (libx264, 12 fps, silent) of title cards, one per
  payload segment and shown for its ``duration_s``: shot id, shot type, location, cast,
  a prompt excerpt, a progress bar and the running time. A ``first_frame`` input (the
  keyframe) is the softened, darkened backdrop.
- ``image_t2i`` steps become a PNG keyframe card.

Frames keep the payload's aspect ratio but are rendered small: the short side is at most
360 px (16:9 720p renders 640x360). ``JobStatus.metadata`` records both
``nominal_size`` (what the payload asked for, e.g. 1280x720) and ``rendered_size``.

Output is deterministic: the same request gives byte-identical files (single-threaded
x264, bit-exact codec and muxer flags). Media and a small job file live in
``$RECOIL_ANIMATIC_CACHE`` (default ``~/.cache/recoil-animatic``), keyed by a job id derived
from the request, so a later process can find, poll and download what an earlier one
submitted, and re-render it if the media was lost. At the end of a run the cache drops
the least recently used clips beyond ``$RECOIL_ANIMATIC_CACHE_MB`` (default 1024 MiB;
``0`` keeps everything); job files stay, so a dropped clip is rendered again on demand.
"""
