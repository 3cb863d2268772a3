"""Repair of one known JPEG encoder defect, so such files decode instead of failing.

Some old encoders (seen in NEMA WG04's JPEG-lossy.dcm and RG2_JPLY.dcm) write a
sequential-mode (SOF0/SOF1) Start Of Scan whose spectral selection end Se is 0. The
standard requires Ss=0, Se=63 for sequential DCT scans and strict decoders (libjpeg)
refuse the stream; the coded data itself is fine. We rewrite Se to 63 in a copy.
"""

from __future__ import annotations

_SEQUENTIAL_SOF = (0xC0, 0xC1)
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM, RST0-7: markers without a length


def repair_sequential_scan(data: bytes) -> bytes | None:
    """A copy of `data` with sequential SOS spectral selection set to 0..63, or None if
    the stream is not sequential DCT or needs no repair."""
    buf = bytearray(data)
    if buf[:2] != b"\xff\xd8":
        return None
    pos, sequential, changed = 2, False, False
    while pos + 4 <= len(buf):
        if buf[pos] != 0xFF:
            return None
        marker = buf[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:  # EOI
            break
        if marker in _STANDALONE:
            pos += 2
            continue
        length = (buf[pos + 2] << 8) | buf[pos + 3]
        if marker in _SEQUENTIAL_SOF:
            sequential = True
        if marker == 0xDA:  # SOS: length, Ns, Ns x (Cs, Td/Ta), Ss, Se, Ah/Al
            components = buf[pos + 4]
            ss_at = pos + 5 + 2 * components
            if sequential and ss_at + 1 < len(buf) and (buf[ss_at], buf[ss_at + 1]) != (0, 63):
                buf[ss_at], buf[ss_at + 1] = 0, 63
                changed = True
            pos = _skip_entropy_coded(buf, pos + 2 + length)
            continue
        pos += 2 + length
    return bytes(buf) if changed else None


def _skip_entropy_coded(buf: bytearray, pos: int) -> int:
    """Index of the next marker after entropy-coded data (skips stuffed 0xFF00 and RSTn)."""
    while pos + 1 < len(buf):
        if buf[pos] == 0xFF and buf[pos + 1] != 0x00 and not 0xD0 <= buf[pos + 1] <= 0xD7:
            return pos
        pos += 1
    return len(buf)
