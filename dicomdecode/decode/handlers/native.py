"""Uncompressed pixel data: implicit/explicit little endian, explicit big endian, deflated
(the whole dataset, inflated by pydicom on read), encapsulated uncompressed (.98) and
Deflated Image Frame Compression (1.2.840.10008.1.2.8.1, one deflate stream per frame).

Needs nothing beyond NumPy and zlib, so it is always available.
"""

from __future__ import annotations

import zlib

import numpy as np

from dicomdecode.decode.handlers.base import PixelSource, RawFrame
from dicomdecode.read import transfer_syntax as ts

DEPENDENCIES: dict[str, tuple[str, ...]] = {
    uid: () for uid, row in ts.TRANSFER_SYNTAXES.items() if "native" in row.handlers
}


class NativeHandler:
    name = "native"
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


def frame_bytes(source: PixelSource) -> int:
    """Bytes one frame takes in a native buffer (bit-packed frames: rounded up)."""
    pixels = source.rows * source.columns * source.samples_per_pixel
    if source.photometric_interpretation == "YBR_FULL_422" and source.bits_allocated == 8:
        pixels = source.rows * source.columns * 2
    bits = source.float_pixels or source.bits_allocated
    return (pixels * bits + 7) // 8


def _frame_from_buffer(buffer: bytes, source: PixelSource, index: int) -> RawFrame:
    rows, cols, spp = source.rows, source.columns, source.samples_per_pixel
    colour = source.photometric_interpretation
    if source.bits_allocated == 1 and not source.float_pixels:
        return RawFrame(_unpack_bits(buffer, source, index), colour)

    bits = source.float_pixels or source.bits_allocated
    if bits % 8:
        raise ValueError(f"Bits Allocated {bits} is not a whole number of bytes")
    size = frame_bytes(source)
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

    if source.float_pixels:
        kind = "f"
    else:
        kind = "u"  # signedness is applied later, from Pixel Representation
    order = ">" if source.big_endian else "<"
    array = np.frombuffer(chunk, dtype=f"{order}{kind}{bits // 8}")
    if source.big_endian and bits > 8:
        array = array.astype(array.dtype.newbyteorder("="))

    if colour == "YBR_FULL_422" and spp == 3 and bits == 8:
        return RawFrame(_expand_ybr422(array, rows, cols), "YBR_FULL")
    planar = spp > 1 and source.planar_configuration == 1
    if spp == 1:
        return RawFrame(array.reshape(rows, cols), colour)
    if planar:
        return RawFrame(array.reshape(spp, rows, cols).transpose(1, 2, 0), colour)
    return RawFrame(array.reshape(rows, cols, spp), colour)


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
    flat = bits[skip:skip + pixels]
    if source.samples_per_pixel == 1:
        return flat.reshape(source.rows, source.columns)
    return flat.reshape(source.rows, source.columns, source.samples_per_pixel)


def _expand_ybr422(array: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """YBR_FULL_422 native layout (Y1 Y2 Cb Cr per pixel pair) to full YCbCr."""
    quads = array.reshape(-1, 4)
    out = np.empty((quads.shape[0], 2, 3), dtype=np.uint8)
    out[:, 0, 0] = quads[:, 0]
    out[:, 1, 0] = quads[:, 1]
    out[:, :, 1] = quads[:, 2:3]
    out[:, :, 2] = quads[:, 3:4]
    return out.reshape(rows, cols, 3)
