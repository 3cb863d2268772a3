"""imagecodecs: every image codec DICOM uses, BSD-licensed, and GIL-free while decoding.

One wheel carries libjpeg-turbo 3 (JPEG baseline, extended 8/12-bit, progressive and
lossless), CharLS (JPEG-LS), OpenJPEG (JPEG 2000), OpenJPH (HTJ2K), libjxl (JPEG XL) and a
DICOM RLE decoder. Each call releases the GIL, so a series decodes on several threads of
one process (:mod:`dicomdecode.decode.stack`). ``pip install "dicomdecode[imagecodecs]"``.

Layouts as delivered (the canonical stage does the rest):
- JPEG: components as stored (``outcolorspace`` = the codestream's own colour space, so
  libjpeg-turbo converts nothing; :mod:`~dicomdecode.decode.dispatch` decides YCbCr/RGB);
- JPEG-LS, JPEG 2000, HTJ2K, JPEG XL: interleaved ``(rows, cols[, samples])``; the J2K
  decoders apply the inverse ICT/RCT themselves, libjxl returns RGB;
- RLE: one segment per byte plane, returned as the samples of each plane: planar.

Lossy HTJ2K (.203) is decoded by OpenJPEG, not OpenJPH: OpenJPH wraps the values an
irreversible transform pushes past the sample range (0 where OpenJPEG gives 255, pydicom's
``HTJ2K_08_RGB.dcm``: 657 samples) inside its 8-bit output, where no clamp can repair it.
"""

from __future__ import annotations

import functools

import numpy as np

from dicomdecode.decode.handlers.base import PixelSource, RawFrame, have_module
from dicomdecode.decode.handlers.unraisable import reported_errors
from dicomdecode.read import transfer_syntax as ts
from dicomdecode.read.jpeg_repair import repair_sequential_scan

DEPENDENCIES: dict[str, tuple[str, ...]] = {
    uid: ("imagecodecs>=2024.9.22",)
    for uid, row in ts.TRANSFER_SYNTAXES.items()
    if "imagecodecs" in row.handlers
}

# The codec each family needs inside imagecodecs (a build may lack one: then the handler
# declines that family, see `supports`).
_CODEC_FOR_FAMILY = {
    "jpeg": "JPEG8", "jpeg-lossless": "JPEG8", "jpegls": "JPEGLS", "j2k": "JPEG2K",
    "htj2k": "HTJ2K", "jpegxl": "JPEGXL", "rle": "DICOMRLE",
}



@functools.cache
def _have_codec(family: str) -> bool:
    if not have_module("imagecodecs"):
        return False
    import imagecodecs

    codec = getattr(imagecodecs, _CODEC_FOR_FAMILY.get(family, ""), None)
    return bool(codec is not None and getattr(codec, "available", False))


class ImagecodecsHandler:
    name = "imagecodecs"
    may_abort = False
    releases_gil = True
    dependencies = DEPENDENCIES

    def is_available(self) -> bool:
        return have_module("imagecodecs")

    def supports(self, transfer_syntax: str) -> bool:
        row = ts.lookup(transfer_syntax)
        return (row is not None and transfer_syntax in self.dependencies
                and _have_codec(row.family))

    def decode_frame(self, source: PixelSource, index: int) -> RawFrame:
        family = ts.TRANSFER_SYNTAXES[source.transfer_syntax].family
        data = source.frames[index]
        # some imagecodecs helpers print a codec's error instead of raising it and return
        # a partly filled array (OpenJPH on a corrupt code block): see unraisable.py
        with reported_errors("imagecodecs.") as swallowed:
            if family in ("jpeg", "jpeg-lossless"):
                raw = _decode_jpeg(data, source)
            elif family == "rle":
                raw = _decode_rle(data, source)
            else:
                raw = _DECODERS[family](data, source)
        if swallowed:
            first = swallowed[0]
            raise CodecErrorSwallowed(
                f"{_CODEC_FOR_FAMILY.get(family, family)} failed on frame {index} "
                f"({type(first).__name__}: {first}) but returned an array; its pixels "
                "are incomplete")
        return raw


class CodecErrorSwallowed(RuntimeError):
    """imagecodecs reported a codec error without raising it: the array is not the image."""


def _decode_jpeg(data: bytes, source: PixelSource) -> RawFrame:
    import imagecodecs

    # Decode the components as stored: libjpeg-turbo would otherwise turn what it guesses
    # is YCbCr into RGB; the guess is made once, for every handler, in dispatch.
    space = imagecodecs.JPEG8.CS
    stored = space.GRAYSCALE if source.samples_per_pixel == 1 else space.YCbCr
    try:
        array = imagecodecs.jpeg8_decode(data, colorspace=stored, outcolorspace=stored)
    except imagecodecs.JPEG8Error:
        repaired = repair_sequential_scan(data)  # Se=0 sequential scans (NEMA JPEG-lossy)
        if repaired is None:
            raise
        array = imagecodecs.jpeg8_decode(repaired, colorspace=stored, outcolorspace=stored)
    return RawFrame(array, source.photometric_interpretation)


def _decode_jpegls(data: bytes, source: PixelSource) -> RawFrame:
    import imagecodecs

    return RawFrame(imagecodecs.jpegls_decode(data), source.photometric_interpretation)


def _decode_j2k(data: bytes, source: PixelSource) -> RawFrame:
    import imagecodecs

    # numthreads=1: series are spread over threads one frame each (stack.py); OpenJPEG's
    # own tile threads would compete with them
    return RawFrame(imagecodecs.jpeg2k_decode(data, numthreads=1),
                    source.photometric_interpretation)


def _decode_htj2k(data: bytes, source: PixelSource) -> RawFrame:
    import imagecodecs

    if ts.TRANSFER_SYNTAXES[source.transfer_syntax].lossy:
        # OpenJPH wraps the values an irreversible transform pushes past the sample range
        # (0 where 255 belongs) in its own 8/16-bit output, past repair; OpenJPEG, which
        # also decodes HTJ2K, clamps them as every other decoder does
        return _decode_j2k(data, source)
    return RawFrame(imagecodecs.htj2k_decode(data), source.photometric_interpretation)


def _decode_jpegxl(data: bytes, source: PixelSource) -> RawFrame:
    import imagecodecs

    array = imagecodecs.jpegxl_decode(data, numthreads=1)
    # libjxl returns grey or RGB samples (it undoes XYB and, for recompressed JPEG, YCbCr)
    colour = "RGB" if source.samples_per_pixel == 3 else source.photometric_interpretation
    return RawFrame(array, colour)


def _decode_rle(data: bytes, source: PixelSource) -> RawFrame:
    import imagecodecs

    pixels = source.rows * source.columns
    if source.bits_allocated == 1:
        # 1-bit frames are RLE-coded as packed bytes (8 pixels a byte, LSB first)
        packed = imagecodecs.dicomrle_decode(data, "u1")
        unpacked = np.unpackbits(np.frombuffer(packed, dtype=np.uint8), bitorder="little")
        return RawFrame(unpacked[:pixels], source.photometric_interpretation)
    width = max(source.bits_allocated, 8) // 8
    decoded = imagecodecs.dicomrle_decode(data, f"<u{width}")
    array = np.frombuffer(decoded, dtype=f"<u{width}")
    # RLE stores each sample as its own segment group: the frame comes back planar
    return RawFrame(array, source.photometric_interpretation,
                    planar=source.samples_per_pixel > 1)


_DECODERS = {
    "jpegls": _decode_jpegls,
    "j2k": _decode_j2k,
    "htj2k": _decode_htj2k,
    "jpegxl": _decode_jpegxl,
}
