"""How much of an object the scan must fetch: the header, up to and including the head of
the Pixel Data element.

THE SEAM: :func:`header_extent` is the one function that asks the header walk of
``read/header.py`` about a fetched prefix. It runs that walk on the prefix (the same
code that reads local files) and says whether it reached Pixel Data, or how far to grow.
When the walk itself takes a bytes buffer and signals how many more bytes it needs, only
this function changes."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

from dicomdecode.read import header as _header
from dicomdecode.read import transfer_syntax as ts

#: first block fetched per object; grown by doubling until the header is covered
FIRST_BLOCK = 8 * 1024
_UNDEFINED = 0xFFFFFFFF


@dataclass(frozen=True)
class Extent:
    """The answer for one prefix.

    ``need``: bytes to fetch in all (== the prefix length when it is enough);
    ``whole``: the fast walk does not cover this file (no preamble, big endian, deflated):
    fetch all of it, pydicom reads it; ``pixel_start``: where the Pixel Data value
    starts; ``pixel_end``: where a defined-length value ends (bytes after it, trailing
    elements, are fetched with the header; None for encapsulated data)."""

    need: int
    whole: bool = False
    pixel_end: int | None = None
    pixel_start: int | None = None


class _PrefixReader(_header._Reader):
    """The header walk's reader over a fetched prefix: it notes how far the walk wanted
    to read when the prefix ran out (``wanted``), so the next request fetches that."""

    def __init__(self, prefix: bytes, size: int) -> None:  # no file: the prefix is all
        self.fh = io.BytesIO(b"")
        self.size = size
        self.buf = prefix
        self.pos = 0
        self.wanted = 0

    def need(self, count: int) -> None:
        if self.pos + count > len(self.buf):
            self.wanted = max(self.wanted, self.pos + count)
        super().need(count)


def header_extent(prefix: bytes, size: int) -> Extent:
    """Whether `prefix` (the first bytes of an object of `size` bytes) holds its header."""
    if len(prefix) >= size:
        return Extent(size)
    reader = _PrefixReader(prefix, size)

    def grow() -> Extent:
        # up to the element the walk stopped in, and one more block past it (a header
        # of big private elements is fetched in a few requests, not by doubling)
        wanted = max(reader.wanted, reader.pos + 12, len(prefix) + 1)
        return Extent(min(size, wanted + FIRST_BLOCK))

    try:
        parsed = _header._parse(reader)
    except (_header.NeedsFullParse, struct.error):
        return grow()  # the walk ran off the prefix (or off a corrupt header: see the end)
    if parsed is None:
        if len(prefix) < 132:
            return grow()
        return Extent(size, whole=True)
    offset = parsed.pixel_offset
    if offset < 0:
        return grow()  # no Pixel Data yet: there may be more header, or none (then: size)
    implicit = parsed.file_meta.get("TransferSyntaxUID") == ts.IMPLICIT_VR_LITTLE_ENDIAN
    head = 8 if implicit else 12
    if offset + head > len(prefix):
        return Extent(min(size, offset + head))
    (length,) = struct.unpack_from("<I", prefix, offset + head - 4)
    pixel_end = None if length == _UNDEFINED else offset + head + length
    return Extent(len(prefix), pixel_end=pixel_end, pixel_start=offset + head)


__all__ = ["FIRST_BLOCK", "Extent", "header_extent"]
