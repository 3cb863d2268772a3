"""How much of an object the scan must fetch: the header, up to and including the head of
the Pixel Data element.

THE SEAM: :func:`header_extent` is the one function that asks the header walk of
``read/header.py`` (the compiled core's :func:`~dicomdecode.read.header.header_from_buffer`,
the same code that reads local files) about a fetched prefix: whether the walk reached
Pixel Data, or how many more bytes it asked for when the prefix ran out."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dicomdecode.read import header as _header
from dicomdecode.read import transfer_syntax as ts
from dicomdecode.read import walkcore

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


class _PrefixEnds(Exception):
    """The walk asked for bytes past the fetched prefix: ``wanted`` is how far it reads."""

    def __init__(self, wanted: int) -> None:
        super().__init__(wanted)
        self.wanted = wanted


#: fetched whole and read as a local file is: big endian (its pixel element head is not
#: parsed here) and deflated data (pydicom inflates it)
_WHOLE_SYNTAXES = {ts.EXPLICIT_VR_BIG_ENDIAN, ts.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
                   ts.DEFLATED_IMAGE_FRAME}


def _meta_syntax(prefix: bytes) -> str | None:
    """The Transfer Syntax UID of the file meta in `prefix`, when the prefix holds it all."""
    if len(prefix) < 132 or prefix[128:132] != b"DICM":
        return None
    meta: dict[int, tuple[bytes, bytes]] = {}
    status, _pos, _a, _b = walkcore.walk_elements(prefix, 132, False, False, True, meta)
    if status != walkcore.META_END:
        return None
    return meta.get(0x00020010, (b"", b""))[1].decode("latin-1").strip(" \x00")


def header_extent(prefix: bytes, size: int) -> Extent:
    """Whether `prefix` (the first bytes of an object of `size` bytes) holds its header."""
    prefix = prefix[:size]
    if _meta_syntax(prefix) in _WHOLE_SYNTAXES:
        return Extent(size, whole=True)

    def past_prefix(count: int) -> bytes:
        # the header reader asks for more only once the prefix is used up
        raise _PrefixEnds(len(prefix) + count)

    def grow(wanted: int) -> Extent:
        # up to what the walk wanted, and one more block past it (a header of big private
        # elements is fetched in a few requests)
        return Extent(min(size, max(wanted, len(prefix) + 1) + FIRST_BLOCK))

    try:
        parsed = _header.header_from_buffer(prefix, past_prefix, size)
    except _PrefixEnds as short:
        return grow(short.wanted)
    except _header.NeedsFullParse:
        return Extent(size, whole=True)  # malformed for the fast walk: pydicom reads it all
    syntax = None if parsed is None else parsed.file_meta.get("TransferSyntaxUID")
    if parsed is None or syntax in _WHOLE_SYNTAXES:
        return Extent(size, whole=True)  # no preamble, an unusual meta: read as local files are
    offset = parsed.pixel_offset
    if offset < 0:
        # the walk ended at an element boundary inside the prefix: more header, or none
        return grow(len(prefix))
    implicit = syntax == ts.IMPLICIT_VR_LITTLE_ENDIAN
    head = 8 if implicit else 12
    if offset + head > len(prefix):
        return Extent(min(size, offset + head))
    (length,) = struct.unpack_from("<I", prefix, offset + head - 4)
    pixel_end = None if length == _UNDEFINED else offset + head + length
    return Extent(len(prefix), pixel_end=pixel_end, pixel_start=offset + head)


__all__ = ["FIRST_BLOCK", "Extent", "header_extent"]
