"""Uncompressed DICOM writer: "open it in a viewer and save it uncompressed", per file.

Each input image file is rewritten as Explicit VR Little Endian with every other element kept
byte for byte (the raw value bytes as read, even a value pydicom would not write back the same,
such as a Patient Weight of four spaces), except:

- pixels are the canonical frames of :func:`dicomdecode.decode.decode` (the same a
  ``decode_file`` of the input gives), so the output reads back bit-identical in pydicom and
  GDCM; Bits Allocated/Stored, High Bit and Pixel Representation are unchanged;
- colour converted on decode (YBR_* -> RGB) updates Photometric Interpretation and sets
  Planar Configuration 0 (the array is colour-by-pixel);
- a lossy source keeps (or gains) Lossy Image Compression "01" with its ratio and method, as
  PS3.3 C.7.6.1.1.5 asks of anything derived from lossy data;
- encapsulation-only elements (Extended Offset Table) go, file meta gets the new Transfer
  Syntax; big-endian sources have their OW/OF/OL/OD/OV values byte-swapped (their numbers
  are re-encoded little-endian); retired group lengths are not written (pydicom never does).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset, validate_file_meta
from pydicom.filewriter import correct_ambiguous_vr_element
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRLittleEndian,
    generate_uid,
)

from dicomdecode.decode import decode
from dicomdecode.errors import DecodeError, DicomDecodeError, NoPixelDataError, NotDicomError
from dicomdecode.options import HandlerChoice, Options
from dicomdecode.read import transfer_syntax as ts
from dicomdecode.read.dataset import dcmread
from dicomdecode.writers import atomic_path

# Transfer-syntax family -> Lossy Image Compression Method defined term (PS3.3 C.7.6.1.1.5.1)
_LOSSY_METHOD = {
    "jpeg": "ISO_10918_1",
    "jpegls": "ISO_14495_1",
    "j2k": "ISO_15444_1",
    "htj2k": "ISO_15444_15",
    "jpegxl": "ISO_18181_1",
}
_SWAP_WIDTH = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}
_ENCAPSULATION_ONLY = (0x7FE00001, 0x7FE00002)
#: the elements this writer sets; every other element keeps its raw bytes
_REWRITTEN = frozenset({0x7FE00010, 0x00280004, 0x00280006, 0x00282110, 0x00282112, 0x00282114,
                        *_ENCAPSULATION_ONLY})
BIG_ENDIAN = ts.EXPLICIT_VR_BIG_ENDIAN


def _read(path: str | os.PathLike[str]) -> Dataset:
    try:
        return dcmread(os.fspath(path), force=True)
    except Exception as exc:  # pydicom raises many types on garbage
        raise NotDicomError(f"cannot read as DICOM: {exc}", path) from exc


def _swap_to_little_endian(ds: Dataset) -> None:
    """Byte-swap the binary VRs pydicom does not convert when writing a BE dataset as LE."""
    for elem in ds.iterall():  # also converts raw elements, so numbers re-encode correctly
        width = _SWAP_WIDTH.get(str(elem.VR))
        if width and isinstance(elem.value, (bytes, bytearray)) and elem.tag != 0x7FE00010:
            raw = bytes(elem.value)
            usable = len(raw) - len(raw) % width
            swapped = np.frombuffer(raw[:usable], dtype=f">u{width}").astype(f"<u{width}")
            elem.value = swapped.tobytes() + raw[usable:]


def _raw_elements(ds: Dataset) -> dict[int, RawDataElement]:
    """The top-level elements still as read (before decoding touches any)."""
    out: dict[int, RawDataElement] = {}
    for tag in list(ds.keys()):
        elem = ds.get_item(tag, keep_deferred=True)
        if isinstance(elem, RawDataElement):
            out[int(tag)] = elem
    return out


def _restore_raw(ds: Dataset, raw: dict[int, RawDataElement]) -> None:
    """Put back the as-read element of every tag the writer does not rewrite, so that
    decoding (which reads and converts some values) changes no byte of them."""
    for tag, elem in raw.items():
        if tag not in _REWRITTEN and tag in ds:
            ds[tag] = elem


def _explicit_raw(ds: Dataset) -> None:
    """Give the implicit-VR raw elements of `ds` (and of its sequence items) their VR,
    keeping their value bytes, so an Implicit VR Little Endian source is written Explicit VR
    Little Endian without re-encoding a value (the byte order is the same)."""
    for tag in list(ds.keys()):
        elem = ds.get_item(tag, keep_deferred=True)
        if not isinstance(elem, RawDataElement) or not elem.is_implicit_VR:
            continue
        converted = ds[tag]  # pydicom's VR lookup (dictionary, private creators, UN)
        if converted.VR == "SQ":
            for item in converted.value:
                _explicit_raw(item)
        elif " or " in str(converted.VR):  # ambiguous (US or SS...): resolve from the data
            correct_ambiguous_vr_element(converted, ds, True)
        else:
            ds[tag] = elem._replace(VR=converted.VR, is_implicit_VR=False)
    ds.set_original_encoding(False, True, ds.original_character_set)


def _pixel_bytes(array: np.ndarray, bits_allocated: int) -> bytes:
    """Native little-endian bytes for Pixel Data, 1-bit data packed as PS3.5 8.1.1 says."""
    if bits_allocated == 1:
        from pydicom.pixels.utils import pack_bits

        data = pack_bits(np.ascontiguousarray(array).ravel().astype(np.uint8))
    else:
        arr = np.ascontiguousarray(array)
        data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
    return data + b"\x00" if len(data) % 2 else data


def _mark_lossy(ds: Dataset, ts_uid: str, compressed_len: int, uncompressed_len: int) -> None:
    """Add Lossy Image Compression 01 + ratio + method when a lossy source lacks them."""
    row = ts.lookup(ts_uid)
    if row is None or not row.lossy or ts_uid in ts.MAY_BE_REVERSIBLE:
        return
    if "LossyImageCompression" in ds:
        return  # the source says what it is; keep it (and its ratio/method) unchanged
    ds.LossyImageCompression = "01"
    if compressed_len > 0 and "LossyImageCompressionRatio" not in ds:
        ds.LossyImageCompressionRatio = [f"{uncompressed_len / compressed_len:.4g}"[:16]]
    method = _LOSSY_METHOD.get(row.family)
    if method and "LossyImageCompressionMethod" not in ds:
        ds.LossyImageCompressionMethod = [method]


def decompressed_dataset(src: str | os.PathLike[str], *, handlers: HandlerChoice = None,
                         options: Options | None = None) -> Dataset:
    """The dataset of ``src`` with canonical, uncompressed pixels, ready to write as
    Explicit VR Little Endian. Raises :class:`NoPixelDataError` for non-image objects.

    The file is read once: its pixels are decoded from the same Dataset (the public
    :func:`dicomdecode.decode` road, so pixels and handler equal ``decode_file``'s)."""
    opts = Options.resolve(options, handlers=handlers)
    ds = _read(src)
    meta = getattr(ds, "file_meta", None) or FileMetaDataset()
    ts_uid = str(meta.get("TransferSyntaxUID", "") or "")
    as_read = _raw_elements(ds)
    if "PixelData" not in ds:
        if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
            decoded = None  # float pixels are never compressed; only endianness may change
        else:
            raise NoPixelDataError("no Pixel Data element to decompress", src)
    else:
        decoded = decode(src, dataset=ds, options=opts)
    compressed_len = len(ds["PixelData"].value or b"") if "PixelData" in ds else 0
    if ts_uid == BIG_ENDIAN:
        _swap_to_little_endian(ds)  # numbers change byte order: values are re-encoded
    if decoded is not None:
        array = decoded.array
        bits = int(ds.get("BitsAllocated", array.dtype.itemsize * 8))
        data = _pixel_bytes(array, bits)
        expected = int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1)) * int(
            ds.get("NumberOfFrames", 1) or 1)
        if bits != 1 and array.size != expected:
            raise DecodeError(f"decoded {array.size} values, header says {expected}", src)
        ds.PixelData = data
        ds["PixelData"].VR = "OB" if bits <= 8 else "OW"
        photometric = getattr(decoded, "photometric_interpretation", None)
        if photometric and photometric != ds.get("PhotometricInterpretation"):
            ds.PhotometricInterpretation = photometric
        if int(ds.get("SamplesPerPixel", 1)) > 1:
            ds.PlanarConfiguration = 0
        _mark_lossy(ds, ts_uid, compressed_len, len(data))
    for tag in _ENCAPSULATION_ONLY:
        if tag in ds:
            del ds[tag]
    new_meta = FileMetaDataset()
    for elem in meta:
        new_meta.add(elem)
    new_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    if not new_meta.get("MediaStorageSOPClassUID"):
        # Part 10 requires it; Secondary Capture only if the dataset does not say
        new_meta.MediaStorageSOPClassUID = UID(ds.get("SOPClassUID") or "1.2.840.10008.5.1.4.1.1.7")
    if not new_meta.get("MediaStorageSOPInstanceUID"):
        # Part 10 requires it; when the dataset has none either, derive a stable UID from
        # the file's bytes (the dataset itself is left as it was)
        new_meta.MediaStorageSOPInstanceUID = UID(ds.get("SOPInstanceUID") or generate_uid(
            entropy_srcs=[hashlib.sha256(Path(src).read_bytes()).hexdigest()]))
    new_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    new_meta.ImplementationVersionName = "DICOMDECODE"
    ds.file_meta = new_meta
    if ts_uid != BIG_ENDIAN:  # last: reading values above converted some elements
        _restore_raw(ds, as_read)
        if ds.original_encoding[0]:  # implicit VR: same value bytes, VRs written out
            _explicit_raw(ds)
    return ds


def write_decompressed(src: str | os.PathLike[str], dst: str | os.PathLike[str], *,
                       handlers: HandlerChoice = None, options: Options | None = None) -> Path:
    """Rewrite ``src`` as uncompressed Explicit VR Little Endian DICOM at ``dst`` (atomic)."""
    ds = decompressed_dataset(src, handlers=handlers, options=options)
    final = Path(dst)
    try:
        # the Part 10 checks done here, not by dcmwrite(enforce_file_format=True): that
        # reads SOP Class/Instance UID through the dataset, re-encoding their raw bytes
        validate_file_meta(ds.file_meta, enforce_standard=True)
        if "FileMetaInformationGroupLength" not in ds.file_meta:
            ds.file_meta.FileMetaInformationGroupLength = 0  # dcmwrite sets the length
        if not getattr(ds, "preamble", None):
            ds.preamble = b"\x00" * 128
        with atomic_path(final) as tmp:
            pydicom.dcmwrite(tmp, ds, enforce_file_format=False, implicit_vr=False,
                             little_endian=True)
    except DicomDecodeError:
        raise
    except Exception as exc:
        raise DecodeError(f"cannot write uncompressed copy: {exc}", src) from exc
    return final


__all__ = ["write_decompressed", "decompressed_dataset"]
