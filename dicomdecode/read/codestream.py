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
            return found
        if marker in sof_markers and found is None:
            found = _parse_sof(data, pos, length, 0xFF00 | marker, label)
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


def _jp2_codestream(data: bytes) -> bytes | None:
    """The contents of the first jp2c box of a JP2/JPH file, or None if there is none."""
    pos, size = 0, len(data)
    while pos + 8 <= size:
        box_len = int.from_bytes(data[pos:pos + 4], "big")
        box_type = data[pos + 4:pos + 8]
        header = 8
        if box_len == 1:
            _need(data, pos + 16, "JP2 box header")
            box_len = int.from_bytes(data[pos + 8:pos + 16], "big")
            header = 16
        elif box_len == 0:
            box_len = size - pos
        if box_len < header:
            raise DecodeError(f"JP2 box {box_type!r} has length {box_len}, "
                              f"must be >= {header}")
        if box_type == b"jp2c":
            return data[pos + header:pos + box_len]
        pos += box_len
    return None


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
    ssiz = data[42:42 + 3 * csiz:3]
    precision = max(((s & 0x7F) + 1 for s in ssiz), default=0)
    signed = bool(ssiz[0] & 0x80) if ssiz else None
    return CodestreamInfo(ysiz - yo, xsiz - xo, csiz, precision, 0xFF51, signed)


def codestream_info(family: str, data: bytes) -> CodestreamInfo | None:
    """Rows, columns, components and precision from the codestream header alone.

    Bounded work (linear in len(data), stops at the first SOF/SIZ), safe on hostile
    bytes: raises only DecodeError (a header marker found but truncated or inconsistent)
    and returns None when the header marker is not there (the codec then reports it) or
    the family's header carries no such fields (RLE: see :func:`check_rle_header`;
    JPEG XL, native, deflate: not parsed).
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
    return None




def rle_segment_offsets(frame: bytes) -> tuple[int, tuple[int, ...]]:
    """(number of segments, their offsets) from the 64-byte RLE header (PS3.5 G.5)."""
    if len(frame) < 64:
        raise DecodeError(f"RLE header truncated: frame has {len(frame)} bytes of 64")
    header = struct.unpack("<16I", frame[:64])
    count = header[0]
    return count, tuple(header[1:1 + min(count, 15)])
