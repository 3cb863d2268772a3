"""GE's binary private blocks: the raw header in User Define Data and the Protocol Block.

Two GE private elements are not DICOM values but blobs, and the facts a BIDS sidecar
needs are inside them (as dcm2niix reads them):

* User Define Data (0043,xx2A, creator "GEMS_PARM_01"): a copy of GE's raw image header.
  Its phase-encoding polarity flag and the slice order flag give the phase-encoding
  polarity of EPI series on software before RX27 (which has (0018,9034) instead).
* Protocol Data Block (0025,xx1B, creator "GEMS_SERS_01"): the scan protocol as a gzip
  compressed ``KEY "value"`` text. Slice order, multiband factor and group delay come
  from it.

Both are byte layouts, so they are parsed here, in the reading layer; callers get plain
values. Anything malformed gives None: these are hints for metadata, never for pixels.
"""

from __future__ import annotations

import re
import struct
import zlib
from typing import Any

from dicomdecode.read.private import private_value

PARM_CREATOR = "GEMS_PARM_01"
SERS_CREATOR = "GEMS_SERS_01"
_USER_DATA = 0x2A  # (0043,xx2A) OB User Define Data
_PROTOCOL_BLOCK = 0x1B  # (0025,xx1B) OB Protocol Data Block (gzip)
#: The protocol block is a few kB of text; refuse to inflate beyond this.
_MAX_PROTOCOL_TEXT = 4 * 1024 * 1024
_GZIP = b"\x1f\x8b\x08"  # gzip magic and the deflate method


def _u16(data: bytes, offset: int) -> int | None:
    if offset < 0 or offset + 2 > len(data):
        return None
    return int(struct.unpack_from("<H", data, offset)[0])


def epi_phase_polarity(ds: Any) -> int | None:
    """Phase-encoding polarity of a GE EPI image from its raw header: 1 (unflipped, the
    positive direction), 0 (flipped), or None (not EPI, no or unreadable header).

    The layout is GE's (as dcm2niix reads it): the header starts at the 16-bit offset at
    byte 24; a float version there; from version 25.002 on the fields move by 0x4C; the
    EPI flag is bit 0x800 at +0x3A, the polarity bit 0x4 at +0x30, and the slice order
    (2 = bottom up, which inverts the polarity) at +0x394 (+0x308 from 25.002)."""
    data = private_value(ds, 0x0043, PARM_CREATOR, _USER_DATA)
    if not isinstance(data, bytes | bytearray) or len(data) < 916:
        return None
    data = bytes(data)
    start = _u16(data, 24)
    if start is None or len(data) < start + 916:
        return None
    version = struct.unpack_from("<f", data, start)[0]
    if not 5.0 <= version <= 40.0:
        return None
    hdr = start
    kydir = 0x0394
    if version >= 25.002:
        hdr += 0x004C
        kydir -= 0x008C
    epi = _u16(data, hdr + 0x3A)
    polarity = _u16(data, hdr + 0x30)
    order = _u16(data, hdr + kydir)
    if epi is None or polarity is None or order is None or not epi & 0x800:
        return None
    flipped = bool(polarity & 0x0004)
    if order == 2:  # bottom-up slice order inverts the polarity
        flipped = not flipped
    return 0 if flipped else 1


def protocol_block(ds: Any) -> dict[str, str] | None:
    """The GE Protocol Data Block as ``{KEY: value}`` (values as text), or None."""
    blob = private_value(ds, 0x0025, SERS_CREATOR, _PROTOCOL_BLOCK)
    if not isinstance(blob, bytes | bytearray):
        return None
    blob = bytes(blob)
    if blob[4:7] == _GZIP:  # a 32-bit length comes first
        blob = blob[4:]
    if len(blob) < 20 or blob[:3] != _GZIP:
        return None
    try:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip wrapper
        text = inflater.decompress(blob, _MAX_PROTOCOL_TEXT)
    except zlib.error:
        return None
    out: dict[str, str] = {}
    for line in text.decode("latin-1").splitlines():
        m = re.match(r'\s*([A-Za-z0-9_]+)\s+"?([^"]*)"?\s*$', line)
        if m:
            out.setdefault(m.group(1), m.group(2).strip())
    return out or None


__all__ = ["epi_phase_polarity", "protocol_block"]
