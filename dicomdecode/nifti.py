"""Volume -> nibabel Nifti1Image in the usual NIfTI convention (x, y, z[, t]) in RAS+.

The Volume array is ``(slices, rows, cols)`` (or ``(volumes, slices, rows, cols)``) with an
affine to LPS; NIfTI wants the fastest axis first and world coordinates in RAS. So the
axes are reversed (x = column, y = row, z = slice, t = volume) and the affine's columns
are reordered to match, then x and y of the world are negated (LPS -> RAS).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import nibabel

    from dicomdecode.volume import Volume

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def nifti_affine(affine_lps: np.ndarray) -> np.ndarray:
    """Affine of (col, row, slice) -> RAS from the Volume's (slice, row, col) -> LPS."""
    reorder = np.zeros((4, 4))
    reorder[0, 2] = reorder[1, 1] = reorder[2, 0] = reorder[3, 3] = 1.0  # (i,j,k) -> (s,r,c)
    return LPS_TO_RAS @ np.asarray(affine_lps, float) @ reorder


def nifti_data(volume: Volume) -> np.ndarray:
    """The array with axes (col, row, slice[, volume][, samples])."""
    arr = volume.array
    samples = int(volume.meta.get("SamplesPerPixel", 1) or 1)
    colour = samples > 1 and arr.shape[-1] == samples
    spatial = arr.ndim - (1 if colour else 0)
    if spatial == 3:
        axes = [2, 1, 0]
    elif spatial == 4:
        axes = [3, 2, 1, 0]
    else:
        raise ValueError(f"cannot write a {spatial}-D volume as NIfTI")
    if colour:
        axes.append(arr.ndim - 1)
    return np.transpose(arr, axes)


RGB24 = np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1")])


def is_rgb24(volume: Volume) -> bool:
    """True for 8-bit colour, which NIfTI stores as RGB24 voxels (one triple per voxel)."""
    arr = volume.array
    samples = int(volume.meta.get("SamplesPerPixel", 1) or 1)
    return samples == 3 and arr.dtype == np.uint8 and arr.ndim >= 4 and arr.shape[-1] == 3


def volume_to_nifti(volume: Volume) -> nibabel.Nifti1Image:
    """nibabel image in RAS+ with x, y, z[, t] axes; qform and sform both 'scanner'."""
    data = nifti_data(volume)
    if is_rgb24(volume):
        data = np.ascontiguousarray(data).view(RGB24)[..., 0]
    return _image(volume, data)


@dataclass(frozen=True)
class StreamLayout:
    """What a streaming writer needs to write a volume as NIfTI without nibabel.

    ``shape`` and ``dtype`` are the header's (x, y, z[, t][, samples]) and voxel type (RGB24
    for 8-bit colour), ``affine`` maps them to RAS (sform and qform), and ``source`` is the
    array whose C-order bytes are the voxel stream (x fastest)."""

    shape: tuple[int, ...]
    dtype: np.dtype
    affine: np.ndarray
    source: np.ndarray


def nifti_stream_layout(volume: Volume) -> StreamLayout:
    """The NIfTI layout of ``volume`` as :func:`volume_to_nifti` stores it, with no copy of
    the voxels. For a grey volume ``source`` IS ``volume.array`` (the affine describes our
    axis order, so nothing is reoriented or copied); for RGB24 it is the array with its
    samples last; other colour puts the sample axis first (NIfTI's 5th dimension is the
    slowest)."""
    arr = volume.array
    if is_rgb24(volume):
        shape = nifti_data(volume).shape[:-1]
        return StreamLayout(tuple(shape), RGB24, nifti_affine(volume.affine), arr)
    data = nifti_data(volume)
    return StreamLayout(tuple(data.shape), arr.dtype, nifti_affine(volume.affine), data.T)


def _image(volume: Volume, data: np.ndarray) -> nibabel.Nifti1Image:
    import nibabel

    affine = nifti_affine(volume.affine)
    img = nibabel.Nifti1Image(data, affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    img.header.set_xyzt_units("mm", "sec")
    rt = volume.meta.get("RepetitionTime")
    if data.ndim == 4 and isinstance(rt, int | float) and rt > 0:
        zooms = list(img.header.get_zooms())
        zooms[3] = float(rt)  # seconds, as every time in Volume.meta
        img.header.set_zooms(zooms)
    return img
