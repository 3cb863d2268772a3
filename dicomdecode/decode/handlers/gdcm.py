"""python-gdcm: JPEG (8-bit lossy, lossless), JPEG-LS, JPEG 2000 and RLE.

One encoded frame is wrapped in a small in-memory ``gdcm.Image`` and GDCM's own codec
decodes it. GDCM objects are made per call, never cached at module level, so the handler
is safe under ``fork`` and ``spawn``. ``pip install "dicomdecode[gdcm]"``.
"""

from __future__ import annotations

import numpy as np

from dicomdecode.decode.handlers.base import HandlerDeclined, PixelSource, RawFrame, have_module
from dicomdecode.read import transfer_syntax as ts

DEPENDENCIES: dict[str, tuple[str, ...]] = {
    uid: ("python-gdcm>=3.0.10",)
    for uid, row in ts.TRANSFER_SYNTAXES.items()
    if "gdcm" in row.handlers
}



class GdcmHandler:
    name = "gdcm"
    may_abort = True
    releases_gil = False
    dependencies = DEPENDENCIES

    def is_available(self) -> bool:
        return have_module("gdcm")

    def supports(self, transfer_syntax: str) -> bool:
        return transfer_syntax in self.dependencies and have_module("gdcm")

    def decode_frame(self, source: PixelSource, index: int) -> RawFrame:
        import gdcm

        row = ts.TRANSFER_SYNTAXES[source.transfer_syntax]
        if row.family == "jpeg" and source.bits_stored > 8 and not row.uid.endswith(".50"):
            # GDCM's IJG build decodes 12-bit lossy JPEG wrongly or not at all.
            raise HandlerDeclined("GDCM does not decode lossy JPEG with more than 8 bits")
        if row.family == "jpegls" and source.bits_stored in (6, 7):
            raise HandlerDeclined("GDCM does not decode JPEG-LS with 6 or 7 bit precision")
        if source.bits_allocated not in (8, 16, 32) and row.family not in _OWN_CONTAINER:
            # GDCM aborts the whole process (uncaught C++ exception) on 1-bit RLE. JPEG-LS
            # and JPEG 2000 are decoded into the codestream's own container (8 bits for a
            # 1-bit J2K): pydicom-data's liver_j2k.dcm decodes equal to pydicom.
            raise HandlerDeclined(f"GDCM does not decode Bits Allocated {source.bits_allocated}")
        if row.family == "rle" and source.samples_per_pixel > 1 and source.bits_allocated > 8:
            # Measured on pydicom's SC_rgb_rle_16bit/32bit: GDCM returns the byte segments
            # in an order that matches neither planar nor interleaved layout.
            raise HandlerDeclined("GDCM does not decode RLE colour samples wider than 8 bits (it "
                             "mis-orders their byte segments)")

        fragment = gdcm.Fragment()
        fragment.SetByteStringValue(source.frames[index])
        fragments = gdcm.SequenceOfFragments.New()
        fragments.AddFragment(fragment)
        element = gdcm.DataElement(gdcm.Tag(0x7FE0, 0x0010))
        element.SetValue(fragments.__ref__())

        image = gdcm.Image()
        image.SetNumberOfDimensions(2)
        image.SetDimensions((source.columns, source.rows, 1))
        image.SetDataElement(element)
        pi_type = gdcm.PhotometricInterpretation.GetPIType(source.photometric_interpretation)
        image.SetPhotometricInterpretation(gdcm.PhotometricInterpretation(pi_type))
        if source.samples_per_pixel > 1:
            image.SetPlanarConfiguration(source.planar_configuration)
        ts_type = gdcm.TransferSyntax.GetTSType(source.transfer_syntax)
        image.SetTransferSyntax(gdcm.TransferSyntax(ts_type))

        allocated = _container_bits(source, row.family)
        stored = min(source.bits_stored, allocated)
        image.SetPixelFormat(gdcm.PixelFormat(
            source.samples_per_pixel, allocated, stored, stored - 1,
            source.pixel_representation,
        ))
        buffer = image.GetBuffer()
        if buffer is None:
            raise ValueError("GDCM could not decode the frame")
        data = buffer.encode("utf-8", "surrogateescape")
        kind = "i" if source.pixel_representation else "u"
        array = np.frombuffer(data, dtype=f"<{kind}{allocated // 8}")
        # GDCM's codecs hand back interleaved samples, except RLE keeps the file's layout.
        planar = (source.samples_per_pixel > 1 and row.family == "rle"
                  and source.planar_configuration == 1)
        return RawFrame(array, source.photometric_interpretation, planar=planar)


# families GDCM decodes into the container of the codestream's precision
_OWN_CONTAINER = ("jpegls", "j2k", "htj2k")


def _container_bits(source: PixelSource, family: str) -> int:
    """GDCM wants the container of the codestream's precision, not the header's guess."""
    if family in _OWN_CONTAINER:
        stored = source.bits_stored
        return 8 if stored <= 8 else 16 if stored <= 16 else 32
    return source.bits_allocated
