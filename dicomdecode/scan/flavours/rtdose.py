"""RT Dose: a multi-frame dose grid whose frames are placed by Grid Frame Offset Vector.

Frame k lies (offset_k - offset_0) mm along the slice normal from the first frame
(PS3.3 C.8.8.3.2; the relative and absolute forms agree on this). The scale to Gy is
Dose Grid Scaling, which the classic fields already take as the slope.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dicomdecode import geometry
from dicomdecode.scan.flavours.base import Header
from dicomdecode.scan.values import floats
from dicomdecode.series import ImageRef


def recognise(header: Header) -> tuple[float, ...] | None:
    """The frame offsets of a multi-frame dose grid with geometry, else None."""
    if header.n_frames <= 1:
        return None
    offsets = floats(header.ds.get("GridFrameOffsetVector", None), header.n_frames)
    if offsets is None or header.position is None or header.orientation is None:
        return None
    return offsets


def images(header: Header, offsets: tuple[float, ...]) -> list[ImageRef]:
    """One ImageRef per frame, each at its own position along the normal."""
    normal = geometry.slice_normal(header.orientation or ())
    origin: Any = np.asarray(header.position)
    refs = []
    for i, off in enumerate(offsets):
        x, y, z = (float(v) for v in origin + (off - offsets[0]) * normal)
        refs.append(ImageRef(**header.classic, frame=i, position=(x, y, z)))
    return refs
