"""Codestream headers read without decoding: JPEG SOF, JPEG-LS SOF55, J2K/HTJ2K SIZ
(raw or in a JP2 box) and the RLE segment table.

The guard (:mod:`dicomdecode.decode.validate`) compares these with the DICOM header before
any codec runs, because the codecs allocate from the codestream's own header. Everything
here is bounded by the length of the data (it is called on hostile bytes) and raises only
DecodeError.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from dicomdecode.errors import DecodeError


class CodestreamInfo(NamedTuple):
    """What a codestream header says. ``rows`` is None when the stream defers it (JPEG
    DNL: Y = 0 in the SOF). ``marker`` is the SOF/SIZ marker code (0xFFC3, 0xFFF7,
    0xFF51); ``signed`` is known for J2K only."""

    rows: int | None
    columns: int
    components: int
    precision: int
    marker: int = 0
    signed: bool | None = None
    #: JPEG only: the colour space the codestream itself declares for 3 components,
    #: "YBR_FULL" (YCbCr) or "RGB", or None when it declares nothing (see jpeg_colour)
    colour: str | None = None


FAMILIES = frozenset({"native", "deflate", "rle", "jpeg", "jpeg-lossless", "jpegls",
                      "j2k", "htj2k", "jpegxl"})

def _u16(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos:pos + 2], "big")


def _need(data: bytes, end: int, what: str) -> None:
    """A marker was found but its declared length runs past the data: truncated."""
    if end > len(data):
        raise DecodeError(f"{what} truncated: needs {end} bytes, frame has {len(data)}")


_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset({0x01, 0xD8, *range(0xD0, 0xD8)})


def _jpeg_info(data: bytes, sof_markers: frozenset[int], label: str) -> CodestreamInfo | None:
    """Walk JPEG / JPEG-LS marker segments from SOI through the frame header to the first
    start of scan (SOS); the frame header (SOF) found on the way, or None when the data is
    not such a codestream (no SOI, or SOS/EOI before any SOF).

    The header must be well formed up to SOS: each segment starts where the previous one
    ended (0xFF fill bytes allowed). libjpeg only warns about bytes between segments
    ("Corrupt JPEG data: extraneous bytes before marker") and decodes on; GDCM then aborts
    the process, so such a header is refused here. Each step moves forward by at least
    one byte, so the work is bounded by len(data).
    """
    if data[:2] != b"\xff\xd8":
        return None
    pos, size = 2, len(data)
    found: CodestreamInfo | None = None
    signals: dict[str, int] = {}  # where the SOF is; JFIF / Adobe transform seen
    while pos < size:
        if data[pos] != 0xFF:
            raise DecodeError(f"{label} header is corrupt: byte {pos} is {data[pos]:02X} where "
                              "a marker must start (extraneous bytes between segments)")
        while pos < size and data[pos] == 0xFF:
            pos += 1  # fill bytes
        if pos >= size:
            break
        marker = data[pos]
        pos += 1
        if marker == 0x00:
            raise DecodeError(f"{label} header is corrupt: a stuffed FF00 at byte {pos - 2} "
                              "outside entropy-coded data")
        if marker in _STANDALONE:
            continue
        if marker == 0xD9:  # EOI before any scan
            return None
        _need(data, pos + 2, f"{label} marker FF{marker:02X}")
        length = _u16(data, pos)
        if length < 2:
            raise DecodeError(f"{label} marker FF{marker:02X} has length {length}, "
                              "must be >= 2")
        _need(data, pos + length, f"{label} marker FF{marker:02X} (length {length})")
        if marker == 0xDA:  # start of scan: the header is complete
            if found is not None and found.components == 3:
                found = found._replace(colour=_jpeg_colour(data, signals))
            return found
        if marker in sof_markers and found is None:
            found = _parse_sof(data, pos, length, 0xFF00 | marker, label)
            signals["sof_at"] = pos
        if marker == 0xEE and data[pos + 2:pos + 7] == b"Adobe" and length >= 14:
            signals.setdefault("adobe", data[pos + 13])  # the transform flag
        if marker == 0xE0 and data[pos + 2:pos + 7] == b"JFIF\x00":
            signals["jfif"] = 1
        if marker == 0xE0 and data[pos + 2:pos + 7] == b"JFIF\x00" and length >= 9:
            # JFIF 1.00-1.02 is the only version there is; GDCM's decoder aborts the
            # process on others instead of reporting an error
            major, minor = data[pos + 7], data[pos + 8]
            if major != 1:
                raise DecodeError(f"{label} JFIF header says version {major}.{minor:02d}; "
                                  "only 1.xx exists")
        pos += length
    if found is not None:
        raise DecodeError(f"{label} codestream ends before its first scan (no SOS marker)")
    return None


_RGB_IDS = (b"RGB", b"rgb")


def _jpeg_colour(data: bytes, signals: dict[str, int]) -> str | None:
    """What a 3-component JPEG codestream says its components are, the way libjpeg, GDCM
    and dcmtk read it (ITU T.871 JFIF; Adobe TN 5116 APP14): component identifiers 'R',
    'G', 'B' mean RGB; a JFIF APP0 means YCbCr; an Adobe APP14 transform flag of 0 means
    RGB (untransformed), 1 means YCbCr. Without any of these the codestream says nothing
    (libjpeg would guess YCbCr), and the DICOM header's Photometric Interpretation is
    taken instead: None.
    """
    at = signals.get("sof_at", 0)
    ids = bytes(data[at + 8:at + 8 + 9:3]) if at else b""
    if ids in _RGB_IDS:
        return "RGB"
    if signals.get("jfif"):
        return "YBR_FULL"
    transform = signals.get("adobe")
    if transform == 0:
        return "RGB"
    if transform == 1:
        return "YBR_FULL"
    return None


def jpeg_colour(data: bytes) -> str | None:
    """The colour space a lossy JPEG codestream declares for its 3 components ("RGB" or
    "YBR_FULL"), or None when it declares none or is not such a codestream. Never raises
    on hostile bytes (the guard reports a broken header; here it just declares nothing)."""
    try:
        info = _jpeg_info(bytes(data), _JPEG_SOF, "JPEG")
    except DecodeError:
        return None
    return info.colour if info is not None else None


def _parse_sof(data: bytes, pos: int, length: int, marker: int,
               label: str) -> CodestreamInfo:
    if length < 8:
        raise DecodeError(f"{label} SOF {marker:04X} has length {length}, must be >= 8")
    precision, rows, columns, components = struct.unpack(">BHHB", data[pos + 2:pos + 8])
    if length != 8 + 3 * components:
        raise DecodeError(f"{label} SOF {marker:04X} has length {length}, "
                          f"{components} components need {8 + 3 * components}")
    return CodestreamInfo(rows if (rows or marker == 0xFFF7) else None, columns,
                          components, precision, marker)


_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"


def _first_box(data: bytes, wanted: tuple[bytes, ...], label: str
               ) -> tuple[bytes, bytes] | None:
    """(type, contents) of the first top-level ISO BMFF box of a type in `wanted` (JP2/JPH,
    ISO/IEC 15444-1 I.4; JPEG XL, ISO/IEC 18181-2), or None. Each box moves on by at least
    its 8-byte header, so the walk is bounded by len(data)."""
    pos, size = 0, len(data)
    while pos + 8 <= size:
        box_len = int.from_bytes(data[pos:pos + 4], "big")
        box_type = data[pos + 4:pos + 8]
        header = 8
        if box_len == 1:
            _need(data, pos + 16, f"{label} box header")
            box_len = int.from_bytes(data[pos + 8:pos + 16], "big")
            header = 16
        elif box_len == 0:
            box_len = size - pos
        if box_len < header:
            raise DecodeError(f"{label} box {box_type!r} has length {box_len}, "
                              f"must be >= {header}")
        if box_type in wanted:
            return box_type, data[pos + header:pos + box_len]
        pos += box_len
    return None


def _jp2_codestream(data: bytes) -> bytes | None:
    """The contents of the first jp2c box of a JP2/JPH file, or None if there is none."""
    box = _first_box(data, (b"jp2c",), "JP2")
    return box[1] if box else None


def _j2k_info(data: bytes) -> CodestreamInfo | None:
    """SOC then SIZ: image size minus origin, component count, precision, sign."""
    if data[:12] == _JP2_SIGNATURE:
        stream = _jp2_codestream(data)
        if stream is None:
            return None
        data = stream
    if data[:2] != b"\xff\x4f":
        return None
    if data[2:4] != b"\xff\x51":
        raise DecodeError(f"J2K codestream: SOC is followed by {data[2:4].hex().upper()}"
                          ", not the SIZ marker FF51")
    _need(data, 6, "J2K SIZ marker")
    length = _u16(data, 4)
    _need(data, 4 + length, f"J2K SIZ marker (length {length})")
    if length < 41:
        raise DecodeError(f"J2K SIZ has length {length}, must be >= 41")
    xsiz, ysiz, xo, yo = struct.unpack(">IIII", data[8:24])
    csiz = _u16(data, 40)
    if length != 38 + 3 * csiz:
        raise DecodeError(f"J2K SIZ has length {length}, {csiz} components "
                          f"need {38 + 3 * csiz}")
    if xo > xsiz or yo > ysiz:
        raise DecodeError(f"J2K SIZ: image offset {xo},{yo} lies beyond its size "
                          f"{xsiz},{ysiz}")
    _check_j2k_cod(data, 4 + length)
    ssiz = data[42:42 + 3 * csiz:3]
    precision = max(((s & 0x7F) + 1 for s in ssiz), default=0)
    signed = bool(ssiz[0] & 0x80) if ssiz else None
    return CodestreamInfo(ysiz - yo, xsiz - xo, csiz, precision, 0xFF51, signed)


_J2K_PROGRESSIONS = ("LRCP", "RLCP", "RPCL", "PCRL", "CPRL")


def _check_j2k_cod(data: bytes, pos: int) -> None:
    """The main header's COD segment (ISO/IEC 15444-1 A.6.1, the same in Part 15) must
    hold values the standard defines: progression order 0..4, at least one layer, at
    most 32 decomposition levels, code-block exponents xcb, ycb <= 8 with xcb + ycb <= 8.

    OpenJPH does not check the progression order: with an undefined one it decodes no
    packet and returns an all-zero image without an error (fuzz seed 104, a flipped
    byte in the COD of an HTJ2K file); OpenJPEG refuses it. Walks the main header's
    marker segments (each has a length) up to SOT; bounded by len(data)."""
    size = len(data)
    while pos + 4 <= size and data[pos] == 0xFF and data[pos + 1] not in (0x90, 0x93):
        length = _u16(data, pos + 2)
        if length < 2:
            raise DecodeError(f"J2K marker FF{data[pos + 1]:02X} has length {length}, "
                              "must be >= 2")
        if data[pos + 1] == 0x52:  # COD
            _need(data, pos + 2 + length, f"J2K COD marker (length {length})")
            if length < 12:
                raise DecodeError(f"J2K COD has length {length}, must be >= 12")
            order, layers, levels, xcb, ycb = struct.unpack(">BHxBBB", data[pos + 5:pos + 12])
            if order >= len(_J2K_PROGRESSIONS):
                raise DecodeError(f"J2K COD progression order is {order}, the standard "
                                  f"defines 0..4 ({', '.join(_J2K_PROGRESSIONS)})")
            if layers == 0:
                raise DecodeError("J2K COD says 0 quality layers, must be >= 1")
            if levels > 32:
                raise DecodeError(f"J2K COD says {levels} decomposition levels, at most 32")
            if xcb > 8 or ycb > 8 or xcb + ycb > 8:
                raise DecodeError(f"J2K COD code-block size exponents are {xcb}, {ycb}; "
                                  "each must be <= 8 and their sum <= 8")
            return
        pos += 2 + length


_JXL_CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n"
_JXL_SIGNATURE = b"\xff\x0a"
JXL_MARKER = 0xFF0A  # CodestreamInfo.marker of a JPEG XL codestream
# ISO/IEC 18181-1 D.2: width = height * num / den for the ratio codes 1..7
_JXL_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}


class _Bits:
    """Little-endian bit reader of the JPEG XL headers (ISO/IEC 18181-1 B.2)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def read(self, count: int) -> int:
        value = 0
        for shift in range(count):
            byte = self.pos >> 3
            if byte >= len(self.data):
                raise DecodeError("JPEG XL size header truncated")
            value |= ((self.data[byte] >> (self.pos & 7)) & 1) << shift
            self.pos += 1
        return value

    def u32_size(self) -> int:
        """U32(Bits(9), Bits(13), Bits(18), Bits(30)) + 1: a dimension."""
        return self.read((9, 13, 18, 30)[self.read(2)]) + 1


