"""recoil-otio: an episode's cut (``recoil_core.selection.Cut.to_dict()``) as an
OpenTimelineIO timeline, written as ``.otio``, CMX 3600 EDL or FCPXML.

The kernel's ``recoil export`` command computes the cut and calls :func:`write_cut`; this
package never reads the backend itself.
"""

from __future__ import annotations

from recoil_otio.timeline import DEFAULT_RATE, FORMATS, build_timeline, write_cut

__all__ = ["DEFAULT_RATE", "FORMATS", "build_timeline", "write_cut"]
