"""A fast, read-only view of a DICOM file's top-level header, for scanning big folders.

pydicom parses every element into objects and converts values through layers of hooks;
that is right for editing files but costs about 1-2 ms per file when a scan only needs
thirty values. This reader walks the top level of the file with ``struct``, skips
sequences without parsing them, stops at Pixel Data (recording where it is), and converts
only the values asked for.

It covers the common case (Part 10 files, implicit or explicit VR little endian, ASCII,
Latin-1 or UTF-8 text). Anything else returns None from :func:`read_fast_header`, and
whatever asks for something this view does not hold (a sequence's content, a value it
cannot convert) gets :class:`NeedsFullParse`: callers then read the file with pydicom.
Results are the same either way; this is only a faster road to them.
"""

from __future__ import annotations

import functools
import os
import struct
from typing import Any

from dicomdecode.read import transfer_syntax as ts
from dicomdecode.read.elements import (
    ITEM,
    ITEM_END,
    KNOWN_VRS,
    LONG_VRS,
    PIXEL_TAGS,
    SEQUENCE_END,
    UNDEFINED_LENGTH,
)

_IMPLICIT = ts.IMPLICIT_VR_LITTLE_ENDIAN
_LITTLE_ENDIAN_SYNTAXES_WITHOUT_DEFLATE = {ts.IMPLICIT_VR_LITTLE_ENDIAN,
                                           ts.EXPLICIT_VR_LITTLE_ENDIAN}
_LONG_VRS = LONG_VRS
_PIXEL_TAGS = PIXEL_TAGS
_ITEM, _ITEM_END, _SEQ_END = ITEM, ITEM_END, SEQUENCE_END
_UNDEFINED = UNDEFINED_LENGTH
_TEXT_SINGLE = {"LT", "ST", "UT", "UR"}
_TEXT = {"AE", "AS", "CS", "DA", "DT", "LO", "PN", "SH", "TM", "UC", "UI", "LT", "ST", "UT",
         "UR"}
_BINARY = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d", "UV": "Q",
           "SV": "q"}
_CHARSETS = {"": "latin-1", "ISO_IR 6": "latin-1", "ISO_IR 100": "latin-1",
             "ISO_IR 192": "utf-8"}
_CHUNK = 64 * 1024


class NeedsFullParse(Exception):
    """This view cannot answer: read the file with pydicom instead."""


