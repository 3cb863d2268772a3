"""Every transfer syntax in the DICOM standard, and who decodes it.

One table answers: what is this UID called, which family of codec does it need, is it
encapsulated or lossy, and which handlers may decode it, in order of preference. The order
comes from measurement (bench/bench_handlers.py, table in the README): fastest correct first.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TransferSyntax:
    uid: str
    name: str
    family: str  # native, deflate, rle, jpeg, jpeg-lossless, jpegls, j2k, htj2k, jpegxl, jpip, video, ...
    encapsulated: bool
    lossy: bool
    handlers: tuple[str, ...]  # handler names that can decode it, preferred first; () = none
    retired: bool = False

    @property
    def decodable(self) -> bool:
        """True if some dicomdecode handler knows this syntax (installed or not)."""
        return bool(self.handlers)


# Preference orders, from bench/bench_handlers.py on a 512x512 int16 CT slice (README table).
_NATIVE = ("native",)
# libjpeg first: on corrupt DCT data GDCM's decoder aborts the process (fuzz/, seed 23
# #8147) where libjpeg raises; and libjpeg was measured faster on RGB (README table)
_JPEG_LOSSY = ("imagecodecs", "libjpeg", "gdcm")
_JPEG_12BIT = ("imagecodecs", "libjpeg", "gdcm")  # GDCM cannot decode 12-bit JPEG extended
_JPEG_LOSSLESS = ("imagecodecs", "gdcm", "libjpeg")  # libjpeg clamps where it must wrap (pylibjpeg-libjpeg #90)
_JPEG_RETIRED = ("imagecodecs", "libjpeg", "gdcm")
# pylibjpeg-libjpeg is no JPEG-LS fallback: on a corrupt stream that CharLS and GDCM
# refuse it returns an all-zero image without an error (found by fuzz/, seed 7 #3543)
_JPEGLS = ("imagecodecs", "charls", "gdcm")
_J2K = ("imagecodecs", "pylibjpeg", "gdcm")  # OpenJPEG 7.7 s vs GDCM 9.2 s for 300 CT slices (bench/)
_HTJ2K = ("imagecodecs", "pylibjpeg")
_RLE = ("imagecodecs", "pylibjpeg", "gdcm")


def _rle_order() -> tuple[str, ...]:
    """RLE: the built-in decoder (:mod:`~dicomdecode.read.rlecore`, "native") first when it
    is compiled: GIL-free, written straight into the stack, ~1.6x as fast as imagecodecs per
    frame; interpreted it is ~600x slower (0.17 s a frame), so then it is the decoder of
    last resort that needs no library, after every codec library."""
    from dicomdecode.read.rlecore import COMPILED

    return ("native", *_RLE) if COMPILED else (*_RLE, "native")

_JPEGXL = ("imagecodecs",)

_T = TransferSyntax
_ROWS: list[TransferSyntax] = [
    _T("1.2.840.10008.1.2", "Implicit VR Little Endian", "native", False, False, _NATIVE),
    _T("1.2.840.10008.1.2.1", "Explicit VR Little Endian", "native", False, False, _NATIVE),
    _T("1.2.840.10008.1.2.1.98", "Encapsulated Uncompressed Explicit VR Little Endian",
       "native", True, False, _NATIVE),
    _T("1.2.840.10008.1.2.1.99", "Deflated Explicit VR Little Endian", "deflate", False, False,
       _NATIVE),
    _T("1.2.840.10008.1.2.2", "Explicit VR Big Endian", "native", False, False, _NATIVE,
       retired=True),
    _T("1.2.840.10008.1.2.8.1", "Deflated Image Frame Compression", "deflate", True, False,
       _NATIVE),
    _T("1.2.840.10008.1.2.5", "RLE Lossless", "rle", True, False, _rle_order()),
    _T("1.2.840.10008.1.2.4.50", "JPEG Baseline (Process 1)", "jpeg", True, True, _JPEG_LOSSY),
    _T("1.2.840.10008.1.2.4.51", "JPEG Extended (Process 2 and 4)", "jpeg", True, True,
       _JPEG_12BIT),
    _T("1.2.840.10008.1.2.4.52", "JPEG Extended (Process 3 and 5)", "jpeg", True, True,
       _JPEG_RETIRED, retired=True),
    _T("1.2.840.10008.1.2.4.53", "JPEG Spectral Selection, Non-Hierarchical (Process 6 and 8)",
       "jpeg", True, True, _JPEG_RETIRED, retired=True),
    _T("1.2.840.10008.1.2.4.54", "JPEG Spectral Selection, Non-Hierarchical (Process 7 and 9)",
       "jpeg", True, True, _JPEG_RETIRED, retired=True),
    _T("1.2.840.10008.1.2.4.55", "JPEG Full Progression, Non-Hierarchical (Process 10 and 12)",
       "jpeg", True, True, _JPEG_RETIRED, retired=True),
    _T("1.2.840.10008.1.2.4.56", "JPEG Full Progression, Non-Hierarchical (Process 11 and 13)",
       "jpeg", True, True, _JPEG_RETIRED, retired=True),
    _T("1.2.840.10008.1.2.4.57", "JPEG Lossless, Non-Hierarchical (Process 14)",
       "jpeg-lossless", True, False, _JPEG_LOSSLESS),
    _T("1.2.840.10008.1.2.4.58", "JPEG Lossless, Non-Hierarchical (Process 15)",
       "jpeg-lossless", True, False, _JPEG_RETIRED, retired=True),
    *[
        _T(f"1.2.840.10008.1.2.4.{n}", f"JPEG Hierarchical (Process {p})", "jpeg", True,
           True, _JPEG_RETIRED, retired=True)
        for n, p in [(59, "16 and 18"), (60, "17 and 19"), (61, "20 and 22"),
                     (62, "21 and 23"), (63, "24 and 26"), (64, "25 and 27")]
    ],
    _T("1.2.840.10008.1.2.4.65", "JPEG Lossless, Hierarchical (Process 28)", "jpeg-lossless",
       True, False, _JPEG_RETIRED, retired=True),
    _T("1.2.840.10008.1.2.4.66", "JPEG Lossless, Hierarchical (Process 29)", "jpeg-lossless",
       True, False, _JPEG_RETIRED, retired=True),
    _T("1.2.840.10008.1.2.4.70",
       "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14, SV1)",
       "jpeg-lossless", True, False, _JPEG_LOSSLESS),
    _T("1.2.840.10008.1.2.4.80", "JPEG-LS Lossless", "jpegls", True, False, _JPEGLS),
    _T("1.2.840.10008.1.2.4.81", "JPEG-LS Lossy (Near-Lossless)", "jpegls", True, True, _JPEGLS),
    _T("1.2.840.10008.1.2.4.90", "JPEG 2000 Lossless Only", "j2k", True, False, _J2K),
    _T("1.2.840.10008.1.2.4.91", "JPEG 2000", "j2k", True, True, _J2K),
    _T("1.2.840.10008.1.2.4.92", "JPEG 2000 Part 2 Multi-component Lossless Only", "j2k",
       True, False, _J2K),
    _T("1.2.840.10008.1.2.4.93", "JPEG 2000 Part 2 Multi-component", "j2k", True, True, _J2K),
    _T("1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 Lossless Only", "htj2k", True,
       False, _HTJ2K),
    _T("1.2.840.10008.1.2.4.202", "High-Throughput JPEG 2000 with RPCL Options Lossless Only",
       "htj2k", True, False, _HTJ2K),
    _T("1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000", "htj2k", True, True, _HTJ2K),
    _T("1.2.840.10008.1.2.4.110", "JPEG XL Lossless", "jpegxl", True, False, _JPEGXL),
    _T("1.2.840.10008.1.2.4.111", "JPEG XL JPEG Recompression", "jpegxl", True, True, _JPEGXL),
    _T("1.2.840.10008.1.2.4.112", "JPEG XL", "jpegxl", True, True, _JPEGXL),
    _T("1.2.840.10008.1.2.4.94", "JPIP Referenced", "jpip", False, True, ()),
    _T("1.2.840.10008.1.2.4.95", "JPIP Referenced Deflate", "jpip", False, True, ()),
    _T("1.2.840.10008.1.2.4.204", "JPIP HTJ2K Referenced", "jpip", False, True, ()),
    _T("1.2.840.10008.1.2.4.205", "JPIP HTJ2K Referenced Deflate", "jpip", False, True, ()),
    _T("1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level", "video", True, True, ()),
    _T("1.2.840.10008.1.2.4.100.1", "Fragmentable MPEG2 Main Profile / Main Level", "video",
       True, True, ()),
    _T("1.2.840.10008.1.2.4.101", "MPEG2 Main Profile / High Level", "video", True, True, ()),
    _T("1.2.840.10008.1.2.4.101.1", "Fragmentable MPEG2 Main Profile / High Level", "video",
       True, True, ()),
    _T("1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile / Level 4.1", "video", True,
       True, ()),
    _T("1.2.840.10008.1.2.4.102.1", "Fragmentable MPEG-4 AVC/H.264 High Profile / Level 4.1",
       "video", True, True, ()),
    _T("1.2.840.10008.1.2.4.103", "MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1",
       "video", True, True, ()),
    _T("1.2.840.10008.1.2.4.103.1",
       "Fragmentable MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1", "video", True,
       True, ()),
    _T("1.2.840.10008.1.2.4.104", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video",
       "video", True, True, ()),
    _T("1.2.840.10008.1.2.4.104.1",
       "Fragmentable MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video", "video", True,
       True, ()),
    _T("1.2.840.10008.1.2.4.105", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video",
       "video", True, True, ()),
    _T("1.2.840.10008.1.2.4.105.1",
       "Fragmentable MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video", "video", True,
       True, ()),
    _T("1.2.840.10008.1.2.4.106", "MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2", "video",
       True, True, ()),
    _T("1.2.840.10008.1.2.4.106.1",
       "Fragmentable MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2", "video", True, True, ()),
    _T("1.2.840.10008.1.2.4.107", "HEVC/H.265 Main Profile / Level 5.1", "video", True, True,
       ()),
    _T("1.2.840.10008.1.2.4.108", "HEVC/H.265 Main 10 Profile / Level 5.1", "video", True,
       True, ()),
    _T("1.2.840.10008.1.2.7.1", "SMPTE ST 2110-20 Uncompressed Progressive Active Video",
       "smpte2110", False, False, ()),
    _T("1.2.840.10008.1.2.7.2", "SMPTE ST 2110-20 Uncompressed Interlaced Active Video",
       "smpte2110", False, False, ()),
    _T("1.2.840.10008.1.2.7.3", "SMPTE ST 2110-30 PCM Digital Audio", "smpte2110", False,
       False, ()),
    _T("1.2.840.10008.1.2.6.1", "RFC 2557 MIME encapsulation", "mime", False, False, (),
       retired=True),
    _T("1.2.840.10008.1.2.6.2", "XML Encoding", "xml", False, False, (), retired=True),
]

TRANSFER_SYNTAXES: dict[str, TransferSyntax] = {row.uid: row for row in _ROWS}

IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"
DEFLATED_IMAGE_FRAME = "1.2.840.10008.1.2.8.1"
ENCAPSULATED_UNCOMPRESSED = "1.2.840.10008.1.2.1.98"
DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.99"
RLE_LOSSLESS = "1.2.840.10008.1.2.5"
#: syntaxes whose Pixel Data is a plain byte array (read by offset, no codec, no inflate)
PLAIN_NATIVE = frozenset({IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN,
                          EXPLICIT_VR_BIG_ENDIAN})

#: syntaxes the table calls lossy that may hold reversible (lossless) data: only a file's own
#: Lossy Image Compression (0028,2110) can tell (J2K/HTJ2K "lossy", JPEG XL, J2K Part 2)
MAY_BE_REVERSIBLE = frozenset({"1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.203",
                               "1.2.840.10008.1.2.4.93", "1.2.840.10008.1.2.4.112",
                               "1.2.840.10008.1.2.4.205"})

#: every handler name the table uses (what ``handlers=`` accepts)
HANDLER_NAMES = frozenset(name for row in _ROWS for name in row.handlers)

# Which optional extra installs which handler's libraries.
INSTALL_EXTRA = {
    "imagecodecs": 'pip install "dicomdecode[imagecodecs]"',
    "pylibjpeg": 'pip install "dicomdecode[pylibjpeg]"',
    "libjpeg": 'pip install "dicomdecode[libjpeg-gpl]"',
    "gdcm": 'pip install "dicomdecode[gdcm]"',
    "charls": 'pip install "dicomdecode[charls]"',
}


def lookup(uid: str) -> TransferSyntax | None:
    """The table row for `uid`, or None for a UID the standard does not define."""
    return TRANSFER_SYNTAXES.get(str(uid).strip().rstrip("\x00"))


def is_encapsulated(uid: str) -> bool:
    """True when `uid`'s Pixel Data is a sequence of items (compressed frames)."""
    row = lookup(uid)
    return bool(row and row.encapsulated)


def name_of(uid: str) -> str:
    row = lookup(uid)
    return row.name if row else "unknown transfer syntax"
