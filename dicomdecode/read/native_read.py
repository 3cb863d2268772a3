"""Uncompressed pixels read by offset straight into the output array.

For native transfer syntaxes the costly part of a plain pydicom loop is parsing the whole
file again to reach bytes whose place is already known from the header scan. Given the
offset of the Pixel Data element, we check its tag and length and ``readinto`` the
caller's output, then apply the same Bits Stored rule as every handler
(:func:`dicomdecode.pixels.fit_to_container`). Anything unusual (encapsulated data,
bit-packed layouts, YCbCr colour that needs converting, planar colour) returns False so the caller takes the
general path; results are identical either way.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

from dicomdecode.decode.canonical import fit_to_container, target_dtype
from dicomdecode.decode.handlers.base import PixelSource
from dicomdecode.decode.handlers.native import frame_bytes
from dicomdecode.errors import DecodeError
from dicomdecode.read import transfer_syntax as ts

_PIXEL_TAGS = {(0x7FE0, 0x0010), (0x7FE0, 0x0008), (0x7FE0, 0x0009)}
_NATIVE = {ts.IMPLICIT_VR_LITTLE_ENDIAN, ts.EXPLICIT_VR_LITTLE_ENDIAN,
           ts.EXPLICIT_VR_BIG_ENDIAN}
_LONG_VRS = {b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN"}


def can_read_directly(source: PixelSource) -> bool:
    """True for layouts that are a plain byte copy of the canonical frame."""
    return (
        source.transfer_syntax in _NATIVE
        and not source.float_pixels
        and source.bits_allocated in (8, 16, 32)
        and (source.samples_per_pixel == 1
             or (source.planar_configuration == 0
                 and not source.photometric_interpretation.startswith("YBR")))
        and not (source.big_endian and source.bits_allocated == 8)
    )


def _value_start(fh, offset: int, source: PixelSource) -> tuple[int, int]:
    """(file position of the Pixel Data value, its length) after checking the element."""
    fh.seek(offset)
    head = fh.read(12)
    order = ">" if source.big_endian else "<"
    if len(head) < 8:
        raise DecodeError("file ends before Pixel Data (truncated)", source.path)
    group, element = struct.unpack(f"{order}HH", head[:4])
    if (group, element) not in _PIXEL_TAGS:
        raise ValueError("no Pixel Data element at the recorded offset")
    if source.transfer_syntax == ts.IMPLICIT_VR_LITTLE_ENDIAN:
        (length,) = struct.unpack("<I", head[4:8])
        return offset + 8, length
    if head[4:6] not in _LONG_VRS or len(head) < 12:
        raise ValueError("unexpected VR for Pixel Data")
    (length,) = struct.unpack(f"{order}I", head[8:12])
    return offset + 12, length


def read_native_into(path: str, offset: int, source: PixelSource, indices: Sequence[int],
                     out: np.ndarray) -> bool:
    """Read frames `indices` of `path` into `out` (one frame per leading index).

    Returns False (having written nothing useful) when this layout needs the general path.
    """
    if not can_read_directly(source) or out.dtype != target_dtype(source):
        return False
    size = frame_bytes(source)
    with open(path, "rb") as fh:
        try:
            start, length = _value_start(fh, offset, source)
        except ValueError:
            return False
        if length == 0xFFFFFFFF:
            return False
        for position, index in enumerate(indices):
            if (index + 1) * size > length:
                raise DecodeError(
                    f"pixel data is too short: frame {index + 1} of "
                    f"{source.number_of_frames} needs {(index + 1) * size} bytes, the "
                    f"element holds {length}", path)
            target = out[position]
            if not target.flags.c_contiguous:
                return False
            fh.seek(start + index * size)
            got = fh.readinto(memoryview(target.reshape(-1)).cast("B"))
            if got != size:
                raise DecodeError(
                    f"file is truncated inside Pixel Data (frame {index + 1}: {got} of "
                    f"{size} bytes)", path)
            if source.big_endian:
                target.byteswap(inplace=True)
            fitted = fit_to_container(target, source)
            if fitted is not target and not np.shares_memory(fitted, target):
                target[...] = fitted
    return True