# The attributes a scan reads, with their tags and dictionary VRs: a scan of plain files
# then never imports pydicom (~0.2 s per process). tests/test_header.py checks this table
# against pydicom's data dictionary; other keywords are looked up there on first use.
_KEYWORDS: dict[str, tuple[int, str]] = {
    "AcquisitionDate": (0x00080022, "DA"),
    "AcquisitionNumber": (0x00200012, "IS"),
    "AcquisitionTime": (0x00080032, "TM"),
    "BitsAllocated": (0x00280100, "US"),
    "BitsStored": (0x00280101, "US"),
    "BodyPartExamined": (0x00180015, "CS"),
    "BurnedInAnnotation": (0x00280301, "CS"),
    "Columns": (0x00280011, "US"),
    "ContentTime": (0x00080033, "TM"),
    "ConvolutionKernel": (0x00181210, "SH"),
    "DirectoryRecordSequence": (0x00041220, "SQ"),
    "DoseGridScaling": (0x3004000E, "DS"),
    "DoubleFloatPixelData": (0x7FE00009, "OD"),
    "ExtendedOffsetTable": (0x7FE00001, "OV"),
    "ExtendedOffsetTableLengths": (0x7FE00002, "OV"),
    "EchoNumbers": (0x00180086, "IS"),
    "EchoTime": (0x00180081, "DS"),
    "FlipAngle": (0x00181314, "DS"),
    "FloatPixelData": (0x7FE00008, "OF"),
    "FrameOfReferenceUID": (0x00200052, "UI"),
    "GantryDetectorTilt": (0x00181120, "DS"),
    "GridFrameOffsetVector": (0x3004000C, "DS"),
    "HighBit": (0x00280102, "US"),
    "ImageComments": (0x00204000, "LT"),
    "ImageOrientationPatient": (0x00200037, "DS"),
    "ImagePositionPatient": (0x00200032, "DS"),
    "ImageType": (0x00080008, "CS"),
    "ImagerPixelSpacing": (0x00181164, "DS"),
    "InstanceNumber": (0x00200013, "IS"),
    "InversionTime": (0x00180082, "DS"),
    "KVP": (0x00180060, "DS"),
    "LargestImagePixelValue": (0x00280107, "US or SS"),
    "LossyImageCompression": (0x00282110, "CS"),
    "MagneticFieldStrength": (0x00180087, "DS"),
    "Manufacturer": (0x00080070, "LO"),
    "ManufacturerModelName": (0x00081090, "LO"),
    "Modality": (0x00080060, "CS"),
    "NumberOfFrames": (0x00280008, "IS"),
    "PatientID": (0x00100020, "LO"),
    "PatientName": (0x00100010, "PN"),
    "PatientPosition": (0x00185100, "CS"),
    "PerFrameFunctionalGroupsSequence": (0x52009230, "SQ"),
    "PhotometricInterpretation": (0x00280004, "CS"),
    "PixelData": (0x7FE00010, "OB or OW"),
    "PixelPaddingRangeLimit": (0x00280121, "US or SS"),
    "PixelPaddingValue": (0x00280120, "US or SS"),
    "PixelRepresentation": (0x00280103, "US"),
    "PixelSpacing": (0x00280030, "DS"),
    "PlanarConfiguration": (0x00280006, "US"),
    "ProtocolName": (0x00181030, "LO"),
    "RepetitionTime": (0x00180080, "DS"),
    "RescaleIntercept": (0x00281052, "DS"),
    "RescaleSlope": (0x00281053, "DS"),
    "RescaleType": (0x00281054, "LO"),
    "Rows": (0x00280010, "US"),
    "SOPClassUID": (0x00080016, "UI"),
    "SOPInstanceUID": (0x00080018, "UI"),
    "SamplesPerPixel": (0x00280002, "US"),
    "SeriesDate": (0x00080021, "DA"),
    "SeriesDescription": (0x0008103E, "LO"),
    "SeriesInstanceUID": (0x0020000E, "UI"),
    "SeriesNumber": (0x00200011, "IS"),
    "SeriesTime": (0x00080031, "TM"),
    "SharedFunctionalGroupsSequence": (0x52009229, "SQ"),
    "SliceLocation": (0x00201041, "DS"),
    "SliceThickness": (0x00180050, "DS"),
    "SmallestImagePixelValue": (0x00280106, "US or SS"),
    "SpacingBetweenSlices": (0x00180088, "DS"),
    "SpecificCharacterSet": (0x00080005, "CS"),
    "StudyDate": (0x00080020, "DA"),
    "StudyDescription": (0x00081030, "LO"),
    "StudyInstanceUID": (0x0020000D, "UI"),
    "StudyTime": (0x00080030, "TM"),
    "TemporalPositionIdentifier": (0x00200100, "IS"),
    "WindowCenter": (0x00281050, "DS"),
    "WindowWidth": (0x00281051, "DS"),
}

_BY_TAG = {tag: vr for tag, vr in _KEYWORDS.values()}


@functools.lru_cache(maxsize=4096)
def _tag_of(keyword: str) -> int | None:
    known = _KEYWORDS.get(keyword)
    if known:
        return known[0]
    from pydicom.datadict import tag_for_keyword

    return tag_for_keyword(keyword)


@functools.lru_cache(maxsize=4096)
def _dictionary_vr(tag: int) -> str:
    """The data dictionary's VR for `tag` ("US or SS" kept whole), "UN" if unknown."""
    if tag in _BY_TAG:
        return _BY_TAG[tag]
    from pydicom.datadict import dictionary_VR

    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return "UN"


