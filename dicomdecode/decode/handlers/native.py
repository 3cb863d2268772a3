"""Uncompressed pixel data: implicit/explicit little endian, explicit big endian, deflated
(the whole dataset, inflated by pydicom on read), encapsulated uncompressed (.98) and
Deflated Image Frame Compression (1.2.840.10008.1.2.8.1, one deflate stream per frame).

Needs nothing beyond NumPy and zlib, so it is always available.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from dicomdecode.decode.handlers.base import RawFrame
from dicomdecode.decode.validate import check_native_size
from dicomdecode.read import transfer_syntax as ts
from dicomdecode.read.frames import read_native_into
from dicomdecode.read.pixel_source import PixelSource, frame_nbytes

DEPENDENCIES: dict[str, tuple[str, ...]] = {
    uid: () for uid, row in ts.TRANSFER_SYNTAXES.items() if "native" in row.handlers
}


class NativeHandler:
    name = "native"
    may_abort = False
    # the file read and any byte swap release the GIL: measured on 300 explicit VR slices
    # (load_series, loaded machine) threads 0.22 s, serial 0.24 s, the process pool 0.50 s
    releases_gil = True
    dependencies = DEPENDENCIES

    def is_available(self) -> bool:
        return True

    def supports(self, transfer_syntax: str) -> bool:
        return transfer_syntax in self.dependencies

    def decode_frame(self, source: PixelSource, index: int) -> RawFrame:
        if source.transfer_syntax == ts.DEFLATED_IMAGE_FRAME:
            data = zlib.decompress(source.frames[index], wbits=-zlib.MAX_WBITS)
            return _frame_from_buffer(data, source, 0)
        if source.transfer_syntax == ts.ENCAPSULATED_UNCOMPRESSED:
            return _frame_from_buffer(source.frames[index], source, 0)
        if source.native is None:
            raise ValueError("no native pixel data")
        return _frame_from_buffer(source.native, source, index)

    def read_into(self, source: PixelSource, indices: Sequence[int], out: np.ndarray) -> bool:
        """Plain native frames straight from the file into `out` (stored bytes; the
        canonical rules are applied by the caller). False when the layout needs
        :meth:`decode_frame`."""
        if source.has_pixels or source.pixel_offset < 0:
            return False
        return read_native_into(source, indices, out,
                                check_length=lambda n: check_native_size(source, n))


def _frame_from_buffer(buffer: bytes, source: PixelSource, index: int) -> RawFrame:
    colour = source.photometric_interpretation
    if source.bits_allocated == 1 and not source.float_pixels:
        return RawFrame(_unpack_bits(buffer, source, index), colour)
    bits = source.float_pixels or source.bits_allocated
    if bits % 8:
        raise ValueError(f"Bits Allocated {bits} is not a whole number of bytes")
    size = frame_nbytes(source)
    start = index * size
    if start + size > len(buffer):
        raise ValueError(
            f"pixel data is too short: frame {index + 1} of {source.number_of_frames} needs "
            f"bytes {start}..{start + size}, the data has {len(buffer)}"
        )
    if bits == 8 and source.big_endian and source.pixel_vr == "OW":
        # 8-bit data in an OW value of a big endian file is stored as swapped 16-bit words.
        even = len(buffer) - len(buffer) % 2
        buffer = np.frombuffer(buffer, dtype=">u2", count=even // 2).byteswap().tobytes()
    chunk = memoryview(buffer)[start:start + size]
    kind = "f" if source.float_pixels else "u"  # the sign comes later, from the header
    order = ">" if source.big_endian else "<"
    array = np.frombuffer(chunk, dtype=f"{order}{kind}{bits // 8}")
    if source.big_endian and bits > 8:
        array = array.astype(array.dtype.newbyteorder("="))
    planar = source.samples_per_pixel > 1 and source.planar_configuration == 1
    return RawFrame(array, colour, planar=planar)


def _unpack_bits(buffer: bytes, source: PixelSource, index: int) -> np.ndarray:
    """One frame of 1-bit data; frames are packed back to back, not byte aligned."""
    pixels = source.rows * source.columns * source.samples_per_pixel
    first_bit = index * pixels
    start, skip = divmod(first_bit, 8)
    stop = (first_bit + pixels + 7) // 8
    if stop > len(buffer):
        raise ValueError(
            f"pixel data is too short for frame {index + 1} of {source.number_of_frames} "
            f"(1-bit data needs {stop} bytes, has {len(buffer)})"
        )
    bits = np.unpackbits(np.frombuffer(buffer, dtype=np.uint8, count=stop - start, offset=start),
                         bitorder="little")
    return bits[skip:skip + pixels]
