"""UIH 'VFRAME' images: a mosaic-like grid of tiles with per-tile positions.

The tile count is (0065,xx50), the tile matrix "rows*columns" (0065,xx04) and the per-tile
Image Position (Patient) the items of (0065,xx51), in the block reserved by the private
creator "Image Private Header" (usually xx = 10).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dicomdecode.read.private import private_tag
from dicomdecode.scan.flavours import mosaic
from dicomdecode.scan.flavours.mosaic import MosaicInfo
from dicomdecode.scan.values import floats

GROUP = 0x0065
CREATOR = "Image Private Header"
TILE_MATRIX = 0x04  # SH "64*64"
NUMBER_OF_TILES = 0x50  # DS
TILE_SEQUENCE = 0x51  # SQ, one item per tile with its Image Position (Patient)


def vframe_info(ds: Any) -> MosaicInfo | None:
    """MosaicInfo of a UIH VFRAME image, or None when it is not such an image."""
    if "VFRAME" not in mosaic.image_type(ds):
        return None
    count_tag = private_tag(ds, GROUP, CREATOR, NUMBER_OF_TILES)
    if count_tag is None:
        return None
    try:
        n = int(float(ds[count_tag].value))
    except (KeyError, ValueError, TypeError):
        return None
    matrix_tag = private_tag(ds, GROUP, CREATOR, TILE_MATRIX)
    matrix = ds.get(matrix_tag, None) if matrix_tag is not None else None
    tile_r = tile_c = 0
    if matrix is not None:
        try:
            a, b = str(matrix.value).split("*")
            tile_r, tile_c = int(a), int(b)
        except ValueError:
            tile_r = tile_c = 0
    if n <= 1 or tile_r <= 0 or tile_c <= 0:
        return None
    positions = _tile_positions(ds)
    position = positions[0] if positions else None
    normal = None
    if positions and len(positions) > 1:
        d = np.asarray(positions[-1]) - np.asarray(positions[0])
        if np.linalg.norm(d) > 0:
            normal = tuple(float(v) for v in d / np.linalg.norm(d))
    return MosaicInfo(n_slices=n, normal=normal, position=position,  # type: ignore[arg-type]
                      tile_rows=tile_r, tile_cols=tile_c)


def _tile_positions(ds: Any) -> list[tuple[float, float, float]]:
    """Per-tile Image Position (Patient) from the UIH private sequence, when present."""
    tag = private_tag(ds, GROUP, CREATOR, TILE_SEQUENCE)
    if tag is None:
        return []
    try:
        items = ds[tag].value
    except KeyError:
        return []
    out = []
    for item in items:
        ipp = floats(item.get("ImagePositionPatient", None), 3)
        if ipp is None:  # absent, malformed or not finite: no tile positions at all
            return []
        out.append(ipp)
    return out  # type: ignore[return-value]


recognise = vframe_info
images = mosaic.images  # a VFRAME image is one ImageRef holding its tiles, as a mosaic
