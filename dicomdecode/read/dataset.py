"""pydicom, the single fallback reader, called here and nowhere else in the pipeline.

The fast header view (:mod:`dicomdecode.read.header`) answers the plain cases; this module
reads what it does not cover (deflated datasets, big endian, sequences, vendor private
data, files without the Part 10 preamble) and describes their pixel data with the same
builder as every other road (:func:`dicomdecode.read.pixel_source.make_pixel_source`).
Every failure becomes a typed error naming the file.
"""

from __future__ import annotations

import io
import os
import warnings
from typing import TYPE_CHECKING, Any

from dicomdecode.errors import DecodeError, DicomDecodeError, NoPixelDataError, NotDicomError
from dicomdecode.read import transfer_syntax as ts
from dicomdecode.read.frames import split_frames
from dicomdecode.read.pixel_source import PixelSource, make_pixel_source

if TYPE_CHECKING:  # pydicom is imported on first use: a scan of native files never needs it
    from pydicom.dataset import Dataset

PathLike = str | os.PathLike[str]

#: (keyword, float bits) of the three Pixel Data elements
PIXEL_KEYWORDS = (
    ("PixelData", 0),
    ("FloatPixelData", 32),
    ("DoubleFloatPixelData", 64),
)


class BoundedReader(io.BufferedReader):
    """A file whose ``read(n)`` never asks for more than the bytes left.

    pydicom reads an element's value with ``fp.read(length)``, and Python allocates
    ``length`` bytes before reading: a corrupt 4 GB length field in a 2 KB file would
    allocate 4 GB. Capping the request at the file's remaining size keeps every read
    bounded by the file (pydicom then reports the short read as a truncated file)."""

    def __init__(self, path: str) -> None:
        super().__init__(io.FileIO(path, "rb"))
        self._size = os.fstat(self.fileno()).st_size

    def read(self, size: int | None = -1) -> bytes:
        if size is not None and size > 0:
            size = min(size, max(self._size - self.tell(), 0))
            if size == 0:
                return b""
        return super().read(size)


def unknown_vrs_as_un(ds: Any, name: str) -> Any:
    """Top-level elements whose explicit VR the standard does not define are read as UN.

    pydicom raises NotImplementedError on first access to such an element (a flipped byte
    in the VR of Instance Number), so the scan, which reads many elements, skipped a file
    that ``decode_file``, which reads only the pixel description, decoded. Read as UN,
    pydicom then applies the dictionary VR (``replace_un_with_known_vr``): the value is
    read the same way on every road, and a warning names the element. Raw elements only;
    nothing is converted here."""
    from pydicom.dataelem import RawDataElement
    from pydicom.valuerep import VR

    known = {vr.value for vr in VR}
    for tag in list(ds.keys()):
        raw = ds.get_item(tag, keep_deferred=True)  # never reads a deferred (pixel) value
        if isinstance(raw, RawDataElement) and raw.VR is not None and raw.VR not in known:
            warnings.warn(f"{name}: element {raw.tag} has VR {raw.VR!r}, which DICOM does "
                          "not define; read as UN", stacklevel=2)
            ds[raw.tag] = raw._replace(VR="UN")
    return ds


def drop_unreadable(ds: Any, name: str) -> list[str]:
    """Remove the top-level elements whose value pydicom cannot convert; their names.

    pydicom converts a value at first access, so a malformed one (Slice Location
    '0.000\u00fc00e+00') raises wherever it is read. The decode road reads only the pixel
    description and decodes such a file; the scan reads geometry, timing and identity
    too. Called by the scan when its reading fails, it makes a malformed element an
    absent one, with a warning naming it, so every road decodes the file (and a pixel
    description value that is malformed is then missing, which the guard refuses on every
    road). The pixel data elements are never read here."""
    dropped = []
    for tag in list(ds.keys()):
        if int(tag) >> 16 == 0x7FE0:
            continue
        try:
            ds[tag]
        except Exception as exc:  # pydicom raises many kinds on malformed values
            dropped.append(f"{tag} ({type(exc).__name__}: {exc})")
            del ds[tag]
    if dropped:
        warnings.warn(f"{name}: unreadable element value(s) ignored: {'; '.join(dropped)}",
                      stacklevel=2)
    return dropped


def dcmread(name: str, **kwargs: Any) -> Any:
    """pydicom.dcmread of the file at `name` through a :class:`BoundedReader` (elements
    of an undefined VR read as UN: :func:`unknown_vrs_as_un`)."""
    import pydicom

    with BoundedReader(name) as fh:
        return unknown_vrs_as_un(pydicom.dcmread(fh, **kwargs), name)


