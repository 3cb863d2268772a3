"""Encapsulated (compressed) frames read by offset, without parsing the header again.

The header scan records where Pixel Data starts. For compressed files the codestreams
are the items of that element; we read from there to the end of the file and let
pydicom's ``generate_frames`` split the items into frames (Basic Offset Table, one
fragment per frame, or all fragments of a single frame). This saves a full pydicom parse
of every file on the decode path (about 1-3 ms a file with realistic headers).
"""

from __future__ import annotations

import struct
import warnings

from .errors import DecodeError
from .handlers.base import PixelSource

_PIXEL_DATA = (0x7FE0, 0x0010)
_UNDEFINED = 0xFFFFFFFF


def read_encapsulated_frames(path: str, offset: int, source: PixelSource) -> list[bytes] | None:
    """The encoded frames of `path`, or None when the element at `offset` is not
    encapsulated Pixel Data (the caller then reads the file the general way)."""
    from pydicom.encaps import generate_frames

    with open(path, "rb") as fh:
        fh.seek(offset)
        head = fh.read(12)
        if len(head) < 12 or struct.unpack("<HH", head[:4]) != _PIXEL_DATA:
            return None
        # explicit VR: tag, 'OB', 0x0000, length; implicit: tag, length
        length = struct.unpack("<I", head[8:12] if head[4:6].isalpha() else head[4:8])[0]
        if length != _UNDEFINED:
            return None
        if not head[4:6].isalpha():
            fh.seek(offset + 8)
        value = fh.read()
    if not _items_complete(value):
        raise DecodeError("file is truncated: encapsulated Pixel Data ends before its "
                          "sequence delimiter", path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frames = list(generate_frames(value, number_of_frames=source.number_of_frames))
    except Exception as exc:
        raise DecodeError(f"encapsulated Pixel Data is corrupt or truncated: {exc}",
                          path) from exc
    if len(frames) < source.number_of_frames or any(len(f) == 0 for f in frames):
        raise DecodeError(
            f"encapsulated Pixel Data holds {len(frames)} usable frame(s), Number of Frames "
            f"says {source.number_of_frames} (truncated?)", path)
    return frames


def _items_complete(value: bytes) -> bool:
    """True if the items of `value` lie wholly inside it and end with a delimiter."""
    pos, size = 0, len(value)
    while pos + 8 <= size:
        group, element, length = struct.unpack_from("<HHI", value, pos)
        if (group, element) == (0xFFFE, 0xE0DD):
            return True
        if (group, element) != (0xFFFE, 0xE000) or length == _UNDEFINED:
            return False
        pos += 8 + length
    return False
