"""Tilt-corrected and evenly spaced copies of a volume, as dcm2niix's ``_Tilt`` / ``_Eq``.

A CT acquired with a gantry tilt has slices whose planes are not perpendicular to the line
through their positions, and a series with uneven gaps has no single slice spacing. The
Volume itself keeps every voxel as stored, with a sheared affine (tilt) and the mean step
(uneven gaps), which is right at the first and last slice only. Tools that assume an
orthogonal grid with one spacing need a resampled copy, which is what these two functions
make, following dcm2niix's method (``nii_saveNII3Dtilt``, ``nii_saveNII3Deq``) so that our
copies and dcm2niix's agree:

* :func:`tilt_correct`: each slice is shifted along its column direction (in-plane rows) by
  the in-plane offset of its position from the first slice's, with linear interpolation; the
  output grows by the rows the shift needs, filled with Pixel Padding Value (or the darkest
  value), and where an interpolation would mix in padding the nearest value is used. The
  slice axis becomes the plane normal. The offsets come from Image Position (Patient), so
  no vendor sign rule for the Gantry/Detector Tilt tag is needed.
* :func:`equalize_spacing`: slices are linearly interpolated onto an even grid along the
  normal, with dcm2niix's step and count: the smallest gap, as many slices as reach the last
  one (fence post of half a gap), at most twice the input count (then the step is widened).

Integer data are rounded back to their dtype after each step, as dcm2niix does. scipy
(``pip install "dicomdecode[resample]"``) does the interpolation.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from dicomdecode.geometry import TILT_TOLERANCE_DEG
from dicomdecode.volume import Volume


def _scipy() -> tuple[Any, Any]:
    try:
        from scipy import interpolate, ndimage
    except ImportError as exc:  # an optional extra: say how to get it
        raise ImportError('tilt correction and even resampling need scipy: '
                          'pip install "dicomdecode[resample]"') from exc
    return ndimage, interpolate


def _frame(volume: Volume) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """Unit normal, unit column direction (rows grow along it), first position, slice
    positions (one per slice, from the provenance or the affine) and the row spacing."""
    if volume.array.ndim != 3:
        raise ValueError("only 3D single-channel volumes can be resampled, not shape "
                         f"{volume.array.shape}")
    n = volume.array.shape[0]
    row_step, col_step = volume.affine[:3, 1], volume.affine[:3, 2]
    ps_row = float(np.linalg.norm(row_step))
    c_hat = row_step / ps_row
    r_hat = col_step / float(np.linalg.norm(col_step))
    normal = np.cross(r_hat, c_hat)
    if len(volume.slices) == n:
        positions = np.array([s.position for s in volume.slices], float)
    else:
        positions = np.array([volume.affine[:3, 3] + k * volume.affine[:3, 0]
                              for k in range(n)], float)
    if n > 1 and float((positions[-1] - positions[0]) @ normal) < 0:
        normal = -normal
    return normal, c_hat, positions[0], positions, ps_row


def _point(v: np.ndarray) -> tuple[float, float, float]:
    return float(v[0]), float(v[1]), float(v[2])


def _to_dtype(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(np.round(values), info.min, info.max).astype(dtype)
    return values.astype(dtype)


def _padding(volume: Volume) -> tuple[float, bool]:
    """Fill value of new voxels (in the array's units) and whether it is Pixel Padding."""
    pad = volume.meta.get("PixelPaddingValue")
    if isinstance(pad, int | float) and volume.slices:
        s = volume.slices[0]
        if volume.meta.get("Rescale", "auto") is not False:
            return float(pad) * s.slope + s.intercept, True
        return float(pad), True
    return float(np.min(volume.array)), False


def tilt_correct(volume: Volume) -> Volume:
    """A copy of a gantry-tilted 3D volume on an orthogonal grid (dcm2niix's ``_Tilt``).

    Returns the volume unchanged when its slices are not sheared. Slice positions keep
    their distances along the normal (uneven gaps stay uneven: see
    :func:`equalize_spacing`)."""
    ndimage, _ = _scipy()
    normal, c_hat, p0, positions, ps_row = _frame(volume)
    offsets = (positions - p0) @ c_hat  # in-plane shift of each slice (mm, along rows)
    if len(positions) < 2 or float(np.abs(offsets).max()) < 1e-3 * ps_row:
        return volume
    data = volume.array
    rows = data.shape[1]
    # the first slice stays on whole rows (as dcm2niix): grow by whole rows on each side
    low_rows = math.floor(min(0.0, float(offsets.min())) / ps_row + 1e-6)
    low = low_rows * ps_row
    extra = math.ceil(max(0.0, float(offsets.max())) / ps_row - 1e-6) - low_rows
    fill, is_padding = _padding(volume)
    out = np.full((data.shape[0], rows + extra, *data.shape[2:]), fill, dtype=data.dtype)
    out_rows = np.arange(rows + extra, dtype=np.float64)
    cols = np.arange(data.shape[2], dtype=np.float64)
    for s in range(data.shape[0]):
        src_rows = out_rows - (float(offsets[s]) - low) / ps_row
        # dcm2niix's rule (in its bottom-up row order): a row between the stored first row
        # and one before it repeats the first row; past the last row is padding
        inside = (src_rows > -1) & (src_rows <= rows - 1)
        coords = np.meshgrid(src_rows[inside], cols, indexing="ij")
        image = data[s].astype(np.float64)
        values = ndimage.map_coordinates(image, coords, order=1, mode="nearest")
        if is_padding:  # never blend padding into tissue: nearest value there
            touched = ndimage.map_coordinates((data[s] == fill).astype(np.float64), coords,
                                              order=1, mode="nearest") > 0
            nearest = ndimage.map_coordinates(image, coords, order=0, mode="nearest")
            values = np.where(touched, nearest, values)
        out[s][inside] = _to_dtype(values, data.dtype)
    affine = volume.affine.copy()
    d = (positions - p0) @ normal
    affine[:3, 0] = normal * (float(d[-1]) / (len(d) - 1))
    affine[:3, 3] = p0 + low * c_hat
    slices = [replace(s, position=_point(p0 + low * c_hat + dk * normal))
              for s, dk in zip(volume.slices, d, strict=False)] \
        if len(volume.slices) == len(d) else []
    meta = {**volume.meta, "GantryTiltCorrected": True}
    return Volume(array=np.ascontiguousarray(out), affine=affine, meta=meta, slices=slices,
                  warnings=[w for w in volume.warnings if "tilt" not in w])


def even_grid(distances: np.ndarray) -> tuple[float, int] | None:
    """dcm2niix's even grid for slices at ``distances`` (ascending, from the first):
    (step, count), or None when it cannot make one (fewer than 3 slices, not ascending)."""
    n = len(distances)
    if n < 3:
        return None
    gaps = np.diff(distances)
    positive = gaps[gaps > 1e-6]
    if len(positive) != len(gaps):
        return None
    step = float(positive.min())
    last = float(distances[-1])
    reach = (last - 0.5 * (last - float(distances[-2]))) / step
    count = math.ceil(reach - 1e-6 * reach)  # a whole number reached by rounding stays whole
    if count > 2 * n:
        count = 2 * n
        step = last / (count - 1)
    if count < 3:
        return None
    return step, count


def equalize_spacing(volume: Volume) -> Volume:
    """A copy of a 3D volume with evenly spaced slices along its slice axis (dcm2niix's
    ``_Eq``), by linear interpolation between the two nearest slices.

    The slice positions come from the provenance (``Volume.slices``); a volume whose
    positions are already even comes back unchanged. Raises ValueError when no even grid
    can be made (fewer than 3 slices, repeated positions)."""
    _, interpolate = _scipy()
    normal, c_hat, p0, positions, _ = _frame(volume)
    # distances along the line through the slices (the normal once tilt-corrected)
    axis = positions[-1] - p0
    axis = axis / max(float(np.linalg.norm(axis)), 1e-12)
    d = (positions - p0) @ axis
    gaps = np.diff(d)
    if len(gaps) and float(np.abs(gaps - gaps.mean()).max()) <= 1e-3 * max(abs(gaps.mean()), 1):
        return volume
    grid = even_grid(d)
    if grid is None:
        raise ValueError("cannot resample to even spacing: fewer than 3 slices or slice "
                         "positions that do not increase")
    step, count = grid
    data = volume.array
    line = interpolate.interp1d(d, data, axis=0, kind="linear", assume_sorted=True,
                                bounds_error=False, fill_value=(data[0], data[-1]))
    out = np.empty((count, *data.shape[1:]), dtype=data.dtype)
    for k in range(count):
        out[k] = _to_dtype(np.asarray(line(k * step)), data.dtype)
    affine = volume.affine.copy()
    affine[:3, 0] = axis * step
    meta = {**volume.meta, "SpacingEqualized": True, "SliceSpacing": step}
    return Volume(array=np.ascontiguousarray(out), affine=affine, meta=meta, slices=[],
                  warnings=[w for w in volume.warnings if "spacing" not in w])


def resampled_copy(volume: Volume, tilt: bool, equalize: bool) -> tuple[str, Volume] | None:
    """The extra output ``convert`` writes for ``tilt_correct`` / ``equalize_spacing``:
    (name suffix, volume) as dcm2niix names them (``_Tilt``, ``_Eq``, ``_Tilt_Eq``), or
    None when the volume needs neither (no tilt, even gaps, not 3D single-channel)."""
    if volume.array.ndim != 3 or not (tilt or equalize):
        return None
    suffix, out = "", volume
    if tilt and float(volume.meta.get("GantryTiltDegrees") or 0.0) > TILT_TOLERANCE_DEG:
        out, suffix = tilt_correct(out), "_Tilt"
    if equalize and any("spacing" in w for w in volume.warnings):
        try:
            out, suffix = equalize_spacing(out), suffix + "_Eq"
        except ValueError:
            pass  # no even grid (fewer than 3 slices, repeated positions): nothing to add
    return (suffix, out) if suffix else None