class _Element:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class _FileMeta:
    def __init__(self, transfer_syntax: str, sop_class: str) -> None:
        self.TransferSyntaxUID = transfer_syntax
        self.MediaStorageSOPClassUID = sop_class

    def get(self, keyword: str, default: Any = None) -> Any:
        return getattr(self, keyword, default)


class FastHeader:
    """Top-level elements of one file: ``get(keyword)``, ``keyword in header``,
    ``header[(group, element)].value`` and attribute access, like a pydicom Dataset."""

    def __init__(self, raw: dict[int, tuple[bytes, bytes]], transfer_syntax: str,
                 sop_class: str, pixel_offset: int, pixel_length: int) -> None:
        self._raw = raw
        self._values: dict[int, Any] = {}
        self.file_meta = _FileMeta(transfer_syntax, sop_class)
        #: where the Pixel Data element starts in the file (-1: no pixel data), and whether
        #: its value is encapsulated (undefined length: compressed frames in items)
        self.pixel_offset = pixel_offset
        self.pixel_encapsulated = pixel_length == _UNDEFINED
        charset = raw.get(0x00080005)
        name = charset[1].decode("latin-1").strip(" \x00") if charset else ""
        if name not in _CHARSETS:
            raise NeedsFullParse(f"character set {name!r}")
        self._encoding = _CHARSETS[name]

    def _tag(self, key: Any) -> int | None:
        if isinstance(key, str):
            return _tag_of(key)
        if isinstance(key, tuple):
            return (key[0] << 16) | key[1]
        return int(key)

    def __contains__(self, key: Any) -> bool:
        tag = self._tag(key)
        return tag is not None and tag in self._raw

    def get(self, key: Any, default: Any = None) -> Any:
        if key == "file_meta":
            return self.file_meta
        tag = self._tag(key)
        if tag is None or tag not in self._raw:
            return default
        if tag in _PIXEL_TAGS:
            raise NeedsFullParse("pixel data is not read by the header view")
        if tag not in self._values:
            vr_bytes, data = self._raw[tag]
            vr = vr_bytes.decode() if vr_bytes else self._implicit_vr(tag)
            if vr == "UN" and not (tag >> 16) & 1:
                vr = self._implicit_vr(tag)  # a public element sent as UN: its dictionary VR
            self._values[tag] = self._convert(vr, data)
        return self._values[tag]

    def _implicit_vr(self, tag: int) -> str:
        """VR from the dictionary; 'US or SS' follows Pixel Representation (PS3.5 A.1)."""
        vr = _dictionary_vr(tag)
        if vr == "US or SS":
            return "SS" if self.get(0x00280103) == 1 else "US"
        return vr.split(" or ")[0]

    def __getitem__(self, key: Any) -> _Element:
        if key not in self:
            raise KeyError(key)
        return _Element(self.get(key))

    def __getattr__(self, keyword: str) -> Any:
        if keyword.startswith("_"):
            raise AttributeError(keyword)
        tag = _tag_of(keyword)
        if tag is None or tag not in self._raw:
            raise AttributeError(keyword)
        return self.get(tag)

    def _convert(self, vr: str, data: bytes) -> Any:
        if vr == "SQ":
            raise NeedsFullParse("sequence content")
        if vr in _TEXT:
            text = data.decode(self._encoding if vr in ("LO", "LT", "PN", "SH", "ST", "UC",
                                                        "UT") else "latin-1")
            text = text.rstrip(" \x00")
            if vr in _TEXT_SINGLE:
                return text
            parts = [p.strip(" ") if vr != "PN" else p for p in text.split("\\")]
            return parts if len(parts) > 1 else parts[0]
        if vr in ("DS", "IS"):
            parts = data.decode("latin-1").strip(" \x00").split("\\")
            try:
                values = [_number(p, vr) for p in parts]
            except ValueError as exc:
                raise NeedsFullParse(f"invalid {vr} value {data!r}") from exc
            if values == [None]:
                return None
            return values if len(values) > 1 else values[0]
        fmt = _BINARY.get(vr)
        if fmt:
            size = struct.calcsize(fmt)
            if len(data) % size:
                raise NeedsFullParse(f"{vr} value of odd length")
            values = list(struct.unpack(f"<{len(data) // size}{fmt}", data))
            if not values:
                return None
            return values if len(values) > 1 else values[0]
        return bytes(data)  # OB, OW, UN, AT ...


