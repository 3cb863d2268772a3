"""Post-decode normalisation shared by every handler: one place, one behaviour.

Whatever a codec hands back (uint8 for an 8-bit JPEG, int16 from a signed JPEG 2000,
uint16 from JPEG-LS of signed data, planar or interleaved samples), this module turns it
into the *canonical frame* of DESIGN.md:

- dtype from Bits Allocated and Pixel Representation (uint8/int8/.../int32);
- values taken from the low Bits Stored bits: masked when unsigned, sign-extended from
  bit (Bits Stored - 1) when signed, so garbage in unused high bits (dcm_qa_12bit) and
  codec/header sign mismatches (J2K, JPEG-LS) come out as the header says;
- shape ``(rows, columns[, samples])``, samples interleaved, whatever the codec's layout
  (the handler declares it in its RawFrame);
- colour converted to RGB once (unless asked not to): YBR_FULL / YBR_FULL_422 here, and
  YBR_ICT / YBR_RCT relabelled RGB because every JPEG 2000 decoder applies the inverse
  component transform itself.

A frame whose sample count differs from what the header promises is an error, never a
reshaped or zero-filled array.
"""

from __future__ import annotations

import numpy as np

from dicomdecode.decode.handlers.base import RawFrame
from dicomdecode.read import transfer_syntax as ts
from dicomdecode.read.pixel_source import PixelSource

_YBR_TO_RGB = ("YBR_FULL", "YBR_FULL_422")
# J2K codecs apply the inverse component transform themselves: the data comes back as RGB.
_J2K_MCT = ("YBR_ICT", "YBR_RCT")
_J2K_FAMILIES = ("j2k", "htj2k")


def container_bits(bits_allocated: int) -> int:
    """Bits of the NumPy container for `bits_allocated` (1 -> 8, 12 -> 16, 24 -> 32)."""
    for size in (8, 16, 32, 64):
        if bits_allocated <= size:
            return size
    raise ValueError(f"Bits Allocated {bits_allocated} is larger than 64")


def target_dtype(source: PixelSource) -> np.dtype:
    """The canonical dtype of `source`'s frames."""
    if source.float_pixels:
        return np.dtype(np.float32 if source.float_pixels == 32 else np.float64)
    bits = container_bits(source.bits_allocated)
    kind = "i" if source.pixel_representation == 1 else "u"
    return np.dtype(f"{kind}{bits // 8}")


def frames_shape(source: PixelSource, count: int) -> tuple[int, ...]:
    """Shape of `count` canonical frames of `source`: ``(count, rows, cols[, samples])``."""
    shape: tuple[int, ...] = (count, source.rows, source.columns)
    return shape + ((source.samples_per_pixel,) if source.samples_per_pixel > 1 else ())


def fit_to_container(array: np.ndarray, source: PixelSource) -> np.ndarray:
    """Cast codec output to the canonical dtype, then keep the low Bits Stored bits
    (lossy data: first clamped to the Bits Stored range, see below).

    Casting between integer types of the same width wraps (two's complement), which is
    exactly the reinterpretation DICOM means when a codec's signedness differs from
    Pixel Representation; the shift pair then sign-extends or masks from Bits Stored.
    """
    dtype = target_dtype(source)
    if dtype.kind == "f":
        return np.ascontiguousarray(array, dtype=dtype)
    # A lossy codec's reconstruction can overshoot the stored range (a J2K/HTJ2K stream of
    # 16-bit precision holding 12-bit data gives 4117 for a white of 4095): clamped, as
    # every decoder clamps to its own precision, never wrapped by the mask below (which
    # would turn 4117 into 21). Only where codec and header agree on the sign: otherwise
    # the values are two's complement to reinterpret, and the shift pair does that.
    clamp = array.dtype.kind == dtype.kind and _is_lossy(source)
    if array.dtype != dtype:
        if array.dtype.itemsize == dtype.itemsize and array.dtype.kind in "iu":
            array = array.view(dtype)
        else:
            array = array.astype(dtype, casting="unsafe")
    bits = dtype.itemsize * 8
    stored = min(max(source.bits_stored, 1), bits)
    if stored < bits:
        if not array.flags.writeable or not array.flags.c_contiguous:
            array = np.array(array, order="C")
        shift = bits - stored
        if clamp:
            low, high = ((-(1 << (stored - 1)), (1 << (stored - 1)) - 1) if dtype.kind == "i"
                         else (0, (1 << stored) - 1))
            np.clip(array, low, high, out=array)
        if dtype.kind == "i":
            array <<= shift
            array >>= shift  # arithmetic shift: sign extension from bit (stored - 1)
        else:
            array &= (1 << stored) - 1
    return np.ascontiguousarray(array)


