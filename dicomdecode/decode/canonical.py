"""Post-decode normalisation shared by every handler: one place, one behaviour.

Whatever a codec hands back (uint8 for an 8-bit JPEG, int16 from a signed JPEG 2000,
uint16 from JPEG-LS of signed data, planar or interleaved samples), this module turns it
into the *canonical frame* of DESIGN.md:

- dtype from Bits Allocated and Pixel Representation (uint8/int8/.../int32);
- values taken from the low Bits Stored bits: masked when unsigned, sign-extended from
  bit (Bits Stored - 1) when signed, so garbage in unused high bits (dcm_qa_12bit) and
  codec/header sign mismatches (J2K, JPEG-LS) come out as the header says;
- samples interleaved, colour converted to RGB once (unless asked not to).
"""

from __future__ import annotations

import numpy as np

from dicomdecode.decode.handlers.base import PixelSource, RawFrame

_YBR_TO_RGB = ("YBR_FULL", "YBR_FULL_422")
# J2K codecs apply the inverse component transform themselves: the data comes back as RGB.
_J2K_MCT = ("YBR_ICT", "YBR_RCT")


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


def fit_to_container(array: np.ndarray, source: PixelSource) -> np.ndarray:
    """Cast codec output to the canonical dtype, then keep the low Bits Stored bits.

    Casting between integer types of the same width wraps (two's complement), which is
    exactly the reinterpretation DICOM means when a codec's signedness differs from
    Pixel Representation; the shift pair then sign-extends or masks from Bits Stored.
    """
    dtype = target_dtype(source)
    if dtype.kind == "f":
        return np.ascontiguousarray(array, dtype=dtype)
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
        if dtype.kind == "i":
            array <<= shift
            array >>= shift  # arithmetic shift: sign extension from bit (stored - 1)
        else:
            array &= (1 << stored) - 1
    return np.ascontiguousarray(array)


def interleave(array: np.ndarray, source: PixelSource, planar: bool) -> np.ndarray:
    """Reshape a flat or planar frame to (rows, cols[, samples]) with samples interleaved."""
    rows, cols, spp = source.rows, source.columns, source.samples_per_pixel
    if spp == 1:
        return array.reshape(rows, cols)
    if planar:
        return array.reshape(spp, rows, cols).transpose(1, 2, 0)
    return array.reshape(rows, cols, spp)


def ybr_full_to_rgb(array: np.ndarray) -> np.ndarray:
    """YCbCr (full range, ITU-R BT.601 as DICOM PS3.3 C.7.6.3.1.2 defines) to RGB."""
    from pydicom.pixels.processing import convert_color_space

    return np.asarray(convert_color_space(array, "YBR_FULL", "RGB", per_frame=False))


def finish_frame(raw: RawFrame, source: PixelSource, convert_color: bool) -> tuple[np.ndarray, str]:
    """Canonical form of one raw frame, and the photometric interpretation it is in now."""
    array = fit_to_container(raw.array, source)
    colour = raw.colour_space
    if source.samples_per_pixel == 3 and convert_color:
        if colour in _YBR_TO_RGB:
            if array.dtype.itemsize == 1:
                array = ybr_full_to_rgb(array)
                colour = "RGB"
        elif colour in _J2K_MCT:
            colour = "RGB"
    return array, colour
