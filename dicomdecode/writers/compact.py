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

``convert`` to NIfTI avoids that pass, and the wide array, where it can: when every slice of
a series shares one linear rescale and nothing else changes the values
(:func:`plan_stored_values`), it decodes the stored values (``load(..., rescale=False)``:
int16/uint16/uint8) and writes them as they are with that rescale as float32
``scl_slope``/``scl_inter``, as dcm2niix does; uint16 with Bits Stored below 16 as int16
(the same bits: dcm2niix's ``nii_dicom.cpp`` rule under its default ``-l o``; its
``nii_check16bitUnsigned`` max pass runs only with ``-l n``). No pass over the voxels at
all. The road is taken only where the voxels nibabel reads back equal the old road's:
checked on every value the stored type can hold (at most 65536), not on every voxel
(:func:`exact_scl`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from dicomdecode.assemble import rescale as _rs

if TYPE_CHECKING:
    from dicomdecode.options import Options
    from dicomdecode.series import SeriesInfo
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
    #: the array already holds the stored values (convert's stored-values road): ``blocks``
    #: writes them as they are instead of inverting the rescale
    values_stored: bool = False

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


def _float32_scl(slope: float, inter: float) -> tuple[float, float] | None:
    """``slope``/``inter`` as the float32 numbers a NIfTI-1 header holds, or None."""
    s32, b32 = float(np.float32(slope)), float(np.float32(inter))
    if s32 == 0.0 or not np.isfinite(s32) or not np.isfinite(b32):
        return None
    return s32, b32


def _unscale(block: np.ndarray, s32: float, b32: float) -> np.ndarray | None:
    """The integer stored values (float64) whose ``stored * s32 + b32`` gives ``block``
    within 2 float32 ulp, or None (NaN, or a value no stored integer gives)."""
    stored = np.rint((block.astype(np.float64) - b32) / s32)
    restored = (stored * s32 + b32).astype(block.dtype)
    if not np.array_equal(restored, block) and not bool(np.all(
            np.abs(restored - block) <= 2 * np.spacing(np.abs(block)))):
        return None
    return stored


def _stored_form(arr: np.ndarray, slope: float, inter: float) -> Storage | None:
    """Storage as integer stored values with float32 scl_slope/scl_inter, when exact."""
    scl = _float32_scl(slope, inter)
    if scl is None:
        return None
    s32, b32 = scl
    flat, rows = _slab(arr)
    lo, hi = None, None
    for k in range(0, flat.shape[0], rows):
        block = flat[k:k + rows]
        stored = _unscale(block, s32, b32)
        if stored is None:
            return None
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
        if storage.scaled and not storage.values_stored:
            assert storage.slope is not None and storage.inter is not None
            block = np.rint((block.astype(np.float64) - storage.inter) / storage.slope)
        if block.dtype != out:
            block = block.astype(out)
        yield np.ascontiguousarray(block)


# --------------------------------------------------------------------------- stored values


@dataclasses.dataclass(frozen=True)
class StoredValues:
    """convert's stored-values road for one series: the volume's array holds the DICOM
    stored values, and every slice shares the rescale ``slope``/``inter`` (float32
    numbers: the NIfTI header's scl_slope/scl_inter) that gives the voxels back."""

    slope: float
    inter: float
    #: the rescale as the header says it (double), which every slice must share
    source_scale: tuple[float, float]
    #: the canonical dtype of the stored values (what ``load(rescale=False)`` gives)
    stored_dtype: np.dtype
    #: the dtype ``load()`` gives (the sidecar's ArrayDtype)
    array_dtype: np.dtype
    #: the rescale convention of :func:`dicomdecode.assemble.rescale.image_scales`
    convention: str
    #: Bits Stored (uint16 below 16 bits is written as int16, as dcm2niix)
    bits_stored: int = 16


def exact_scl(slope: float, inter: float, stored_dtype: np.dtype, bits_stored: int | None
              ) -> tuple[float, float] | None:
    """float32 (scl_slope, scl_inter) under which every stored value the header allows
    reads back (nibabel: ``stored * scl_slope + scl_inter`` in float64) as the old road's
    file did, or None.

    Integer slope and intercept: the old road wrote the integer values themselves, so the
    float32 numbers must be the slope and intercept exactly. Fractional: the old road held
    ``float32(stored * slope + intercept)`` (the double rescale) and wrote it back as
    stored values with float32 scl when :func:`_unscale` accepts it; so the same check
    runs here on every value Bits Stored allows (at most 65536 of them) and must give
    back each stored value itself. Then both files hold the same integers and scl.
    """
    scl = _float32_scl(slope, inter)
    stored_dtype = np.dtype(stored_dtype)
    if scl is None or stored_dtype.kind not in "iu" or stored_dtype.itemsize > 2:
        return None
    if float(slope).is_integer() and float(inter).is_integer():
        return scl if scl == (float(slope), float(inter)) else None
    bits = min(bits_stored or stored_dtype.itemsize * 8, stored_dtype.itemsize * 8)
    lo, hi = _rs.stored_range(bits, stored_dtype.kind == "i")
    values = np.arange(lo, hi + 1, dtype=np.float64)
    volume = (values * float(slope) + float(inter)).astype(np.float32)  # rescale.apply
    stored = _unscale(volume, *scl)
    if stored is None or not np.array_equal(stored, values):
        return None
    return scl


def plan_stored_values(series: SeriesInfo, options: Options) -> StoredValues | None:
    """The stored-values road for ``series`` under ``options``, or None (the old road:
    decode as ``load()``, then :func:`choose_storage`).

    Taken when ``load()`` would do nothing but one linear rescale shared by every slice:
    rescale ``"auto"``; no padding mask, MONOCHROME1 inversion or resampled copy asked
    for; Philips MR without the precise (private Scale Slope) values; one sample per
    pixel, integer stored values of 8 or 16 bits; one (slope, intercept) for all images;
    and :func:`exact_scl` holds for it.
    """
    from dicomdecode.decode.canonical import target_dtype
    from dicomdecode.read.pixel_source import pixel_source_of_image

    if (options.rescale != "auto" or options.mask_padding
            or options.invert_monochrome1 or options.tilt_correct
            or options.equalize_spacing or not series.images):
        return None
    scales, convention = _rs.image_scales(series.images, options.philips_scaling)
    if convention.startswith("philips-precise") or len(set(scales)) != 1:
        return None
    try:
        source = pixel_source_of_image(series.images[0])
    except Exception:  # noqa: BLE001 - the old road's decode reports it, typed
        return None
    if source.samples_per_pixel != 1 or source.float_pixels:
        return None
    stored = target_dtype(source)
    scale = scales[0]
    scl = exact_scl(scale.slope, scale.intercept, stored, source.bits_stored)
    if scl is None:
        return None
    array_dtype = _rs.series_dtype(series, stored, "auto", options.philips_scaling)
    return StoredValues(scl[0], scl[1], (scale.slope, scale.intercept), stored,
                        array_dtype, convention, int(source.bits_stored))


def stored_storage(arr: np.ndarray, plan: StoredValues) -> tuple[np.ndarray, Storage]:
    """The array to stream and its Storage on the stored-values road: the stored values
    as they are, scl_slope/scl_inter = the plan's; uint16 of fewer than 16 stored bits
    viewed as int16 (dcm2niix's rule: the canonical frames are masked to Bits Stored, so
    every value is below 32768 and the bits are the same)."""
    note = "stored values with scl_slope/scl_inter (decoded as stored)"
    if arr.dtype == np.uint16 and plan.bits_stored < 16:
        arr = arr.view(np.int16)
        note += f"; uint16 of {plan.bits_stored} stored bits as int16 (as dcm2niix)"
    return arr, Storage(arr.dtype.newbyteorder("<"), plan.slope, plan.inter, note=note,
                        values_stored=True)


def fits_plan(volume: Volume, plan: StoredValues) -> bool:
    """Whether the assembled ``volume`` (of stored values) is what ``plan`` foresaw: the
    stored dtype, one sample, every slice with the planned rescale."""
    samples = int(volume.meta.get("SamplesPerPixel", 1) or 1)
    return (volume.array.dtype == plan.stored_dtype and samples == 1
            and all((s.slope, s.intercept) == plan.source_scale for s in volume.slices))


def settle(volume: Volume, plan: StoredValues) -> tuple[Volume, StoredValues | None]:
    """``volume`` of stored values (assembled with ``rescale=False``) given the metadata
    ``load()`` gives (Rescale, its convention, dtype), and the plan to write it with. When
    the volume is not what ``plan`` foresaw (:func:`fits_plan`: a file dropped or decoded
    otherwise), its array is rescaled as ``load()`` does and the plan is None (the old
    road): a surprise costs speed, never values."""
    meta = dict(volume.meta)
    meta.update({"Rescale": "auto", "RescaleConvention": plan.convention,
                 "dtype": str(np.dtype(plan.array_dtype))})
    if fits_plan(volume, plan):
        return dataclasses.replace(volume, meta=meta), plan
    arr = volume.array
    scales = [_rs.Scale(s.slope, s.intercept) for s in volume.slices]
    bits = volume.meta.get("BitsStored")
    dtype = _rs.output_dtype("auto", arr.dtype, scales,
                             int(bits) if isinstance(bits, int) else None)
    meta["dtype"] = str(dtype)
    flat = arr.reshape(len(scales), -1)  # one row per slice, in the slices' order
    out = _rs.apply_stack(flat, scales, dtype, "auto").reshape(arr.shape)
    return dataclasses.replace(volume, array=out, meta=meta), None


__all__ = ["BLOCK_BYTES", "Storage", "StoredValues", "blocks", "choose_storage", "exact_scl",
           "fits_plan", "plan_stored_values", "settle", "smallest_int", "stored_storage"]
