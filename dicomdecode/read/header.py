# cython: annotation_typing=False
# (compiled by setup.py as ordinary Python: annotations are hints here, never C types or
# exact-type checks, so compiled and interpreted accept the same arguments)
"""A fast, read-only view of a DICOM file's top-level header, for scanning big folders.

pydicom parses every element into objects and converts values through layers of hooks;
that is right for editing files but costs about 1-2 ms per file when a scan only needs
thirty values. This reader walks the top level of the file with the compiled core
(:mod:`dicomdecode.read.walkcore`, interpreted where it could not be built), skips
sequences without parsing them, stops at Pixel Data (recording where it is), and converts
only the values asked for.

It covers the common case (Part 10 files, implicit or explicit VR little endian, explicit
VR big endian, ASCII, Latin-1 or UTF-8 text). Anything else returns None from :func:`read_fast_header`, and
whatever asks for something this view does not hold (a sequence's content, a value it
cannot convert) gets :class:`NeedsFullParse`: callers then read the file with pydicom.
Results are the same either way; this is only a faster road to them.
"""

from __future__ import annotations

import functools
import os
import struct
from array import array
from collections.abc import Callable, Iterator
from typing import Any

from dicomdecode.read import transfer_syntax as ts
from dicomdecode.read import walkcore
from dicomdecode.read.elements import PIXEL_TAGS, UNDEFINED_LENGTH

_IMPLICIT = ts.IMPLICIT_VR_LITTLE_ENDIAN
_PLAIN_SYNTAXES = {ts.IMPLICIT_VR_LITTLE_ENDIAN, ts.EXPLICIT_VR_LITTLE_ENDIAN,
                   ts.EXPLICIT_VR_BIG_ENDIAN}
_PIXEL_TAGS = PIXEL_TAGS
_UNDEFINED = UNDEFINED_LENGTH
_TEXT_SINGLE = {"LT", "ST", "UT", "UR"}
_TEXT = {"AE", "AS", "CS", "DA", "DT", "LO", "PN", "SH", "TM", "UC", "UI", "LT", "ST", "UT",
         "UR"}
_BINARY = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d", "UV": "Q",
           "SV": "q"}
_CHARSETS = {"": "latin-1", "ISO_IR 6": "latin-1", "ISO_IR 100": "latin-1",
             "ISO_IR 192": "utf-8"}
_CHUNK = 64 * 1024
#: the walk's VR codes (the two letters as a 16-bit number) -> the VR as bytes and as text
_VR_BYTES: dict[int, bytes] = dict(walkcore._VR_BYTES)
_VR_NAMES: dict[int, str] = {code: vr.decode() for code, vr in _VR_BYTES.items()}


class NeedsFullParse(Exception):
    """This view cannot answer: read the file with pydicom instead."""