def _jxl_stream(data: bytes) -> bytes | None:
    """The codestream of a JPEG XL file: bare, or the first jxlc/jxlp box of the ISO BMFF
    container (ISO/IEC 18181-2), or None when it is neither."""
    if data[:2] == _JXL_SIGNATURE:
        return data
    if data[:12] != _JXL_CONTAINER:
        return None
    box = _first_box(data, (b"jxlc", b"jxlp"), "JPEG XL")
    if box is None:
        return None
    box_type, contents = box
    # a partial codestream box starts with a 4-byte sequence number
    return contents[4:] if box_type == b"jxlp" else contents


def _jxl_info(data: bytes) -> CodestreamInfo | None:
    """Image size from a JPEG XL SizeHeader (ISO/IEC 18181-1 D.2). Components and
    precision sit in the variable-length ImageMetadata after it and are not parsed:
    0 in the result means "not known" (the decoded size is checked after decoding)."""
    stream = _jxl_stream(data)
    if stream is None:
        return None
    if stream[:2] != _JXL_SIGNATURE:
        raise DecodeError("JPEG XL container holds no codestream starting with FF0A")
    bits = _Bits(stream[2:18])
    div8 = bits.read(1)
    height = (bits.read(5) + 1) * 8 if div8 else bits.u32_size()
    ratio = bits.read(3)
    if ratio:
        num, den = _JXL_RATIOS[ratio]
        width = height * num // den
    else:
        width = (bits.read(5) + 1) * 8 if div8 else bits.u32_size()
    return CodestreamInfo(height, width, 0, 0, JXL_MARKER)


