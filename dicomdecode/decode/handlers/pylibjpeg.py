"""The permissively licensed pylibjpeg plugins, called directly (not through pydicom):

- pylibjpeg-openjpeg (MIT, OpenJPEG BSD): JPEG 2000 and HTJ2K;
- pylibjpeg-rle (MIT): RLE Lossless.

Each plugin is optional on its own; the handler supports a syntax only when the plugin for
it imports. ``pip install "dicomdecode[pylibjpeg]"`` installs both. The GPL-licensed JPEG
plugin (pylibjpeg-libjpeg) is its own handler, ``libjpeg``.
"""

from __future__ import annotations

import numpy as np

from dicomdecode.decode.handlers.base import PixelSource, RawFrame, have_module
from dicomdecode.read import transfer_syntax as ts

_OPENJPEG = "pylibjpeg-openjpeg>=2.3"
_RLE = "pylibjpeg-rle>=2.0"
_PLUGIN_FOR_FAMILY = {"j2k": _OPENJPEG, "htj2k": _OPENJPEG, "rle": _RLE}
_MODULE_FOR = {_OPENJPEG: "openjpeg", _RLE: "rle"}

DEPENDENCIES: dict[str, tuple[str, ...]] = {
    uid: (_PLUGIN_FOR_FAMILY[row.family],)
    for uid, row in ts.TRANSFER_SYNTAXES.items()
    if "pylibjpeg" in row.handlers and row.family in _PLUGIN_FOR_FAMILY
}


class PylibjpegHandler:
    name = "pylibjpeg"
    may_abort = False
    releases_gil = False
    dependencies = DEPENDENCIES

    def is_available(self) -> bool:
        return any(have_module(m) for m in _MODULE_FOR.values())

    def supports(self, transfer_syntax: str) -> bool:
        deps = self.dependencies.get(transfer_syntax, ())
        return bool(deps) and all(have_module(_MODULE_FOR[d]) for d in deps)

    def decode_frame(self, source: PixelSource, index: int) -> RawFrame:
        family = ts.TRANSFER_SYNTAXES[source.transfer_syntax].family
        data = source.frames[index]
        if family in ("j2k", "htj2k"):
            return _decode_openjpeg(data, source)
        return _decode_rle(data, source)


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
