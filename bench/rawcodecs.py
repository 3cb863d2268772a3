"""Raw codec calls used by the benchmarks (no dicomdecode involved).

Each raw decoder takes one encoded frame (bytes) plus a small pixel description
and returns the decoded frame as bytes-like, exactly the call a handler would make.
These give the "codec floor": what the decoding library alone costs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EXPLICIT = "1.2.840.10008.1.2.1"
IMPLICIT = "1.2.840.10008.1.2"
RLE = "1.2.840.10008.1.2.5"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_LOSSLESS = "1.2.840.10008.1.2.4.57"
JPEG_SV1 = "1.2.840.10008.1.2.4.70"
JLS_LOSSLESS = "1.2.840.10008.1.2.4.80"
JLS_NEAR = "1.2.840.10008.1.2.4.81"
J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
J2K = "1.2.840.10008.1.2.4.91"
HTJ2K_LOSSLESS = "1.2.840.10008.1.2.4.201"
HTJ2K_RPCL = "1.2.840.10008.1.2.4.202"
HTJ2K = "1.2.840.10008.1.2.4.203"

NATIVE_SYNTAXES = {EXPLICIT, IMPLICIT}
JPEG_SYNTAXES = {JPEG_BASELINE, JPEG_LOSSLESS, JPEG_SV1}
JLS_SYNTAXES = {JLS_LOSSLESS, JLS_NEAR}
J2K_SYNTAXES = {J2K_LOSSLESS, J2K}
HTJ2K_SYNTAXES = {HTJ2K_LOSSLESS, HTJ2K_RPCL, HTJ2K}


@dataclass
class Pix:
    ts: str
    rows: int
    cols: int
    samples: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    photometric: str
    planar: int

    @property
    def dtype(self) -> np.dtype:
        kind = "i" if self.pixel_representation else "u"
        return np.dtype(f"<{kind}{self.bits_allocated // 8}")

    @property
    def shape(self) -> tuple[int, ...]:
        if self.samples > 1:
            return (self.rows, self.cols, self.samples)
        return (self.rows, self.cols)


def read_frames(path: str | Path) -> tuple[Pix, list[bytes]]:
    """Read one file with pydicom and return its pixel description and raw frames."""
    import pydicom
    from pydicom.encaps import generate_frames

    ds = pydicom.dcmread(path)
    ts = str(ds.file_meta.TransferSyntaxUID)
    pix = Pix(
        ts=ts,
        rows=int(ds.Rows),
        cols=int(ds.Columns),
        samples=int(ds.get("SamplesPerPixel", 1)),
        bits_allocated=int(ds.BitsAllocated),
        bits_stored=int(ds.get("BitsStored", ds.BitsAllocated)),
        pixel_representation=int(ds.get("PixelRepresentation", 0)),
        photometric=str(ds.get("PhotometricInterpretation", "MONOCHROME2")),
        planar=int(ds.get("PlanarConfiguration", 0) or 0),
    )
    nframes = int(ds.get("NumberOfFrames", 1) or 1)
    if ts in NATIVE_SYNTAXES:
        data = bytes(ds.PixelData)
        n = pix.rows * pix.cols * pix.samples * pix.bits_allocated // 8
        frames = [data[i * n:(i + 1) * n] for i in range(nframes)]
    else:
        frames = list(generate_frames(ds.PixelData, number_of_frames=nframes))
    return pix, frames


# --------------------------------------------------------------------------- decoders


def _memcpy(src: bytes, pix: Pix):
    return src


def _rle(src: bytes, pix: Pix):
    from rle.utils import decode_pixel_data

    return decode_pixel_data(src, version=2, rows=pix.rows, columns=pix.cols,
                             bits_allocated=pix.bits_allocated,
                             samples_per_pixel=pix.samples)


def _libjpeg(src: bytes, pix: Pix):
    from libjpeg.utils import decode_pixel_data

    return decode_pixel_data(src, version=2)


def _openjpeg(src: bytes, pix: Pix):
    from openjpeg.utils import decode_pixel_data

    return decode_pixel_data(src, version=2)


def _charls(src: bytes, pix: Pix):
    from jpeg_ls import decode_pixel_data

    out, _info = decode_pixel_data(src)
    return out


def _dicomdecode_rle(src: bytes, pix: Pix):
    """dicomdecode's own RLE decoder (read/rlecore), as the native handler calls it."""
    import sys

    from dicomdecode.read import rlecore

    width = pix.bits_allocated // 8
    out = np.empty(pix.rows * pix.cols * pix.samples * width, np.uint8)
    rlecore.decode_frame_into(bytes(src), out, pix.rows * pix.cols, pix.samples, width,
                              False, sys.byteorder == "little")
    return out


