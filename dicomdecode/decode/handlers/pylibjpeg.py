"""The pylibjpeg plugins, called directly (not through pydicom):

- pylibjpeg-libjpeg: JPEG (baseline, extended, lossless, and the retired processes) and
  JPEG-LS;
- pylibjpeg-openjpeg: JPEG 2000 and HTJ2K;
- pylibjpeg-rle: RLE Lossless.

Each plugin is optional on its own; the handler supports a syntax only when the plugin for
it imports. ``pip install "dicomdecode[pylibjpeg]"`` installs all three.
"""

from __future__ import annotations

import functools

import numpy as np

from dicomdecode.decode.handlers.base import PixelSource, RawFrame, import_flag
from dicomdecode.read import transfer_syntax as ts
from dicomdecode.read.jpeg_repair import repair_sequential_scan

_LIBJPEG_FAMILIES = ("jpeg", "jpeg-lossless", "jpegls")
_OPENJPEG_FAMILIES = ("j2k", "htj2k")

DEPENDENCIES: dict[str, tuple[str, ...]] = {}
for _uid, _row in ts.TRANSFER_SYNTAXES.items():
    if "pylibjpeg" not in _row.handlers:
        continue
    if _row.family in _LIBJPEG_FAMILIES:
        DEPENDENCIES[_uid] = ("pylibjpeg-libjpeg>=2.1",)
    elif _row.family in _OPENJPEG_FAMILIES:
        DEPENDENCIES[_uid] = ("pylibjpeg-openjpeg>=2.3",)
    elif _row.family == "rle":
        DEPENDENCIES[_uid] = ("pylibjpeg-rle>=2.0",)


@functools.cache
def _have(module: str) -> bool:
    return import_flag(lambda: __import__(module))


_MODULE_FOR = {"pylibjpeg-libjpeg>=2.1": "libjpeg", "pylibjpeg-openjpeg>=2.3": "openjpeg",
               "pylibjpeg-rle>=2.0": "rle"}


class PylibjpegHandler:
    name = "pylibjpeg"
    may_abort = False
    dependencies = DEPENDENCIES

    def is_available(self) -> bool:
        return any(_have(m) for m in _MODULE_FOR.values())

    def supports(self, transfer_syntax: str) -> bool:
        deps = self.dependencies.get(transfer_syntax, ())
        return bool(deps) and all(_have(_MODULE_FOR[d]) for d in deps)

    def decode_frame(self, source: PixelSource, index: int) -> RawFrame:
        family = ts.TRANSFER_SYNTAXES[source.transfer_syntax].family
        data = source.frames[index]
        if family in _LIBJPEG_FAMILIES:
            return _decode_libjpeg(data, source)
        if family in _OPENJPEG_FAMILIES:
            return _decode_openjpeg(data, source)
        return _decode_rle(data, source)


def _decode_libjpeg(data: bytes, source: PixelSource) -> RawFrame:
    import libjpeg

    # colour_transform=0: no colour conversion in the codec; pixels.py does it once.
    try:
        array = libjpeg.decode(data, colour_transform=0, reshape=True)
    except RuntimeError:
        repaired = repair_sequential_scan(data)
        if repaired is None:
            raise
        array = libjpeg.decode(repaired, colour_transform=0, reshape=True)
    return RawFrame(array, source.photometric_interpretation)


def _decode_openjpeg(data: bytes, source: PixelSource) -> RawFrame:
    import openjpeg

    array = openjpeg.decode(data)
    spp = source.samples_per_pixel
    planar = (spp > 1 and array.ndim == 3 and array.shape == (spp, source.rows, source.columns)
              and array.shape != (source.rows, source.columns, spp))
    return RawFrame(array, source.photometric_interpretation, planar=planar)


def _decode_rle(data: bytes, source: PixelSource) -> RawFrame:
    from rle.utils import decode_frame

    pixels = source.rows * source.columns
    if source.bits_allocated == 1:
        # 1-bit frames are RLE-coded as packed bytes (8 pixels a byte, LSB first).
        packed = decode_frame(data, (pixels + 7) // 8, 8, "<")
        unpacked = np.unpackbits(np.frombuffer(packed, dtype=np.uint8), bitorder="little")
        return RawFrame(unpacked[:pixels], source.photometric_interpretation)
    decoded = decode_frame(data, pixels, source.bits_allocated, "<")
    bits = max(source.bits_allocated, 8)
    array = np.frombuffer(decoded, dtype=f"<u{bits // 8}")
    # RLE stores each sample as its own segment group: the frame comes back planar.
    return RawFrame(array, source.photometric_interpretation,
                    planar=source.samples_per_pixel > 1)
