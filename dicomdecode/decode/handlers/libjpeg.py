"""pylibjpeg-libjpeg (Thomas Richter's libjpeg): JPEG baseline, extended, lossless and
the retired processes. **GPL-3.0**: it is not part of ``[all]``; install it on purpose
with ``pip install "dicomdecode[libjpeg-gpl]"``.

It decodes the corrupt-scan and retired-process files the others also decode (imagecodecs'
libjpeg-turbo 3 covers them now), so it is an optional third opinion, not a requirement.
It is no JPEG-LS fallback: on a corrupt stream that CharLS and GDCM refuse it returns an
all-zero image without an error (found by fuzz/, seed 7 #3543).
"""

from __future__ import annotations

from dicomdecode.decode.handlers.base import PixelSource, RawFrame, have_module
from dicomdecode.read import transfer_syntax as ts
from dicomdecode.read.jpeg_repair import repair_sequential_scan

DEPENDENCIES: dict[str, tuple[str, ...]] = {
    uid: ("pylibjpeg-libjpeg>=2.1",)
    for uid, row in ts.TRANSFER_SYNTAXES.items()
    if "libjpeg" in row.handlers
}



class LibjpegHandler:
    name = "libjpeg"
    may_abort = False
    releases_gil = False
    dependencies = DEPENDENCIES

    def is_available(self) -> bool:
        return have_module("libjpeg")

    def supports(self, transfer_syntax: str) -> bool:
        return transfer_syntax in self.dependencies and have_module("libjpeg")

    def decode_frame(self, source: PixelSource, index: int) -> RawFrame:
        import libjpeg

        data = source.frames[index]
        # colour_transform=0: no colour conversion in the codec; dispatch decides once
        try:
            array = libjpeg.decode(data, colour_transform=0, reshape=True)
        except RuntimeError:
            repaired = repair_sequential_scan(data)
            if repaired is None:
                raise
            array = libjpeg.decode(repaired, colour_transform=0, reshape=True)
        return RawFrame(array, source.photometric_interpretation)
