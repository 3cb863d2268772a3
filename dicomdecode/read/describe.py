"""One file path -> its :class:`PixelSource` (header values and pixel offset, no pixels).

The fast header view answers the plain cases in a fraction of pydicom's time; everything
it does not cover (no preamble, big endian, deflated, extended offset tables, values it
cannot convert) is read by pydicom, whose description then carries the pixel bytes too.
"""

from __future__ import annotations

import os

from dicomdecode.read import transfer_syntax as ts
from dicomdecode.read.dataset import pixel_source, read_dataset
from dicomdecode.read.header import FastHeader, NeedsFullParse, read_fast_header
from dicomdecode.read.pixel_source import PixelSource, make_pixel_source

_FLOAT_TAGS = ((0x7FE00008, 32), (0x7FE00009, 64))


def _from_fast_header(header: FastHeader, path: str) -> PixelSource | None:
    syntax = str(header.file_meta.TransferSyntaxUID)
    if (header.pixel_offset < 0 or "Rows" not in header or "Columns" not in header
            or "ExtendedOffsetTable" in header or ts.lookup(syntax) is None):
        return None
    float_bits = next((bits for tag, bits in _FLOAT_TAGS if tag in header), 0)
    try:
        return make_pixel_source(path, syntax, lambda k: header.get(k, None),
                                 float_bits=float_bits, pixel_offset=header.pixel_offset)
    except NeedsFullParse:
        return None


def describe_file(path: str | os.PathLike[str]) -> PixelSource:
    """The pixel description of the file at `path`; typed errors for what is not an image
    (:class:`~dicomdecode.errors.NotDicomError`, ``NoPixelDataError``, ``DecodeError``)."""
    name = os.fspath(path)
    try:
        header = read_fast_header(name)
    except (OSError, NeedsFullParse):
        header = None
    if header is not None:
        source = _from_fast_header(header, name)
        if source is not None:
            return source
    return pixel_source(read_dataset(name), name)