def _number(text: str, vr: str) -> float | int | None:
    text = text.strip()
    if not text:
        return None
    if vr == "IS":
        value = float(text)
        if not value.is_integer():
            raise ValueError(text)
        return int(value)
    return float(text)


class _Reader:
    """Little-endian cursor over a file that reads more of it only when needed."""

    def __init__(self, fh: Any) -> None:
        self.fh = fh
        self.size = os.fstat(fh.fileno()).st_size
        self.buf = fh.read(_CHUNK)
        self.pos = 0

    def need(self, count: int) -> None:
        if self.pos + count > self.size:  # a length field past the end: never read (alloc) it
            raise NeedsFullParse("an element runs past the end of the file")
        while self.pos + count > len(self.buf):
            more = self.fh.read(max(_CHUNK, count))
            if not more:
                raise NeedsFullParse("file ends inside the header")
            self.buf += more

    def take(self, count: int) -> bytes:
        self.need(count)
        data = self.buf[self.pos:self.pos + count]
        self.pos += count
        return data

    def skip(self, count: int) -> None:
        self.need(count)
        self.pos += count

    def unpack(self, fmt: str, size: int) -> tuple[Any, ...]:
        self.need(size)
        values = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return values


def _element_head(reader: _Reader, implicit: bool) -> tuple[int, str, int, int]:
    """(tag, VR, length, header size) of the element at the cursor."""
    group, element = reader.unpack("<HH", 4)
    tag = (group << 16) | element
    if tag in (_ITEM, _ITEM_END, _SEQ_END) or implicit:
        (length,) = reader.unpack("<I", 4)
        vr = "" if tag >> 16 == 0xFFFE else _dictionary_vr(tag).split(" or ")[0]
        if length == _UNDEFINED and vr not in ("SQ", "UN", "OB", "OW"):
            vr = "SQ"
        return tag, vr, length, 8
    vr_bytes = reader.take(2)
    if vr_bytes in _LONG_VRS:
        reader.skip(2)
        (length,) = reader.unpack("<I", 4)
        return tag, vr_bytes.decode("ascii"), length, 12
    (length,) = reader.unpack("<H", 2)
    if not (vr_bytes.isalpha() and vr_bytes.isupper()):
        raise NeedsFullParse(f"not an explicit VR: {vr_bytes!r}")
    return tag, vr_bytes.decode("ascii"), length, 8


def _skip_undefined(reader: _Reader, implicit: bool) -> None:
    """Skip an undefined-length sequence (or UN/OB) up to and including its delimiter."""
    while True:
        tag, _vr, length, _ = _element_head(reader, implicit)
        if tag == _SEQ_END:
            return
        if tag != _ITEM:
            raise NeedsFullParse("malformed sequence")
        if length != _UNDEFINED:
            reader.skip(length)
            continue
        while True:  # an undefined-length item: its elements until the item delimiter
            tag, _vr, length, _ = _element_head(reader, implicit)
            if tag == _ITEM_END:
                break
            if length == _UNDEFINED:
                _skip_undefined(reader, implicit or _vr == "UN")
            else:
                reader.skip(length)


_KNOWN_VRS = KNOWN_VRS


