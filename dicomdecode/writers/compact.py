"""The compact, exact on-disk form of a volume's array (dcm2niix's rule for NIfTI).

``Volume.array`` follows the library's one dtype rule, chosen from the header before any
pixel is seen (a CT of int16 stored values with intercept -1024 is int32, because int16
minus 1024 may not fit). A file can do better once the values are known, and dcm2niix
does (console/nii_dicom_batch.cpp): it writes the *stored* values in their stored type
with Rescale Slope/Intercept as ``scl_slope``/``scl_inter``, and with ``-l n`` turns uint16
into int16 when the maximum is at most 32767 (``nii_check16bitUnsigned``). We reach the same
voxels (what nibabel's ``get_fdata`` returns) and the same or a smaller type:

- an integer array is written in the first type of (uint8, uint16, uint32) when no value is
  negative, else of (int8, int16, int32) that holds [min, max]: a CT in HU becomes int16,
  an unsigned MR keeps uint16, 8-bit data uint8;
- a float array (a fractional slope) whose slices share one slope/intercept, and whose
  values are ``stored * slope + intercept`` for integer stored values, is written as those
  stored values with ``scl_slope``/``scl_inter``. Checked on every voxel with the float32
  slope/intercept a NIfTI-1 header holds: where the DICOM slope is not a float32 number
  (3.774114) the volume, computed with the double, and the file, read with the float32,
  differ by float32 rounding, so up to 2 ulp is accepted (dcm2niix's file has the same
  float32 scl and stored values, so ours then equals dcm2niix's exactly);
- anything else (per-slice slopes, Philips precise values, NaN padding) is written as is.

The decision costs one read-only pass (min/max, or the exactness check) over the array; the
cast then happens per slice block while the file is compressed (:func:`blocks`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from dicomdecode.volume import Volume

#: bytes of output per block handed to the compressor: small enough to stay in cache-sized
#: pieces and bound the extra memory, large enough that per-call overhead is nothing
BLOCK_BYTES = 8 << 20
_UNSIGNED = (np.uint8, np.uint16, np.uint32)
_SIGNED = (np.int8, np.int16, np.int32)


@dataclasses.dataclass(frozen=True)
class Storage:
    """How an array is stored: its on-disk dtype and the scaling that restores it."""

    dtype: np.dtype
    slope: float | None = None
    inter: float | None = None
    #: what was done, for the sidecar (``dicomdecode.storage``)
    note: str = "as loaded"

    @property
    def scaled(self) -> bool:
        return self.slope is not None

    def describe(self, source: np.dtype) -> dict[str, object]:
        """JSON-safe facts for the sidecar: array dtype, stored dtype, scaling."""
        out: dict[str, object] = {"ArrayDtype": str(source), "StoredDtype": str(self.dtype),
                                  "Method": self.note}
        if self.scaled:
            out["SclSlope"], out["SclInter"] = self.slope, self.inter
        return out


def smallest_int(lo: int, hi: int) -> np.dtype | None:
    """The first integer type (unsigned first when ``lo >= 0``) holding [lo, hi]."""
    for candidate in (_UNSIGNED if lo >= 0 else _SIGNED):
        info = np.iinfo(candidate)
        if info.min <= lo and hi <= info.max:
            return np.dtype(candidate)
    return None


def _slab(arr: np.ndarray) -> tuple[np.ndarray, int]:
    """``arr`` viewed as (n, rest...) along its first axis, and how many rows per block."""
    flat = arr.reshape((arr.shape[0], -1)) if arr.ndim > 1 else arr.reshape((-1, 1))
    per_row = max(1, flat.shape[1] * arr.dtype.itemsize)
    return flat, max(1, BLOCK_BYTES // per_row)


def _uniform_scaling(volume: Volume) -> tuple[float, float] | None:
    """The one (slope, intercept) every slice shares, or None."""
    pairs = {(s.slope, s.intercept) for s in volume.slices}
    if len(pairs) != 1:
        return None
    ((slope, inter),) = pairs
    if slope is None or inter is None:
        return None
    return float(slope), float(inter)


def _stored_form(arr: np.ndarray, slope: float, inter: float) -> Storage | None:
    """Storage as integer stored values with float32 scl_slope/scl_inter, when exact."""
    s32, b32 = float(np.float32(slope)), float(np.float32(inter))
    if s32 == 0.0 or not np.isfinite(s32) or not np.isfinite(b32):
        return None
    flat, rows = _slab(arr)
    lo, hi = None, None
    for k in range(0, flat.shape[0], rows):
        block = flat[k:k + rows]
        stored = np.rint((block.astype(np.float64) - b32) / s32)
        restored = (stored * s32 + b32).astype(arr.dtype)
        if not np.array_equal(restored, block) and not bool(np.all(
                np.abs(restored - block) <= 2 * np.spacing(np.abs(block)))):
            return None  # NaN, or a value no stored integer gives
        if stored.size:
            bmin, bmax = int(stored.min()), int(stored.max())
            lo = bmin if lo is None else min(lo, bmin)
            hi = bmax if hi is None else max(hi, bmax)
    dtype = smallest_int(lo or 0, hi or 0)
    if dtype is None:
        return None
    return Storage(dtype, s32, b32, note="stored values with scl_slope/scl_inter")


def choose_storage(volume: Volume, arr: np.ndarray | None = None) -> Storage:
    """The compact exact storage of ``volume.array`` (or ``arr``), see the module doc."""
    arr = volume.array if arr is None else arr
    if arr.dtype.kind in "iu":
        if arr.size == 0:
            return Storage(arr.dtype.newbyteorder("<"))
        dtype = smallest_int(int(arr.min()), int(arr.max()))
        if dtype is None:
            return Storage(arr.dtype.newbyteorder("<"))
        note = "as loaded" if dtype == arr.dtype else f"narrowed from {arr.dtype}"
        return Storage(dtype, note=note)
    if arr.dtype.kind == "f" and arr.size:
        scaling = _uniform_scaling(volume)
        if scaling is not None:
            stored = _stored_form(arr, *scaling)
            if stored is not None:
                return stored
    return Storage(arr.dtype.newbyteorder("<"))


def blocks(arr: np.ndarray, storage: Storage) -> Iterator[np.ndarray]:
    """``arr`` in C order as little-endian ``storage.dtype`` blocks along the first axis:
    the cast (and, for scaled storage, the inverse rescale) done one block at a time."""
    flat, rows = _slab(arr)
    out = np.dtype(storage.dtype).newbyteorder("<")
    for k in range(0, flat.shape[0], rows):
        block = flat[k:k + rows]
        if storage.scaled:
            assert storage.slope is not None and storage.inter is not None
            block = np.rint((block.astype(np.float64) - storage.inter) / storage.slope)
        if block.dtype != out:
            block = block.astype(out)
        yield np.ascontiguousarray(block)


__all__ = ["BLOCK_BYTES", "Storage", "blocks", "choose_storage", "smallest_int"]