# The attributes a scan reads, and those of the sidecar's acquisition facts
# (writers/metadata.py), with their tags and dictionary VRs: a scan or convert of plain files
# then never imports pydicom (0.3-0.5 s per process). tests/test_header.py checks this table
# against pydicom's data dictionary; other keywords are looked up there on first use.
_KEYWORDS: dict[str, tuple[int, str]] = {
    "AcquisitionDate": (0x00080022, "DA"),
    "AcquisitionDateTime": (0x0008002A, "DT"),
    "AcquisitionDuration": (0x00189073, "FD"),
    "AcquisitionMatrix": (0x00181310, "US"),
    "AcquisitionNumber": (0x00200012, "IS"),
    "AcquisitionTime": (0x00080032, "TM"),
    "ActualFrameDuration": (0x00181242, "IS"),
    "AttenuationCorrectionMethod": (0x00541101, "LO"),
    "BitsAllocated": (0x00280100, "US"),
    "BitsStored": (0x00280101, "US"),
    "BodyPartExamined": (0x00180015, "CS"),
    "BurnedInAnnotation": (0x00280301, "CS"),
    "Columns": (0x00280011, "US"),
    "ComplexImageComponent": (0x00089208, "CS"),
    "ContentTime": (0x00080033, "TM"),
    "ConvolutionKernel": (0x00181210, "SH"),
    "DecayCorrection": (0x00541102, "CS"),
    "DecayFactor": (0x00541321, "DS"),
    "DeidentificationMethod": (0x00120063, "LO"),
    "DeviceSerialNumber": (0x00181000, "LO"),
    "DirectoryRecordSequence": (0x00041220, "SQ"),
    "DoseCalibrationFactor": (0x00541322, "DS"),
    "DoseGridScaling": (0x3004000E, "DS"),
    "DoubleFloatPixelData": (0x7FE00009, "OD"),
    "EchoNumbers": (0x00180086, "IS"),
    "EchoTime": (0x00180081, "DS"),
    "EchoTrainLength": (0x00180091, "IS"),
    "EffectiveEchoTime": (0x00189082, "FD"),
    "Exposure": (0x00181152, "IS"),
    "ExposureTime": (0x00181150, "IS"),
    "ExtendedOffsetTable": (0x7FE00001, "OV"),
    "ExtendedOffsetTableLengths": (0x7FE00002, "OV"),
    "FlipAngle": (0x00181314, "DS"),
    "FloatPixelData": (0x7FE00008, "OF"),
    "FrameOfReferenceUID": (0x00200052, "UI"),
    "GantryDetectorTilt": (0x00181120, "DS"),
    "GradientEchoTrainLength": (0x00189241, "US"),
    "GridFrameOffsetVector": (0x3004000C, "DS"),
    "HighBit": (0x00280102, "US"),
    "ImageComments": (0x00204000, "LT"),
    "ImageOrientationPatient": (0x00200037, "DS"),
    "ImagePositionPatient": (0x00200032, "DS"),
    "ImageType": (0x00080008, "CS"),
    "ImagerPixelSpacing": (0x00181164, "DS"),
    "ImagingFrequency": (0x00180084, "DS"),
    "InPlanePhaseEncodingDirection": (0x00181312, "CS"),
    "InstanceNumber": (0x00200013, "IS"),
    "InstitutionAddress": (0x00080081, "ST"),
    "InstitutionName": (0x00080080, "LO"),
    "InstitutionalDepartmentName": (0x00081040, "LO"),
    "InversionTime": (0x00180082, "DS"),
    "InversionTimes": (0x00189079, "FD"),
    "KVP": (0x00180060, "DS"),
    "LargestImagePixelValue": (0x00280107, "US or SS"),
    "LossyImageCompression": (0x00282110, "CS"),
    "MRAcquisitionFrequencyEncodingSteps": (0x00189058, "US"),
    "MRAcquisitionPhaseEncodingStepsInPlane": (0x00189231, "US"),
    "MRAcquisitionPhaseEncodingStepsOutOfPlane": (0x00189232, "US"),
    "MRAcquisitionType": (0x00180023, "CS"),
    "MagneticFieldStrength": (0x00180087, "DS"),
    "MagnetizationTransfer": (0x00189020, "CS"),
    "Manufacturer": (0x00080070, "LO"),
    "ManufacturerModelName": (0x00081090, "LO"),
    "Modality": (0x00080060, "CS"),
    "NumberOfAverages": (0x00180083, "DS"),
    "NumberOfFrames": (0x00280008, "IS"),
    "NumberOfKSpaceTrajectories": (0x00189093, "US"),
    "NumberOfPhaseEncodingSteps": (0x00180089, "IS"),
    "ParallelAcquisitionTechnique": (0x00189078, "CS"),
    "ParallelReductionFactorInPlane": (0x00189069, "FD"),
    "ParallelReductionFactorOutOfPlane": (0x00189155, "FD"),
    "PartialFourierDirection": (0x00189036, "CS"),
    "PatientID": (0x00100020, "LO"),
    "PatientName": (0x00100010, "PN"),
    "PatientPosition": (0x00185100, "CS"),
    "PerFrameFunctionalGroupsSequence": (0x52009230, "SQ"),
    "PercentPhaseFieldOfView": (0x00180094, "DS"),
    "PercentSampling": (0x00180093, "DS"),
    "PerformedProcedureStepDescription": (0x00400254, "LO"),
    "PhotometricInterpretation": (0x00280004, "CS"),
    "PixelBandwidth": (0x00180095, "DS"),
    "PixelData": (0x7FE00010, "OB or OW"),
    "PixelPaddingRangeLimit": (0x00280121, "US or SS"),
    "PixelPaddingValue": (0x00280120, "US or SS"),
    "PixelRepresentation": (0x00280103, "US"),
    "PixelSpacing": (0x00280030, "DS"),
    "PlanarConfiguration": (0x00280006, "US"),
    "ProtocolName": (0x00181030, "LO"),
    "PulseSequenceName": (0x00189005, "SH"),
    "RadionuclideHalfLife": (0x00181075, "DS"),
    "RadionuclidePositronFraction": (0x00181076, "DS"),
    "RadionuclideTotalDose": (0x00181074, "DS"),
    "ReceiveCoilName": (0x00181250, "SH"),
    "ReconstructionMethod": (0x00541103, "LO"),
    "RectilinearPhaseEncodeReordering": (0x00189034, "CS"),
    "RepetitionTime": (0x00180080, "DS"),
    "RescaleIntercept": (0x00281052, "DS"),
    "RescaleSlope": (0x00281053, "DS"),
    "RescaleType": (0x00281054, "LO"),
    "Rows": (0x00280010, "US"),
    "SAR": (0x00181316, "DS"),
    "SOPClassUID": (0x00080016, "UI"),
    "SOPInstanceUID": (0x00080018, "UI"),
    "SamplesPerPixel": (0x00280002, "US"),
    "ScanOptions": (0x00180022, "CS"),
    "ScanningSequence": (0x00180020, "CS"),
    "SequenceName": (0x00180024, "SH"),
    "SequenceVariant": (0x00180021, "CS"),
    "SeriesDate": (0x00080021, "DA"),
    "SeriesDescription": (0x0008103E, "LO"),
    "SeriesInstanceUID": (0x0020000E, "UI"),
    "SeriesNumber": (0x00200011, "IS"),
    "SeriesTime": (0x00080031, "TM"),
    "SharedFunctionalGroupsSequence": (0x52009229, "SQ"),
    "SliceLocation": (0x00201041, "DS"),
    "SliceThickness": (0x00180050, "DS"),
    "SmallestImagePixelValue": (0x00280106, "US or SS"),
    "SoftwareVersions": (0x00181020, "LO"),
    "SpacingBetweenSlices": (0x00180088, "DS"),
    "SpecificCharacterSet": (0x00080005, "CS"),
    "Spoiling": (0x00189016, "CS"),
    "StationName": (0x00081010, "SH"),
    "StudyDate": (0x00080020, "DA"),
    "StudyDescription": (0x00081030, "LO"),
    "StudyInstanceUID": (0x0020000D, "UI"),
    "StudyTime": (0x00080030, "TM"),
    "TemporalPositionIdentifier": (0x00200100, "IS"),
    "TransmitterFrequency": (0x00189098, "FD"),
    "WindowCenter": (0x00281050, "DS"),
    "WindowWidth": (0x00281051, "DS"),
    "XRayTubeCurrent": (0x00181151, "IS"),
}