def _is_lossy(source: PixelSource) -> bool:
    row = ts.lookup(source.transfer_syntax)
    return bool(row and row.lossy)


def to_frame_shape(raw: RawFrame, source: PixelSource) -> np.ndarray:
    """The raw samples as ``(rows, cols[, samples])``, interleaved; ValueError when the
    codec delivered another number of samples than the header promises."""
    rows, cols, spp = source.rows, source.columns, source.samples_per_pixel
    array = raw.array
    if (spp == 3 and raw.colour_space == "YBR_FULL_422" and array.dtype.itemsize == 1
            and array.size == rows * cols * 2):
        return _expand_ybr422(array, rows, cols)  # native 4:2:2 layout: Y1 Y2 Cb Cr
    if array.size != rows * cols * spp:
        raise ValueError(f"decoder returned {array.size} samples, the header promises "
                         f"{rows}x{cols}x{spp} = {rows * cols * spp}")
    if array.ndim > 1:  # a shaped result must be the header's shape, not just its size
        planar_shape = (spp, rows, cols) if raw.planar else (rows, cols, spp)
        allowed = {(rows, cols), planar_shape} if spp == 1 else {planar_shape}
        if array.shape not in allowed:
            raise ValueError(f"codestream is {'x'.join(map(str, array.shape))}, the header "
                             f"says {rows}x{cols}" + (f"x{spp}" if spp > 1 else ""))
    if spp == 1:
        return array.reshape(rows, cols)
    if raw.planar:
        return array.reshape(spp, rows, cols).transpose(1, 2, 0)
    return array.reshape(rows, cols, spp)


def _expand_ybr422(array: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """YBR_FULL_422 native layout (Y1 Y2 Cb Cr per pixel pair) to full-resolution YCbCr."""
    if cols % 2:
        raise ValueError(f"YBR_FULL_422 needs an even number of columns, not {cols}")
    quads = array.reshape(-1, 4)
    out = np.empty((quads.shape[0], 2, 3), dtype=np.uint8)
    out[:, 0, 0] = quads[:, 0]
    out[:, 1, 0] = quads[:, 1]
    out[:, :, 1] = quads[:, 2:3]
    out[:, :, 2] = quads[:, 3:4]
    return out.reshape(rows, cols, 3)


def ybr_full_to_rgb(array: np.ndarray) -> np.ndarray:
    """YCbCr (full range, ITU-R BT.601 as DICOM PS3.3 C.7.6.3.1.2 defines) to RGB."""
    from pydicom.pixels.processing import convert_color_space

    return np.asarray(convert_color_space(array, "YBR_FULL", "RGB", per_frame=False))


def finish_frame(raw: RawFrame, source: PixelSource, convert_color: bool) -> tuple[np.ndarray, str]:
    """Canonical form of one raw frame, and the photometric interpretation it is in now."""
    array = fit_to_container(to_frame_shape(raw, source), source)
    colour = raw.colour_space
    if colour == "YBR_FULL_422" and raw.array.size != array.size:
        colour = "YBR_FULL"  # expanded above: now one chroma pair per pixel
    row = ts.lookup(source.transfer_syntax)
    if colour in _J2K_MCT and row is not None and row.family in _J2K_FAMILIES:
        colour = "RGB"  # the J2K decoder applied the inverse component transform
    if source.samples_per_pixel == 3 and convert_color and colour in _YBR_TO_RGB:
        if array.dtype.itemsize == 1:
            array = ybr_full_to_rgb(array)
            colour = "RGB"
    return array, colour