def _imagecodecs(src: bytes, pix: Pix):
    """imagecodecs' codec for the syntax, as the imagecodecs handler calls it."""
    import imagecodecs

    if pix.ts in JPEG_SYNTAXES:
        return imagecodecs.jpeg8_decode(src)
    if pix.ts in JLS_SYNTAXES:
        return imagecodecs.jpegls_decode(src)
    if pix.ts in J2K_SYNTAXES:
        return imagecodecs.jpeg2k_decode(src, numthreads=1)
    if pix.ts in HTJ2K_SYNTAXES:
        return imagecodecs.htj2k_decode(src)
    return imagecodecs.dicomrle_decode(src, f"<u{pix.bits_allocated // 8}")


def _gdcm(src: bytes, pix: Pix):
    """In-memory GDCM decode of one frame (same calls as pydicom's gdcm plugin)."""
    import gdcm

    fragment = gdcm.Fragment()
    fragment.SetByteStringValue(src)
    fragments = gdcm.SequenceOfFragments.New()
    fragments.AddFragment(fragment)
    elem = gdcm.DataElement(gdcm.Tag(0x7FE0, 0x0010))
    elem.SetValue(fragments.__ref__())
    img = gdcm.Image()
    img.SetNumberOfDimensions(2)
    img.SetDimensions((pix.cols, pix.rows, 1))
    img.SetDataElement(elem)
    pi_type = gdcm.PhotometricInterpretation.GetPIType(pix.photometric)
    img.SetPhotometricInterpretation(gdcm.PhotometricInterpretation(pi_type))
    if pix.samples > 1:
        img.SetPlanarConfiguration(pix.planar)
    img.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.GetTSType(pix.ts)))
    img.SetPixelFormat(gdcm.PixelFormat(pix.samples, pix.bits_allocated, pix.bits_stored,
                                        pix.bits_stored - 1, pix.pixel_representation))
    return img.GetBuffer().encode("utf-8", "surrogateescape")


RAW_DECODERS: dict[str, tuple[set[str], Callable]] = {
    "memcpy": (NATIVE_SYNTAXES, _memcpy),
    "pylibjpeg-rle": ({RLE}, _rle),
    "dicomdecode-rle": ({RLE}, _dicomdecode_rle),
    "libjpeg": (JPEG_SYNTAXES | JLS_SYNTAXES, _libjpeg),
    "imagecodecs": ({RLE} | JPEG_SYNTAXES | JLS_SYNTAXES | J2K_SYNTAXES | HTJ2K_SYNTAXES,
                    _imagecodecs),
    "openjpeg": (J2K_SYNTAXES | HTJ2K_SYNTAXES, _openjpeg),
    "charls": (JLS_SYNTAXES, _charls),
    "gdcm": ({RLE} | JPEG_SYNTAXES | JLS_SYNTAXES | J2K_SYNTAXES, _gdcm),
}

_IMPORT = {
    "memcpy": "numpy",
    "pylibjpeg-rle": "rle",
    "dicomdecode-rle": "dicomdecode.read.rlecore",
    "libjpeg": "libjpeg",
    "imagecodecs": "imagecodecs",
    "openjpeg": "openjpeg",
    "charls": "jpeg_ls",
    "gdcm": "gdcm",
}


def available(name: str) -> bool:
    import importlib

    try:
        importlib.import_module(_IMPORT[name])
        return True
    except Exception:
        return False


def decoders_for(ts: str) -> list[str]:
    return [n for n, (s, _) in RAW_DECODERS.items() if ts in s and available(n)]


def decode_into(name: str, src: bytes, pix: Pix, out: np.ndarray) -> None:
    """Decode one frame with raw codec `name` into `out` (a (rows, cols[, s]) view)."""
    buf = RAW_DECODERS[name][1](src, pix)
    n = out.nbytes
    arr = np.frombuffer(buf, dtype=np.uint8, count=n)
    out.reshape(-1).view(np.uint8)[:] = arr
