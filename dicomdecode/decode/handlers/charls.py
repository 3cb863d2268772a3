"""CharLS (through pyjpegls): the fastest JPEG-LS decoder we measured.

``pip install "dicomdecode[charls]"``.
"""

from __future__ import annotations

import numpy as np

from dicomdecode.decode.handlers.base import PixelSource, RawFrame, have_module
from dicomdecode.read import transfer_syntax as ts

DEPENDENCIES: dict[str, tuple[str, ...]] = {
    uid: ("pyjpegls>=1.2",)
    for uid, row in ts.TRANSFER_SYNTAXES.items()
    if "charls" in row.handlers
}



class CharlsHandler:
    name = "charls"
    may_abort = False
    releases_gil = False
    dependencies = DEPENDENCIES

    def is_available(self) -> bool:
        return have_module("jpeg_ls")

    def supports(self, transfer_syntax: str) -> bool:
        return transfer_syntax in self.dependencies and have_module("jpeg_ls")

    def decode_frame(self, source: PixelSource, index: int) -> RawFrame:
        import jpeg_ls

        buffer, info = jpeg_ls.decode_pixel_data(source.frames[index])
        precision = int(info["bits_per_sample"])
        width = 1 if precision <= 8 else 2
        array = np.frombuffer(buffer, dtype=f"<u{width}")
        rows, cols, spp = int(info["height"]), int(info["width"]), int(info["components"])
        if (rows, cols, spp) != (source.rows, source.columns, source.samples_per_pixel):
            raise ValueError(
                f"codestream is {rows}x{cols}x{spp}, the header says "
                f"{source.rows}x{source.columns}x{source.samples_per_pixel}"
            )
        # interleave mode 0: one scan per component, so the samples come back planar
        return RawFrame(array, source.photometric_interpretation,
                        planar=spp > 1 and int(info["interleave_mode"]) == 0)
