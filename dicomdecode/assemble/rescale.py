"""dtype and rescale policy: which slope/intercept apply, and which dtype holds the result.

ONE rule, used by ``load_series``, ``SliceDataset``, the MONAI reader and ``convert``:
the output dtype of a series is decided from its HEADER alone: every image's slope and
intercept (after the Philips rule) and the stored-value range that Bits Stored and Pixel
Representation allow. Never from the decoded values, so the same series gets the same
dtype whatever the handler, the file order, the entry point, or the subset of slices
read (a data loader reading one slice agrees with the full volume).

``rescale="auto"``: identity scales keep the stored dtype; integer slopes/intercepts give
the smallest integer dtype, at least as wide as the stored one, that holds every value
the header allows (CT stored in 12 bits with intercept -1024 stays int16; CT declaring 16
stored bits with intercept -1024 can reach -33792 and becomes int32); anything
fractional gives float32. ``True`` always float32, ``False`` the stored dtype.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dicomdecode.decode.store import rescale_into
from dicomdecode.engine import allocator
from dicomdecode.options import PhilipsScaling, RescaleMode

_INT_CANDIDATES = (np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.int64)


@dataclass(frozen=True)
class Scale:
    """Effective linear map stored -> output value for one slice."""

    slope: float
    intercept: float


def philips_precise(slope: float, intercept: float, scale_slope: float | None) -> Scale:
    """Philips floating-point value FP = (SV*RS + RI) / (RS*SS), exactly as dcm2niix's default.

    dcm2niix (``PhilipsPrecise``) does not store 1/SS and RI/(RS*SS): it evaluates FP at
    stored values 0 and 1 in single precision (its values are C ``float``) and keeps
    slope = FP(1) - FP(0), intercept = FP(0), each a float32. With a large intercept the
    subtraction loses digits (a B0 field map with RS 0.2442, RI -500, SS 4.095 gets slope
    0.24420166, not 1/SS = 0.24420024); we take the same steps so the voxels agree.
    Falls back to the display value (standard rescale) when the private Scale Slope
    (2005,100E) is missing or zero, or when FP(0) == FP(1).
    """
    if scale_slope is None or scale_slope == 0 or slope == 0:
        return Scale(slope, intercept)
    rs, ri, ss = np.float32(slope), np.float32(intercept), np.float32(scale_slope)
    denominator = np.float32(rs * ss)
    if denominator == 0:
        return Scale(slope, intercept)
    fp0 = np.float32(np.float32(np.float32(0.0) * rs + ri) / denominator)
    fp1 = np.float32(np.float32(np.float32(1.0) * rs + ri) / denominator)
    if fp0 == fp1:
        return Scale(slope, intercept)
    return Scale(float(np.float32(fp1 - fp0)), float(fp0))


def effective_scales(slopes: Sequence[float], intercepts: Sequence[float],
                     private_scale_slopes: Sequence[float | None],
                     philips_scaling: PhilipsScaling = "precise") -> tuple[list[Scale], str]:
    """Per-slice scales and the name of the convention used ("standard" or "philips-...")."""
    has_private = any(s not in (None, 0) for s in private_scale_slopes)
    if philips_scaling == "precise" and has_private:
        return ([philips_precise(s, i, p) for s, i, p in
                 zip(slopes, intercepts, private_scale_slopes, strict=True)],
                "philips-precise (FP = (SV*RS+RI)/(RS*SS))")
    name = "philips-display (RescaleSlope/Intercept)" if has_private else "standard"
    return [Scale(float(s), float(i)) for s, i in zip(slopes, intercepts, strict=True)], name


def image_scales(images: Sequence[Any], philips_scaling: PhilipsScaling
                 ) -> tuple[list[Scale], str]:
    """:func:`effective_scales` of a scan's ImageRefs."""
    return effective_scales([im.slope for im in images], [im.intercept for im in images],
                            [im.private_scale_slope for im in images], philips_scaling)


def series_dtype(series: Any, stored_dtype: np.dtype, mode: RescaleMode,
                 philips_scaling: PhilipsScaling) -> np.dtype:
    """The output dtype of `series` (a SeriesInfo): the one policy of this module."""
    scales, _ = image_scales(series.images, philips_scaling)
    bits = series.meta.get("BitsStored")
    return output_dtype(mode, stored_dtype, scales, int(bits) if isinstance(bits, int) else None)


