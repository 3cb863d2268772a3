"""Uncompressed pixel data: implicit/explicit little endian, explicit big endian, deflated
(the whole dataset, inflated by pydicom on read), encapsulated uncompressed (.98) and
Deflated Image Frame Compression (1.2.840.10008.1.2.8.1, one deflate stream per frame);
and RLE Lossless, by the built-in decoder :mod:`dicomdecode.read.rlecore`.

Needs nothing beyond NumPy and zlib, so it is always available. For RLE it comes first
where that decoder is compiled (GIL-free, and :meth:`NativeHandler.read_into` writes the
values straight into the caller's stack slice) and last where it runs interpreted
(:func:`dicomdecode.read.transfer_syntax._rle_order`).
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Sequence

import numpy as np

from dicomdecode.decode.handlers.base import HandlerDeclined, RawFrame
from dicomdecode.decode.validate import check_data, check_native_size
from dicomdecode.read import rlecore
from dicomdecode.read import transfer_syntax as ts
from dicomdecode.read.frames import read_encapsulated_frames, read_native_into
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
        if source.transfer_syntax == ts.RLE_LOSSLESS:
            return _decode_rle(source.frames[index], source)
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
        canonical rules are applied by the caller). RLE frames are decoded into `out`
        (:func:`_rle_into`). False when the layout needs :meth:`decode_frame`."""
        if source.transfer_syntax == ts.RLE_LOSSLESS:
            return _rle_into(source, indices, out)
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


# --------------------------------------------------------------------------- RLE
_LITTLE = sys.byteorder == "little"
# frames of one file from which dispatch's threads (one frame each, decode_frame) beat one
# thread writing every frame in place: dispatch._THREADED_MIN_FRAMES
_IN_PLACE_MAX_FRAMES = 3


def _rle_width(source: PixelSource) -> int:
    """Bytes per sample (segments per sample) of an RLE frame the decoder can place in the
    canonical container; HandlerDeclined for a layout it leaves to the codec libraries."""
    bits = source.bits_allocated
    if source.float_pixels or bits not in (1, 8, 16, 32):
        raise HandlerDeclined(f"RLE of {bits}-bit samples is left to the codec libraries")
    return max(bits // 8, 1)


def _decode_rle(frame: bytes, source: PixelSource) -> RawFrame:
    """One RLE frame as a new array of interleaved samples in the canonical container."""
    width = _rle_width(source)
    pixels = source.rows * source.columns
    colour = source.photometric_interpretation
    if source.bits_allocated == 1:
        # 1-bit frames are RLE-coded as packed bytes (8 pixels a byte, LSB first)
        packed = np.empty((pixels + 7) // 8, dtype=np.uint8)
        rlecore.decode_frame_into(bytes(frame), packed, packed.size, 1, 1, False, _LITTLE)
        return RawFrame(np.unpackbits(packed, bitorder="little")[:pixels], colour)
    samples = source.samples_per_pixel
    array = np.empty(pixels * samples, dtype=f"=u{width}")
    rlecore.decode_frame_into(bytes(frame), array.view(np.uint8), pixels, samples, width,
                              False, _LITTLE)
    return RawFrame(array, colour)


def _rle_into(source: PixelSource, indices: Sequence[int], out: np.ndarray) -> bool:
    """RLE frames `indices` decoded straight into `out` (the stack slice): the stored
    values in the canonical container, interleaved, one GIL-free pass per frame. False
    (the caller then takes decode_frame's road, which names every handler's reason) for
    a layout this does not place, a colour space that needs converting, a file whose
    frames are read the general way, or a frame the decoder refuses."""
    samples = source.samples_per_pixel
    if (source.bits_allocated not in (8, 16, 32) or source.float_pixels
            or (samples > 1 and source.photometric_interpretation != "RGB")
            or len(indices) > _IN_PLACE_MAX_FRAMES or not out.flags.c_contiguous
            or out.dtype.itemsize != source.bits_allocated // 8):
        return False
    frames = source.frames
    if not source.has_pixels:
        found = read_encapsulated_frames(source)
        if found is None:
            return False
        frames = found
        check_data(source, frames, None, indices)  # the guard, as dispatch does
    width = source.bits_allocated // 8
    pixels = source.rows * source.columns
    flat = out.reshape(len(indices), -1).view(np.uint8)
    try:
        for position, index in enumerate(indices):
            rlecore.decode_frame_into(bytes(frames[index]), flat[position], pixels, samples,
                                      width, False, _LITTLE)
    except ValueError:
        return False
    return True
