"""The description of one file's pixel data, built in ONE place.

Every road to pixels (``decode`` of one file, the stack decode of a series, the data-loader
datasets) describes a file's pixel data as a :class:`PixelSource`: the image attributes
the codecs and the canonical-frame rules need, where the Pixel Data element is in the file,
and (once read) the encoded frames or the native bytes. The defaults for missing
attributes (Bits Stored = Bits Allocated, MONOCHROME2 for one sample, ...) live in
:func:`make_pixel_source` and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from dicomdecode.errors import DecodeError
from dicomdecode.read import transfer_syntax as ts


@dataclass
class PixelSource:
    """Everything a handler needs to know about one file's pixel data.

    ``frames`` holds one encoded byte string per frame for encapsulated syntaxes;
    ``native`` holds the whole uncompressed Pixel Data value for native ones. Both stay
    empty until the pixels are read: ``pixel_offset`` (the file offset of the Pixel Data
    element, -1 when unknown) lets the readers of :mod:`dicomdecode.read.frames` fetch
    them without parsing the header again.
    """

    path: str
    transfer_syntax: str
    rows: int
    columns: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    photometric_interpretation: str
    planar_configuration: int
    number_of_frames: int
    frames: list[bytes] = field(default_factory=list)
    native: bytes | None = None
    float_pixels: int = 0  # 32 for Float Pixel Data, 64 for Double Float Pixel Data
    big_endian: bool = False
    pixel_vr: str = "OW"
    pixel_offset: int = -1

    @property
    def has_pixels(self) -> bool:
        """True once the encoded frames or the native bytes are attached."""
        return bool(self.frames) or self.native is not None


class PixelHeader(Protocol):
    """What the guard needs to know about a file's pixels (duck-typed, read-only: any
    object with these attributes, a frozen dataclass or NamedTuple included)."""

    @property
    def path(self) -> str: ...

    @property
    def transfer_syntax(self) -> str: ...

    @property
    def rows(self) -> int: ...

    @property
    def columns(self) -> int: ...

    @property
    def samples_per_pixel(self) -> int: ...

    @property
    def bits_allocated(self) -> int: ...

    @property
    def bits_stored(self) -> int: ...

    @property
    def pixel_representation(self) -> int: ...

    @property
    def photometric_interpretation(self) -> str: ...

    @property
    def planar_configuration(self) -> int: ...

    @property
    def number_of_frames(self) -> int: ...

    @property
    def float_pixels(self) -> int:
        """0 (integer pixels), 32 (Float Pixel Data) or 64 (Double Float Pixel Data)."""
        ...


#: native 4:2:2 layouts store two samples per pixel on average (PS3.3 C.7.6.3.1.2)
SUBSAMPLED_422 = frozenset({"YBR_FULL_422", "YBR_PARTIAL_422"})


def _frame_samples(source: PixelHeader) -> int:
    pixels = source.rows * source.columns
    if (source.photometric_interpretation or "").strip().upper() in SUBSAMPLED_422:
        return pixels * 2
    return pixels * source.samples_per_pixel


def frame_nbytes(source: PixelHeader) -> int:
    """Bytes one native frame takes on its own (1-bit data rounded up to whole bytes).

    DICOM packs 1-bit multi-frame data ACROSS frame boundaries, so the whole value is
    :func:`native_nbytes`, not frames times this."""
    bits = source.float_pixels or source.bits_allocated
    return (_frame_samples(source) * bits + 7) // 8


def native_nbytes(source: PixelHeader) -> int:
    """Bytes of the whole native Pixel Data value (without the pad byte)."""
    bits = source.float_pixels or source.bits_allocated
    return (_frame_samples(source) * source.number_of_frames * bits + 7) // 8


#: deflate cannot shrink data by more than this factor (RFC 1951: 258 bytes per 2 bits)
_DEFLATE_MAX_RATIO = 1032


def max_frames(file_size: int, pixel_offset: int, transfer_syntax: str,
               frame_bytes: int) -> int:
    """How many frames a file of `file_size` bytes can possibly hold, so a header's
    Number of Frames is checked before anything is looped over or allocated by it.

    Native frames take `frame_bytes` each; an encapsulated frame takes at least an
    8-byte item header; a deflated dataset at most 1/1032 of its inflated size."""
    room = max(file_size - max(pixel_offset, 0), 0)
    if ts.is_encapsulated(transfer_syntax):
        return room // 8
    frame_bytes = max(frame_bytes, 1)
    if transfer_syntax == ts.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN:
        return room * _DEFLATE_MAX_RATIO // frame_bytes
    return (room + 1) // frame_bytes


def _as_int(value: Any, default: int) -> int:
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def declared_frames(value: Any, path: str) -> int:
    """Number of Frames as the header declares it: absent or empty means 1 (single-frame
    objects leave it out), else a positive whole number; anything else (``"abc"``, 0,
    -3) is a DecodeError naming the file. The ONE reading of this value: the scan, the
    guard and every decode road share it, so none of them repairs what another refuses."""
    if isinstance(value, list | tuple):
        value = value[0] if len(value) == 1 else value
    if value is None or (isinstance(value, str | bytes) and not value.strip()):
        return 1
    try:
        count = int(value)
    except (TypeError, ValueError):
        count = None
    if count is None or count < 1:
        raise DecodeError(f"Number of Frames is {value!r}, not a positive whole number", path)
    return count


def make_pixel_source(path: str, transfer_syntax: str, get: Callable[[str], Any], *,
                      float_bits: int = 0, pixel_vr: str = "OW",
                      pixel_offset: int = -1) -> PixelSource:
    """A PixelSource from header values: ``get(keyword)`` returns the attribute or None.

    Works for a pydicom Dataset, the fast header view and a scan's ImageRef alike (the
    callers pass a getter), so the defaults are applied the same way on every road.
    A header value that is not a number becomes the default here (the guard,
    :mod:`dicomdecode.decode.validate`, judges the result: Bits Allocated 0 stays 0 and is
    refused there, on every road), except Number of Frames, which sizes everything and is
    refused here if it is not a positive whole number (:func:`declared_frames`).
    """
    uid = str(transfer_syntax or ts.IMPLICIT_VR_LITTLE_ENDIAN).strip().rstrip("\x00")
    samples = _as_int(get("SamplesPerPixel"), 1)
    bits_allocated = _as_int(get("BitsAllocated"), float_bits or 16)
    default_pi = "MONOCHROME2" if samples == 1 else "RGB"
    photometric = str(get("PhotometricInterpretation") or "").strip() or default_pi
    frames = declared_frames(get("NumberOfFrames"), path)
    return PixelSource(
        path=path,
        transfer_syntax=uid,
        rows=_as_int(get("Rows"), 0),
        columns=_as_int(get("Columns"), 0),
        samples_per_pixel=samples,
        bits_allocated=bits_allocated,
        bits_stored=_as_int(get("BitsStored"), bits_allocated) or bits_allocated,
        pixel_representation=_as_int(get("PixelRepresentation"), 0),
        photometric_interpretation=photometric,
        planar_configuration=_as_int(get("PlanarConfiguration"), 0),
        number_of_frames=frames,
        float_pixels=float_bits,
        big_endian=uid == ts.EXPLICIT_VR_BIG_ENDIAN,
        pixel_vr=pixel_vr,
        pixel_offset=pixel_offset,
    )


#: ImageRef field -> DICOM keyword (the scan stores these under its own names)
_IMAGE_FIELDS = {
    "Rows": "rows", "Columns": "columns", "SamplesPerPixel": "samples_per_pixel",
    "BitsAllocated": "bits_allocated", "BitsStored": "bits_stored",
    "PixelRepresentation": "pixel_representation",
    "PhotometricInterpretation": "photometric",
    "PlanarConfiguration": "planar_configuration", "NumberOfFrames": "number_of_frames",
}


def pixel_source_of_image(image: Any) -> PixelSource:
    """The PixelSource of a scan's ImageRef (header values only, no pixel bytes)."""
    def get(keyword: str) -> Any:
        return getattr(image, _IMAGE_FIELDS[keyword], None)

    return make_pixel_source(image.path, image.transfer_syntax, get,
                             float_bits=int(getattr(image, "float_pixels", 0) or 0),
                             pixel_offset=int(getattr(image, "pixel_offset", -1)))
