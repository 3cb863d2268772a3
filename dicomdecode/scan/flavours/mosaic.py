"""Siemens mosaic: one stored image holds a whole volume as a grid of tiles.

The Siemens CSA header is read with nibabel's reader (``nibabel.nicom.csareader``);
we only add the un-tiling of our decoded pixels and the position fix nibabel and
dcm2niix apply: the stored Image Position (Patient) is the corner of the whole mosaic,
not of the first tile.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from dicomdecode.geometry import row_col_cosines, usable_orientation
from dicomdecode.scan.flavours.base import Header
from dicomdecode.scan.values import floats
from dicomdecode.series import ImageRef


@dataclass(frozen=True)
class MosaicInfo:
    """What a mosaic file says about its tiles."""

    n_slices: int
    normal: tuple[float, float, float] | None  # slice direction (CSA SliceNormalVector)
    position: tuple[float, float, float] | None  # IPP of the first tile (corrected)
    tile_rows: int
    tile_cols: int


def tiles_per_side(n_slices: int) -> int:
    """Mosaics are square grids of ceil(sqrt(n)) tiles per side."""
    return int(math.ceil(math.sqrt(n_slices)))


def image_type(ds: Any) -> list[str]:
    value = ds.get("ImageType", None)
    if value is None:
        return []
    return [str(v).upper() for v in (value if not isinstance(value, str) else [value])]


def siemens_mosaic_info(ds: Any) -> MosaicInfo | None:
    """Return MosaicInfo for a Siemens mosaic dataset, else None (header-only)."""
    if "MOSAIC" not in image_type(ds):
        return None
    try:
        with warnings.catch_warnings():  # nibabel.nicom warns "experimental" on import
            warnings.simplefilter("ignore", UserWarning)
            from nibabel.nicom import csareader
        csa = csareader.get_csa_header(ds, "image")
    except Exception:  # malformed CSA: treat as an ordinary image
        return None
    if not csa:
        return None
    try:
        n = int(csareader.get_n_mosaic(csa))
    except Exception:
        return None
    if n <= 1:
        return None
    normal_v = csareader.get_slice_normal(csa)
    normal = floats(normal_v, 3) if normal_v is not None else None
    side = tiles_per_side(n)
    rows, cols = int(ds.Rows), int(ds.Columns)
    tile_r, tile_c = rows // side, cols // side
    position = None
    # the tolerant conversions of every flavour: a malformed or non-finite value is absent
    ipp = floats(ds.get("ImagePositionPatient", None), 3)
    iop = usable_orientation(floats(ds.get("ImageOrientationPatient", None), 6))
    ps = floats(ds.get("PixelSpacing", None), 2)
    if ipp is not None and iop is not None and ps is not None:
        position = corrected_position(list(ipp), list(iop), (ps[0], ps[1]),
                                      (rows, cols), (tile_r, tile_c))
    return MosaicInfo(n_slices=n, normal=normal, position=position,  # type: ignore[arg-type]
                      tile_rows=tile_r, tile_cols=tile_c)


def corrected_position(ipp: list[float], iop: list[float], pixel_spacing: tuple[float, float],
                       mosaic_shape: tuple[int, int],
                       tile_shape: tuple[int, int]) -> tuple[float, float, float]:
    """Move the mosaic corner position to the first voxel of the first tile.

    Siemens stores the position as if the tile were centred in the full mosaic, so the
    shift is half the size difference, in pixels, along the row and column directions.
    """
    r_cos, c_cos = row_col_cosines(iop)
    d_rows = (mosaic_shape[0] - tile_shape[0]) / 2.0
    d_cols = (mosaic_shape[1] - tile_shape[1]) / 2.0
    p = (np.asarray(ipp, float) + c_cos * pixel_spacing[0] * d_rows
         + r_cos * pixel_spacing[1] * d_cols)
    return (float(p[0]), float(p[1]), float(p[2]))


def untile(frame: np.ndarray, n_slices: int, tile_rows: int, tile_cols: int) -> np.ndarray:
    """Split one mosaic image (rows, cols[, samples]) into (n_slices, tile_rows, tile_cols...).

    Tiles are read row by row, left to right; empty trailing tiles are dropped.
    """
    side_r = frame.shape[0] // tile_rows
    side_c = frame.shape[1] // tile_cols
    rest = frame.shape[2:]
    grid = frame[: side_r * tile_rows, : side_c * tile_cols]
    grid = grid.reshape(side_r, tile_rows, side_c, tile_cols, *rest)
    grid = np.moveaxis(grid, 2, 1).reshape(side_r * side_c, tile_rows, tile_cols, *rest)
    return np.ascontiguousarray(grid[:n_slices])


recognise = siemens_mosaic_info


def images(header: Header, info: MosaicInfo) -> list[ImageRef]:
    """The one ImageRef of a mosaic (UIH VFRAME images take the same form).

    ValueError (the scan skips the file as unusable, saying why) when the tiles the
    header announces do not fit in the image: untiling must never divide by a zero tile
    size or invent tiles."""
    rows, cols = int(header.common["rows"]), int(header.common["columns"])
    if info.tile_rows < 1 or info.tile_cols < 1:
        raise ValueError(f"mosaic of {info.n_slices} slices in a {rows}x{cols} image gives "
                         f"tiles of {info.tile_rows}x{info.tile_cols}")
    capacity = (rows // info.tile_rows) * (cols // info.tile_cols)
    if info.n_slices > capacity:
        raise ValueError(f"mosaic claims {info.n_slices} tiles of {info.tile_rows}x"
                         f"{info.tile_cols}; a {rows}x{cols} image holds {capacity}")
    return [ImageRef(**{**header.classic, "frame": 0,
                        "position": info.position or header.position,
                        "mosaic_slices": info.n_slices,
                        "mosaic_tile": (info.tile_rows, info.tile_cols),
                        "mosaic_normal": info.normal})]