def stored_range(bits_stored: int, signed: bool) -> tuple[int, int]:
    """Smallest and largest stored value Bits Stored and Pixel Representation allow."""
    if signed:
        return -(1 << (bits_stored - 1)), (1 << (bits_stored - 1)) - 1
    return 0, (1 << bits_stored) - 1


def _is_integral(x: float) -> bool:
    return float(x).is_integer()


def output_dtype(mode: RescaleMode, stored_dtype: np.dtype, scales: Sequence[Scale],
                 bits_stored: int | None = None) -> np.dtype:
    """dtype of the assembled array for this rescale mode (the rule in the module text).

    `bits_stored` bounds the stored values (default: the whole stored dtype)."""
    stored_dtype = np.dtype(stored_dtype)
    if mode is False:
        return stored_dtype
    if mode is True:
        return np.dtype(np.float32)
    if mode != "auto":
        raise ValueError(f"rescale must be 'auto', True or False, not {mode!r}")
    if stored_dtype.kind == "f":
        return np.dtype(np.float32) if stored_dtype.itemsize <= 4 else stored_dtype
    if all(s.slope == 1 and s.intercept == 0 for s in scales):
        return stored_dtype
    if not all(_is_integral(s.slope) and _is_integral(s.intercept) for s in scales):
        return np.dtype(np.float32)
    if stored_dtype.kind not in "ui":  # e.g. bool masks: nothing sensible to rescale
        return np.dtype(np.float32)
    bits = min(bits_stored or stored_dtype.itemsize * 8, stored_dtype.itemsize * 8)
    lo, hi = stored_range(bits, stored_dtype.kind == "i")
    values = [v for s in scales for v in (lo * s.slope + s.intercept, hi * s.slope + s.intercept)]
    vmin, vmax = min(values), max(values)
    for cand in _INT_CANDIDATES:
        info = np.iinfo(cand)
        if np.dtype(cand).itemsize < stored_dtype.itemsize:
            continue
        if info.min <= vmin and vmax <= info.max:
            return np.dtype(cand)
    return np.dtype(np.float64)


def apply(stored: np.ndarray, scale: Scale, dtype: np.dtype, mode: RescaleMode) -> np.ndarray:
    """One slice (or stack sharing one scale) in the output dtype."""
    if mode is False or (scale.slope == 1 and scale.intercept == 0):
        return stored.astype(dtype, copy=False)
    out = np.empty(stored.shape, dtype)
    rescale_into(stored, out, scale.slope, scale.intercept)  # the one arithmetic rule
    return out


def apply_stack(stored: np.ndarray, scales: Sequence[Scale], dtype: np.dtype,
                mode: RescaleMode, path: str = "<memory>") -> np.ndarray:
    """All slices (``stored[i]`` has ``scales[i]``) in the output dtype.

    Works slice by slice so no full-size temporary is made: in place when the output dtype
    is the stored one (CT stays int16), otherwise into one new array of the output dtype.
    """
    dtype = np.dtype(dtype)
    identity = all(s.slope == 1 and s.intercept == 0 for s in scales)
    if mode is False or identity:
        return stored if stored.dtype == dtype else stored.astype(dtype)
    if stored.dtype == dtype and dtype.kind in "iu" and all(
            s.slope == 1 and _is_integral(s.intercept)
            and np.iinfo(dtype).min <= s.intercept <= np.iinfo(dtype).max for s in scales):
        # CT: HU = stored + intercept. `dtype` was chosen to hold every result, so adding
        # in place cannot overflow; one pass, no temporaries.
        intercepts = {int(s.intercept) for s in scales}
        if len(intercepts) == 1:
            stored += dtype.type(intercepts.pop())
        else:
            for index, scale in enumerate(scales):
                stored[index] += dtype.type(int(scale.intercept))
        return stored
    out = stored if stored.dtype == dtype else allocator.allocate(
        stored.shape, dtype, path, what="the rescaled volume")
    for index, scale in enumerate(scales):
        out[index] = apply(stored[index], scale, dtype, mode)
    return out