_BY_TAG = {tag: vr for tag, vr in _KEYWORDS.values()}
_TAGS = {keyword: tag for keyword, (tag, _vr) in _KEYWORDS.items()}


@functools.lru_cache(maxsize=4096)
def _tag_of(keyword: str) -> int | None:
    known = _KEYWORDS.get(keyword)
    if known:
        return known[0]
    from pydicom.datadict import tag_for_keyword

    return tag_for_keyword(keyword)


#: a keyword's tag (the table above, else pydicom's dictionary), None if unknown
tag_of = _tag_of


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


#: Converted values by (VR, text encoding, byte order, value bytes), shared by every header
#: of this process (bounded: emptied when full; values of up to _SHARED_MAX_BYTES bytes).
_SHARED: dict[tuple[str, tuple[str, str], bytes], Any] = {}
_SHARED_MAX = 8192
_SHARED_MAX_BYTES = 256
_MISSING = object()


class _Element:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class _ListedElement:
    """One element as iterating a FastHeader lists it; the value is read on first use."""

    __slots__ = ("VR", "_header", "tag")

    def __init__(self, header: FastHeader, tag: int, vr: str) -> None:
        self._header, self.tag, self.VR = header, tag, vr

    @property
    def value(self) -> Any:
        if self.VR == "SQ":
            return self._header.sequence_items(self.tag)
        return self._header.get(self.tag)


class _FileMeta:
    def __init__(self, transfer_syntax: str, sop_class: str) -> None:
        self.TransferSyntaxUID = transfer_syntax
        self.MediaStorageSOPClassUID = sop_class

    def get(self, keyword: str, default: Any = None) -> Any:
        return getattr(self, keyword, default)


