"""Classic images: one frame per file, or a classic multi-frame file (US cine, NM, XA)
whose frames share one geometry."""

from __future__ import annotations

from dicomdecode.scan.flavours.base import Header
from dicomdecode.series import ImageRef, image_ref


def images(header: Header) -> list[ImageRef]:
    """One ImageRef per frame, all at the stored position."""
    position = header.position
    fields = header.classic
    return [image_ref({**fields, "frame": i, "position": position})
            for i in range(header.n_frames)]