def _walk_top_level(reader: _Reader, implicit: bool,
                    raw: dict[int, tuple[bytes, bytes]]) -> tuple[int, int]:
    """Collect top-level elements into `raw` (tag -> (VR bytes, b"" if implicit, value bytes))
    up to Pixel Data; return its (element offset, value length), or (-1, 0).

    This loop runs for every element of every file a scan reads, so it is written flat:
    one struct call per element header, no method calls on the common path."""
    unpack = struct.unpack_from
    buf, pos = reader.buf, reader.pos
    while True:
        if pos + 12 > len(buf):
            reader.pos = pos
            more = reader.fh.read(_CHUNK)
            if not more:
                if pos + 8 > len(buf):
                    return -1, 0  # end of file: no pixel data
            else:
                reader.buf = buf = buf + more
                continue
        group, element, vr_bytes, short = unpack("<HH2sH", buf, pos)
        tag = (group << 16) | element
        if implicit:
            (length,) = unpack("<I", buf, pos + 4)
            vr, head = b"", 8
        elif vr_bytes in _LONG_VRS:
            (length,) = unpack("<I", buf, pos + 8)
            vr, head = vr_bytes, 12
        elif vr_bytes in _KNOWN_VRS:
            length, vr, head = short, vr_bytes, 8
        else:
            raise NeedsFullParse(f"not an explicit VR: {vr_bytes!r}")
        if tag in _PIXEL_TAGS:
            raw[tag] = (b"OW", b"")
            return pos, length
        if length == _UNDEFINED:
            reader.pos = pos + head
            # UN of undefined length is a sequence encoded implicit VR (PS3.5 6.2.2)
            _skip_undefined(reader, implicit or vr == b"UN")
            raw[tag] = (b"SQ", b"")
            buf, pos = reader.buf, reader.pos
            continue
        end = pos + head + length
        if end > len(buf):
            reader.pos = pos + head
            reader.need(length)  # bounded by the file size
            buf = reader.buf
        raw[tag] = (vr, buf[pos + head:end])
        pos = end


# First group numbers a DICOM dataset without the Part 10 preamble can start with.
_RAW_DATASET_GROUPS = {0x0000, 0x0002, 0x0008}


def may_be_dicom(path: str) -> bool:
    """Cheap test before asking pydicom: a file with the DICM prefix, or one starting with
    a group-0/2/8 tag (old ACR-NEMA or raw datasets, either byte order)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return True  # let the full reader report why it cannot be read
    if head[128:132] == b"DICM":
        return True
    if len(head) < 8:
        return False
    return (int.from_bytes(head[:2], "little") in _RAW_DATASET_GROUPS
            or int.from_bytes(head[:2], "big") in _RAW_DATASET_GROUPS)


def read_fast_header(path: str) -> FastHeader | None:
    """The top-level header of `path`, or None when this reader does not cover the file
    (no Part 10 preamble, big endian, deflated, unusual character set)."""
    with open(path, "rb") as fh:
        reader = _Reader(fh)
        try:
            return _parse(reader)
        except NeedsFullParse:
            return None
        except struct.error:
            return None


def _parse(reader: _Reader) -> FastHeader | None:
    reader.need(132)
    if reader.buf[128:132] != b"DICM":
        return None
    reader.pos = 132
    meta: dict[int, bytes] = {}
    while True:
        reader.need(8)
        group = struct.unpack_from("<H", reader.buf, reader.pos)[0]
        if group != 0x0002:
            break
        tag, _vr, length, _ = _element_head(reader, implicit=False)
        if length == _UNDEFINED:
            return None
        meta[tag] = reader.take(length)
    syntax = meta.get(0x00020010, b"").decode("latin-1").strip(" \x00")
    if syntax not in _LITTLE_ENDIAN_SYNTAXES_WITHOUT_DEFLATE and not ts.is_encapsulated(syntax):
        return None  # big endian, deflated dataset, or unknown: pydicom's job
    implicit = syntax == _IMPLICIT
    sop_class = meta.get(0x00020002, b"").decode("latin-1").strip(" \x00")
    raw: dict[int, tuple[bytes, bytes]] = {}
    pixel_offset, pixel_length = _walk_top_level(reader, implicit, raw)
    return FastHeader(raw, syntax, sop_class, pixel_offset, pixel_length)