class FastHeader:
    """Top-level elements of one file: ``get(keyword)``, ``keyword in header``,
    ``header[(group, element)].value`` and attribute access, like a pydicom Dataset."""

    def __init__(self, buf: bytes, records: array, transfer_syntax: str,
                 sop_class: str, pixel_offset: int, pixel_length: int,
                 big_endian: bool = False) -> None:
        # the buffer and the walk's records (tag, VR code, value start, length: numbers,
        # read/walkcore.walk_records); a value's bytes are sliced out when it is asked for
        self._buf = buf
        self._records = records
        self._ascending = walkcore.strictly_ascending(records)
        self._order = ">" if big_endian else "<"
        self._values: dict[int, Any] = {}
        self.file_meta = _FileMeta(transfer_syntax, sop_class)
        #: where the Pixel Data element starts in the file (-1: no pixel data), and whether
        #: its value is encapsulated (undefined length: compressed frames in items)
        self.pixel_offset = pixel_offset
        self.pixel_encapsulated = pixel_length == _UNDEFINED
        #: the file's size when read_fast_header read it from a local file (None otherwise)
        self.file_size: int | None = None
        charset = self._element(0x00080005)
        name = charset[1].decode("latin-1").strip(" \x00") if charset else ""
        if name not in _CHARSETS:
            raise NeedsFullParse(f"character set {name!r}")
        self._encoding = _CHARSETS[name]
        #: what a value's conversion depends on besides its VR and bytes (a _SHARED key)
        self._text_key = (self._encoding, self._order)

    def _element(self, tag: int) -> tuple[bytes, bytes] | None:
        """(VR bytes or b"", value bytes) of the top-level element `tag`, or None."""
        found = walkcore.lookup(self._buf, self._records, tag, self._ascending)
        if found is None:
            return None
        return _VR_BYTES.get(found[0], b""), found[1]

    @property
    def _raw(self) -> dict[int, tuple[bytes, bytes]]:
        """Every top-level element as tag -> (VR bytes or b"", value bytes), in file order
        (a repeated tag keeps its first place and its last value): for tests and debugging."""
        raw: dict[int, tuple[bytes, bytes]] = {}
        for index in range(len(self._records) // 4):
            raw[self._records[4 * index]] = walkcore.element_at(self._buf, self._records, index)
        return raw

    def fingerprint(self, tags: array) -> tuple[Any, ...]:
        """What the values of `tags` (an ``array("q")``) are made from: the text encoding,
        the byte order and each element's VR code and bytes, or its absence
        (:func:`walkcore.fingerprint`). Two headers with equal fingerprints give equal
        values for those tags (a cache key)."""
        return (self._encoding, self._order,
                walkcore.fingerprint(self._buf, self._records, tags, self._ascending))

    def _tag(self, key: Any) -> int | None:
        if isinstance(key, str):
            return _tag_of(key)
        if isinstance(key, tuple):
            return (key[0] << 16) | key[1]
        return int(key)

    def __contains__(self, key: Any) -> bool:
        tag = _TAGS.get(key) if type(key) is str else None  # the scan's keywords
        if tag is None:
            tag = self._tag(key)
            if tag is None:
                return False
        return (tag in self._values
                or walkcore.find_record(self._records, tag, self._ascending) >= 0)

    def get(self, key: Any, default: Any = None) -> Any:
        # each self.<attribute> goes through __getattr__'s slot (a few hundred
        # instructions): read once into locals; this runs ~17 times per file of a scan
        tag = _TAGS.get(key) if type(key) is str else None  # the scan's keywords: one lookup
        if tag is None:
            if key == "file_meta":
                return self.file_meta
            tag = self._tag(key)
            if tag is None:
                return default
        values = self._values
        value = values.get(tag, _MISSING)
        if value is not _MISSING:
            return value
        found = walkcore.lookup(self._buf, self._records, tag, self._ascending)
        if found is None:
            return default
        if tag in _PIXEL_TAGS:
            raise NeedsFullParse("pixel data is not read by the header view")
        code, data = found
        vr = _VR_NAMES[code] if code else self._implicit_vr(tag)
        if vr == "UN" and not (tag >> 16) & 1:
            vr = self._implicit_vr(tag)  # a public element sent as UN: its dictionary VR
        if len(data) > _SHARED_MAX_BYTES:
            value = values[tag] = self._convert(vr, data)
            return value
        # most values repeat from file to file of a series (pixel description, spacing,
        # series identity): converted once per process, as the same bytes always are
        key = (vr, self._text_key, data)
        value = _SHARED.get(key, _MISSING)
        if value is _MISSING:
            value = self._convert(vr, data)
            if len(_SHARED) >= _SHARED_MAX:
                _SHARED.clear()
            _SHARED[key] = list(value) if type(value) is list else value
        elif type(value) is list:
            value = list(value)  # callers own the list they get, as from pydicom
        values[tag] = value
        return value

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

    def __iter__(self) -> Iterator[_ListedElement]:
        """The elements, as pydicom's ``for elem in ds`` gives them (``tag``, ``VR``,
        ``value``; a sequence's value is its items, each a header view), for code that
        searches nested sequences. NeedsFullParse where the view cannot tell every VR
        (implicit VR: the dictionary would be needed; UN, which pydicom may read as a
        sequence) or, on reading the value, a sequence it skipped (undefined length)."""
        raw = self._raw
        if any(vr in (b"", b"UN") for vr, _ in raw.values()):
            raise NeedsFullParse("element VRs the view does not know")
        for tag in sorted(raw):
            yield _ListedElement(self, tag, raw[tag][0].decode())

    def sequence_items(self, tag: int) -> list[FastHeader]:
        """The items of the defined-length sequence ``tag``, each walked by the same core
        as the top level; NeedsFullParse for one the walk skipped (undefined length: its
        content was not kept) or items that are not plain defined-length datasets."""
        vr, data = self._raw[tag]
        if vr != b"SQ" or not data:  # b"": skipped undefined length (or empty)
            raise NeedsFullParse("sequence content")
        items: list[FastHeader] = []
        pos = 0
        unpack = struct.Struct(f"{self._order}HHI").unpack_from
        while pos < len(data):
            if pos + 8 > len(data):
                raise NeedsFullParse("truncated sequence item")
            group, element, length = unpack(data, pos)
            if (group, element) != (0xFFFE, 0xE000) or length == _UNDEFINED \
                    or pos + 8 + length > len(data):
                raise NeedsFullParse("sequence item of undefined length or not an item")
            content = data[pos + 8:pos + 8 + length]
            records = array("q")
            status, end, _a, _b = walkcore.walk_records(content, 0, False,
                                                        self._order == ">", False, records)
            if status != walkcore.NEED or end != len(content):
                raise NeedsFullParse("sequence item that is not a plain dataset")
            items.append(self._item(content, records))
            pos += 8 + length
        return items

    def _item(self, content: bytes, records: array) -> FastHeader:
        """A view of one sequence item walked into `records`: read in this dataset's byte
        order and character set, with no pixel data of its own."""
        item = FastHeader.__new__(FastHeader)
        item._buf, item._records = content, records
        item._ascending = walkcore.strictly_ascending(records)
        item._order, item._values, item._encoding = self._order, {}, self._encoding
        item._text_key = self._text_key
        item.file_meta, item.pixel_offset, item.pixel_encapsulated = self.file_meta, -1, False
        item.file_size = None
        return item

    def __getattr__(self, keyword: str) -> Any:
        if not keyword[:1].isupper():  # DICOM keywords are CamelCase: not a dataset method
            raise AttributeError(keyword)
        tag = _tag_of(keyword)
        if tag is None or tag not in self:
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
            values = list(struct.unpack(f"{self._order}{len(data) // size}{fmt}", data))
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


#: The first read of a file: a scanner's header (hundreds of elements, private groups)
#: is a few kilobytes (4.5 KiB for the bench's 282 elements); a longer one is read on in
#: blocks of at least _CHUNK. Smaller is cheaper: a scan pays for every byte it copies.
_FIRST_READ = 8 * 1024
#: ... except where the previous file's header was longer: the files of a folder mostly
#: come from one scanner with one header length (17 KiB for the GE MR of issue 19, which
#: then took a second read and a copy per file), so the first read covers that length
#: rounded up to whole 4 KiB pages (at most _FIRST_READ_MAX). Only the reads change: the
#: header found is the same whatever the hint.
_FIRST_READ_MAX = 256 * 1024
_first_read = _FIRST_READ


def read_fast_header(path: str) -> FastHeader | None:
    """The top-level header of `path`, or None when this reader does not cover the file
    (no Part 10 preamble, deflated, unusual character set)."""
    global _first_read
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        size = os.fstat(fd).st_size
        try:
            header = header_from_buffer(os.read(fd, _first_read),
                                        lambda n: os.read(fd, n), size)
        except NeedsFullParse:
            return None
    finally:
        os.close(fd)
    if header is not None:
        header.file_size = size
        if header.pixel_offset >= 0:  # the header ends where the pixel element starts
            _first_read = min(max(_FIRST_READ, (header.pixel_offset + 12 + 4095) // 4096
                                  * 4096), _FIRST_READ_MAX)
    return header


def header_from_buffer(buf: bytes, read_more: Callable[[int], bytes] | None = None,
                       size: int | None = None) -> FastHeader | None:
    """The top-level header of the file whose first bytes are `buf`, or None when this
    reader does not cover the file; NeedsFullParse when its header is malformed.

    `read_more(n)` returns about the next n bytes of the file (b"" at its end): a local
    file's ``read`` or a ranged read of a remote object. `size`, the file's size when
    known, keeps an element length past the end from being read at all."""
    grown = _fill(bytes(buf), 132, read_more, size)
    if grown is None or grown[128:132] != b"DICM":
        return None
    buf = grown
    meta = array("q")
    status, pos, _a, _b, buf = _walk(buf, 132, False, False, True, meta, read_more, size)
    if status != walkcore.META_END:
        return None  # a meta element of undefined length, an unknown VR, or no dataset
    syntax = _meta_text(buf, meta, 0x00020010)
    if syntax not in _PLAIN_SYNTAXES and not ts.is_encapsulated(syntax):
        return None  # deflated dataset, or unknown: pydicom's job
    sop_class = _meta_text(buf, meta, 0x00020002)
    records = array("q")
    big = syntax == ts.EXPLICIT_VR_BIG_ENDIAN
    status, pos, length, tag, buf = _walk(buf, pos, syntax == _IMPLICIT, big, False, records,
                                          read_more, size)
    if status == walkcore.BAD:
        raise NeedsFullParse("not a data element where one should be")
    if status == walkcore.PIXEL:
        records.extend((tag, _OW_CODE, 0, 0))  # present, its value not read
        return FastHeader(buf, records, syntax, sop_class, pos, length, big)
    return FastHeader(buf, records, syntax, sop_class, -1, 0, big)  # the data ends: no pixels


_OW_CODE = (ord("O") << 8) | ord("W")


def _meta_text(buf: bytes, records: array, tag: int) -> str:
    """A UI value of the file meta as text ("" when absent); a repeated tag: the last."""
    found = walkcore.lookup(buf, records, tag, False)
    return "" if found is None else found[1].decode("latin-1").strip(" \x00")


def _walk(buf: bytes, pos: int, implicit: bool, big_endian: bool, meta_only: bool,
          records: array, read_more: Callable[[int], bytes] | None,
          size: int | None) -> tuple[int, int, int, int, bytes]:
    """:func:`walkcore.walk_records`, fetching more bytes while it needs them. Returns
    its result and the buffer. A walk that ends with fewer than 8 bytes left, at an
    element boundary, is the end of the data (status NEED)."""
    while True:
        status, pos, a, b = walkcore.walk_records(buf, pos, implicit, big_endian,
                                                  meta_only, records)
        if status != walkcore.NEED:
            return status, pos, a, b, buf
        grown = _fill(buf, a, read_more, size)
        if grown is None:
            if a == pos + 8:  # fewer than 8 bytes after the last element
                return walkcore.NEED, pos, 0, 0, buf
            raise NeedsFullParse("an element runs past the end of the file")
        buf = grown


def _fill(buf: bytes, need: int, read_more: Callable[[int], bytes] | None,
          size: int | None) -> bytes | None:
    """`buf` grown to at least `need` bytes, or None when the file is shorter. Reads at
    least double the buffer (a long header costs linear time), and never reads past a
    known `size`: a hostile length is compared with the file, never allocated."""
    if size is not None and need > size:
        return None
    while len(buf) < need:
        more = read_more(max(need - len(buf), len(buf), _CHUNK)) if read_more else b""
        if not more:
            return None
        buf += more
    return buf
