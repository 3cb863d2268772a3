"""The byte-level facts of DICOM data elements (PS3.5 7.1), shared by every parser here.

The fast header view (:mod:`dicomdecode.read.header`) and the pixel readers
(:mod:`dicomdecode.read.frames`) parse element headers by hand for speed; they take the
tag numbers, the VRs with a 4-byte length and the element-head rule from this module so
they cannot disagree.
"""

from __future__ import annotations

import struct

#: Pixel Data, Float Pixel Data, Double Float Pixel Data
PIXEL_DATA = 0x7FE00010
PIXEL_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
UNDEFINED_LENGTH = 0xFFFFFFFF
#: explicit VRs whose element head is tag, VR, 2 reserved bytes, 4-byte length (PS3.5 7.1.2)
LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN",
                      b"UR", b"UT", b"UV"})
KNOWN_VRS = frozenset(v.encode() for v in (
    "AE AS AT CS DA DS DT FL FD IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI "
    "UL UN UR US UT UV").split())


def element_head(head: bytes, *, implicit: bool, big_endian: bool = False
                 ) -> tuple[int, bytes, int, int] | None:
    """(tag, VR bytes or b"", value length, head size) of the element starting `head`,
    or None when `head` is too short or the VR is not one the standard defines."""
    order = ">" if big_endian else "<"
    if len(head) < 8:
        return None
    group, element = struct.unpack_from(f"{order}HH", head)
    tag = (group << 16) | element
    if implicit or group == 0xFFFE:
        return tag, b"", struct.unpack_from(f"{order}I", head, 4)[0], 8
    vr = bytes(head[4:6])
    if vr in LONG_VRS:
        if len(head) < 12:
            return None
        return tag, vr, struct.unpack_from(f"{order}I", head, 8)[0], 12
    if vr not in KNOWN_VRS:
        return None
    return tag, vr, struct.unpack_from(f"{order}H", head, 6)[0], 8
