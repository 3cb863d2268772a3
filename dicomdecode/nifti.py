"""Volume -> nibabel Nifti1Image in the usual NIfTI convention (x, y, z[, t]) in RAS+.

The Volume array is ``(slices, rows, cols)`` (or ``(volumes, slices, rows, cols)``) with an
affine to LPS; NIfTI wants the fastest axis first and world coordinates in RAS. So the
axes are reversed (x = column, y = row, z = slice, t = volume) and the affine's columns
are reordered to match, then x and y of the world are negated (LPS -> RAS).
"""

from __future__ import annotations

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


def volume_to_nifti(volume: Volume) -> nibabel.Nifti1Image:
    """nibabel image in RAS+ with x, y, z[, t] axes; qform and sform both 'scanner'."""
    import nibabel

    data = nifti_data(volume)
    samples = int(volume.meta.get("SamplesPerPixel", 1) or 1)
    if samples == 3 and data.dtype == np.uint8 and data.shape[-1] == 3:
        rgb = np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1")])
        data = np.ascontiguousarray(data).view(rgb)[..., 0]
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