def read_dataset(path: PathLike, *, stop_before_pixels: bool = False) -> Dataset:
    """Read a DICOM file, with or without the Part 10 header, as a typed error if not DICOM."""
    from pydicom.errors import InvalidDicomError

    name = os.fspath(path)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = dcmread(name, stop_before_pixels=stop_before_pixels)
        _raise_if_truncated(caught, name)
        return ds
    except InvalidDicomError:
        pass
    except DicomDecodeError:
        raise
    except (OSError, MemoryError) as exc:
        raise DecodeError(f"cannot read file: {exc}", name) from exc
    except Exception as exc:  # pydicom raises many kinds on corrupt headers
        raise DecodeError(f"unreadable DICOM header: {type(exc).__name__}: {exc}", name) from exc
    # No 'DICM' preamble: old ACR-NEMA style or raw dataset. Accept it only if it parses to
    # something that looks like an image or a DICOM object, never a random file.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = dcmread(name, force=True, stop_before_pixels=stop_before_pixels)
            plausible = "SOPClassUID" in ds or ("Rows" in ds and "Columns" in ds)
    except Exception:
        plausible = False
    if not plausible:
        raise NotDicomError("not a DICOM file (no DICM preamble and no DICOM dataset)", name)
    return ds


def _raise_if_truncated(caught: list[warnings.WarningMessage], name: str) -> None:
    """pydicom reads a truncated file as a partial dataset with only a warning: refuse it."""
    for warning in caught:
        text = str(warning.message)
        if "End of file reached" in text or "truncated" in text.lower():
            raise DecodeError(f"file is truncated: {text}", name)


def transfer_syntax_of(ds: Any) -> str:
    """The file's Transfer Syntax UID; inferred from the encoding when File Meta is absent."""
    meta = getattr(ds, "file_meta", None)
    uid = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    if uid:
        return str(uid).strip().rstrip("\x00")
    implicit, little = getattr(ds, "original_encoding", (True, True))
    if implicit is None:
        implicit, little = True, True
    if implicit:
        return ts.IMPLICIT_VR_LITTLE_ENDIAN
    return ts.EXPLICIT_VR_LITTLE_ENDIAN if little else ts.EXPLICIT_VR_BIG_ENDIAN


def _getter(ds: Any, name: str) -> Any:
    def get(keyword: str) -> Any:
        try:
            return ds.get(keyword, None)
        except Exception as exc:  # pydicom parses lazily: a corrupt value raises here
            raise DecodeError(f"unreadable ({keyword}) value: {type(exc).__name__}: {exc}",
                              name) from exc
    return get


def describe_dataset(ds: Any, path: PathLike, *, float_bits: int = 0,
                     pixel_vr: str = "OW") -> PixelSource:
    """The pixel description of `ds` (header attributes only; no pixel bytes attached)."""
    name = os.fspath(path)
    return make_pixel_source(name, transfer_syntax_of(ds), _getter(ds, name),
                             float_bits=float_bits, pixel_vr=pixel_vr)


def pixel_source(ds: Any, path: PathLike) -> PixelSource:
    """Describe `ds`'s pixel data with its bytes attached; raise if there is none.

    pydicom parses element values lazily, so a corrupt header (an unknown VR, a bad
    length) only raises here, at first access: every such exception becomes a
    DecodeError naming the file."""
    name = os.fspath(path)
    try:
        return _pixel_source(ds, name)
    except DicomDecodeError:
        raise
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        raise DecodeError(f"unreadable DICOM header: {type(exc).__name__}: {exc}",
                          name) from exc


def _pixel_source(ds: Any, name: str) -> PixelSource:
    try:
        keyword, float_bits = next(((k, b) for k, b in PIXEL_KEYWORDS if k in ds), ("", 0))
    except Exception as exc:
        raise DecodeError(f"unreadable DICOM header: {type(exc).__name__}: {exc}", name) from exc
    if not keyword:
        if "Rows" in ds and "Columns" in ds:
            raise DecodeError("image attributes present but Pixel Data is missing "
                              "(truncated file?)", name)
        sop = ds.get("SOPClassUID", "")
        label = getattr(sop, "name", "") or str(sop) or "unknown SOP class"
        raise NoPixelDataError(f"no pixel data ({label})", name)
    for required in ("Rows", "Columns"):
        if required not in ds:
            raise DecodeError(f"pixel data present but ({required}) is missing", name)
    uid = transfer_syntax_of(ds)
    try:
        element = ds[keyword]
        value = element.value
    except Exception as exc:
        raise DecodeError(f"unreadable Pixel Data: {type(exc).__name__}: {exc}", name) from exc
    if value is None or len(value) == 0:
        raise DecodeError("Pixel Data is empty (truncated file?)", name)
    source = describe_dataset(ds, name, float_bits=float_bits, pixel_vr=str(element.VR))
    if element.is_undefined_length:
        extended = None
        if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
            extended = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
        source.frames = split_frames(value, source, extended)
    else:
        if ts.is_encapsulated(uid):
            raise DecodeError(
                f"transfer syntax '{ts.name_of(uid)}' ({uid}) needs encapsulated pixel data, "
                "but Pixel Data has a defined length", name)
        source.native = bytes(value) if not isinstance(value, bytes) else value
    return source


def has_pixel_data(ds: Any) -> bool:
    """True if `ds` holds one of the three Pixel Data elements."""
    return any(k in ds for k, _ in PIXEL_KEYWORDS)
