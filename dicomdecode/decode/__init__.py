"""One file in, canonical frames out: the public ``decode`` / ``decode_file`` calls.

Reads the file with pydicom, describes its pixel data as a :class:`PixelSource`, and
hands it to the dispatcher. Every failure becomes a typed error naming the file.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dicomdecode.decode.dispatch import HandlerChoice, decode_source
from dicomdecode.decode.handlers import PixelSource
from dicomdecode.errors import DecodeError, DicomDecodeError, NoPixelDataError, NotDicomError
from dicomdecode.read import transfer_syntax as ts

if TYPE_CHECKING:  # pydicom is imported on first use: a scan of native files never needs it
    from pydicom.dataset import Dataset

PathLike = str | os.PathLike[str]

_PIXEL_KEYWORDS = (
    ("PixelData", 0),
    ("FloatPixelData", 32),
    ("DoubleFloatPixelData", 64),
)


@dataclass
class Decoded:
    """Canonical frames of one file and how they were obtained."""

    array: np.ndarray  # (frames, rows, cols[, samples])
    photometric_interpretation: str  # of `array` (e.g. RGB after YBR conversion)
    handler: str
    transfer_syntax: str
    path: str


def read_dataset(path: PathLike, *, stop_before_pixels: bool = False) -> Dataset:
    """Read a DICOM file, with or without the Part 10 header, as a typed error if not DICOM."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    name = os.fspath(path)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = pydicom.dcmread(name, stop_before_pixels=stop_before_pixels)
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
            ds = pydicom.dcmread(name, force=True, stop_before_pixels=stop_before_pixels)
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


def transfer_syntax_of(ds: Dataset) -> str:
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


def _int(ds: Dataset, keyword: str, default: int) -> int:
    value = ds.get(keyword, None)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def describe_pixels(ds: Dataset, path: PathLike, *, float_bits: int = 0,
                    pixel_vr: str = "OW") -> PixelSource:
    """The pixel description of `ds` (header attributes only; no pixel bytes attached)."""
    name = os.fspath(path)
    uid = transfer_syntax_of(ds)
    samples = _int(ds, "SamplesPerPixel", 1)
    bits_allocated = _int(ds, "BitsAllocated", float_bits or 16)
    default_pi = "MONOCHROME2" if samples == 1 else "RGB"
    source = PixelSource(
        path=name,
        transfer_syntax=uid,
        rows=_int(ds, "Rows", 0),
        columns=_int(ds, "Columns", 0),
        samples_per_pixel=samples,
        bits_allocated=bits_allocated,
        bits_stored=_int(ds, "BitsStored", bits_allocated),
        pixel_representation=_int(ds, "PixelRepresentation", 0),
        photometric_interpretation=str(ds.get("PhotometricInterpretation", default_pi)).strip()
        or default_pi,
        planar_configuration=_int(ds, "PlanarConfiguration", 0),
        number_of_frames=max(_int(ds, "NumberOfFrames", 1), 1),
        float_pixels=float_bits,
        big_endian=uid == ts.EXPLICIT_VR_BIG_ENDIAN,
        pixel_vr=pixel_vr,
    )
    if source.rows <= 0 or source.columns <= 0:
        raise DecodeError(f"invalid image size {source.rows}x{source.columns}", name)
    return source


def pixel_source(ds: Dataset, path: PathLike) -> PixelSource:
    """Describe `ds`'s pixel data for the handlers; raise if there is none or it's broken."""
    name = os.fspath(path)
    keyword, float_bits = next(((k, b) for k, b in _PIXEL_KEYWORDS if k in ds), ("", 0))
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
    element = ds[keyword]
    value = element.value
    if value is None or len(value) == 0:
        raise DecodeError("Pixel Data is empty (truncated file?)", name)
    source = describe_pixels(ds, name, float_bits=float_bits, pixel_vr=str(element.VR))
    if element.is_undefined_length:
        source.frames = _encapsulated_frames(ds, value, source)
    else:
        row = ts.lookup(uid)
        if row is not None and row.encapsulated:
            raise DecodeError(
                f"transfer syntax '{row.name}' ({uid}) needs encapsulated pixel data, "
                "but Pixel Data has a defined length", name)
        source.native = bytes(value) if not isinstance(value, bytes) else value
    return source


def _encapsulated_frames(ds: Dataset, value: bytes, source: PixelSource) -> list[bytes]:
    from dicomdecode.read.fragments import split_frames

    extended = None
    if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
        extended = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
    return split_frames(value, source, extended)


def decode(
    path: PathLike,
    *,
    handlers: HandlerChoice = None,
    frames: Sequence[int] | None = None,
    convert_color: bool = True,
    dataset: Dataset | None = None,
    out: np.ndarray | None = None,
) -> Decoded:
    """Decode one file's pixel data into canonical frames.

    `frames` picks 0-based frame indices (default: all). `dataset` is an already-read
    Dataset of that file (read again if it lacks pixel data). `out` is an optional array to
    decode into, shaped like the result.
    """
    name = os.fspath(path)
    ds = dataset
    if ds is None or not any(k in ds for k, _ in _PIXEL_KEYWORDS):
        ds = read_dataset(name)
    source = pixel_source(ds, name)
    indices = list(range(source.number_of_frames)) if frames is None else list(frames)
    bad = [i for i in indices if not 0 <= i < source.number_of_frames]
    if bad:
        raise IndexError(f"{name}: frame(s) {bad} out of range (file has "
                         f"{source.number_of_frames})")
    array, colour, handler = decode_source(
        source, indices, handlers=handlers, convert_color=convert_color, out=out
    )
    return Decoded(array, colour, handler, source.transfer_syntax, name)


def decode_file(path: PathLike, *, handlers: HandlerChoice = None) -> np.ndarray:
    """The canonical frames of `path`: ``(frames, rows, cols[, samples])``."""
    return decode(path, handlers=handlers).array