def codestream_info(family: str, data: bytes) -> CodestreamInfo | None:
    """Rows, columns, components and precision from the codestream header alone.

    Bounded work (linear in len(data), stops at the first SOF/SIZ), safe on hostile
    bytes: raises only DecodeError (a header marker found but truncated or inconsistent)
    and returns None when the header marker is not there (the codec then reports it) or
    the family's header carries no such fields (RLE: see :func:`check_rle_header`;
    native, deflate: not parsed). JPEG XL gives rows and columns only.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown codec family {family!r}, one of {sorted(FAMILIES)}")
    data = bytes(data)
    if family in ("jpeg", "jpeg-lossless"):
        return _jpeg_info(data, _JPEG_SOF, "JPEG")
    if family == "jpegls":
        return _jpeg_info(data, frozenset({0xF7}), "JPEG-LS")
    if family in ("j2k", "htj2k"):
        return _j2k_info(data)
    if family == "jpegxl":
        return _jxl_info(data)
    return None




def rle_segment_offsets(frame: bytes) -> tuple[int, tuple[int, ...]]:
    """(number of segments, their offsets) from the 64-byte RLE header (PS3.5 G.5)."""
    if len(frame) < 64:
        raise DecodeError(f"RLE header truncated: frame has {len(frame)} bytes of 64")
    header = struct.unpack("<16I", frame[:64])
    count = header[0]
    return count, tuple(header[1:1 + min(count, 15)])
