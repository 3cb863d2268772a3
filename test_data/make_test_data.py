#!/usr/bin/env python
"""Make the small synthetic DICOM test files in ``test_data/`` with real encoders.

Usage::

    python test_data/make_test_data.py [OUTDIR]      # default: the folder of this script

Every compressed file is made by a real, installed encoder, never by hand-written codec
bytes:

* RLE Lossless, JPEG-LS (lossless, near-lossless), JPEG 2000 (lossless, lossy):
  ``pydicom.Dataset.compress`` with pylibjpeg-rle, pyjpegls and pylibjpeg-openjpeg;
* JPEG baseline (.50), JPEG extended (.51), JPEG lossless (.57) and lossless SV1 (.70):
  GDCM's ``ImageChangeTransferSyntax`` on the uncompressed reference written by pydicom;
* Implicit VR LE, Explicit VR Big Endian and Deflated Explicit VR LE: ``pydicom.dcmwrite``
  (for big endian the 16-bit pixel values are converted with numpy's ``astype('>u2')``,
  because pydicom does not swap Pixel Data itself).

Each image has one uncompressed Explicit VR Little Endian *reference* file; every other file
made from it is read back with pydicom and compared with the reference array: exactly for
lossless syntaxes, within a recorded tolerance for lossy ones. A table is printed and the
script exits non-zero if any check fails. ``MANIFEST.json`` describes every file.

Everything is deterministic: fixed numpy seeds, UIDs derived from file names
(``pydicom.uid.generate_uid(entropy_srcs=...)``), fixed dates and times.

``series/`` holds two tiny CT/MR-like series for assembly tests (see ``series/README.txt``).
"""

from __future__ import annotations

import copy
import json
import math
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
    generate_uid,
)

try:  # GDCM is optional: without it the GDCM-made JPEG files are reported as skipped
    import gdcm  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the environment
    gdcm = None

HERE = Path(__file__).resolve().parent
UID_PREFIX = "1.2.826.0.1.3680043.8.498."  # pydicom's root, as generate_uid uses
STUDY_UID = generate_uid(prefix=UID_PREFIX, entropy_srcs=["dicomdecode-test-data-study"])
DATE = "20240102"
TIME = "120000"
ROWS = COLS = 64

SC_IMAGE = "1.2.840.10008.5.1.4.1.1.7"
MF_GRAY_WORD_SC = "1.2.840.10008.5.1.4.1.1.7.3"
MF_TRUE_COLOUR_SC = "1.2.840.10008.5.1.4.1.1.7.4"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"

# HTJ2K (1.2.840.10008.1.2.4.201/202/203) and JPEG XL (.110/.111/.112): pydicom 3.0.2 has
# no encoder for them, pylibjpeg-openjpeg 2.6 only encodes classic J2K and GDCM 3.2.6's
# ImageChangeTransferSyntax fails for HTJ2K; imagecodecs' OpenJPH and libjxl encoders
# write them, frame by frame, and pydicom encapsulates the frames.
HTJ2K_UIDS = {
    "htj2k_lossless": "1.2.840.10008.1.2.4.201",
    "htj2k_lossless_rpcl": "1.2.840.10008.1.2.4.202",
    "htj2k": "1.2.840.10008.1.2.4.203",
}
JPEGXL_LOSSLESS = "1.2.840.10008.1.2.4.110"
JPEGXL_JPEG_RECOMPRESSION = "1.2.840.10008.1.2.4.111"
JPEGXL = "1.2.840.10008.1.2.4.112"


def uid_for(*parts: str) -> UID:
    return generate_uid(prefix=UID_PREFIX, entropy_srcs=["dicomdecode-test-data", *parts])


# ------------------------------------------------------------------------------------------
# Pixel content
# ------------------------------------------------------------------------------------------


def mono_pattern(lo: int, hi: int, seed: int, frame: int = 0, rows: int = ROWS,
                 cols: int = COLS, noise_sigma: float = 4.0) -> np.ndarray:
    """Gradient + noise + sharp edges, clipped to [lo, hi], with lo and hi both present."""
    rng = np.random.default_rng(seed)
    span = float(hi - lo)
    u = cols / 64.0  # the layout is drawn for 64 x 64 and scaled
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float64)
    # diagonal ramp, shifted per frame so frames differ
    t = ((x + 0.5 * y + 7 * u * frame) % (cols * 1.5)) / (cols * 1.5)
    img = lo + span * (0.1 + 0.8 * t)
    # modest noise (a few bits) so the compressed files stay small
    img += rng.normal(0.0, min(noise_sigma, 0.01 * span), size=(rows, cols))
    # bright rectangle and dark disc: sharp edges
    r0 = int(u * (8 + 3 * frame))
    img[r0:r0 + int(14 * u), int(36 * u):int(56 * u)] = lo + 0.95 * span
    disc = (x - 20 * u) ** 2 + (y - (44 - 2 * frame) * u) ** 2 < (9 * u) ** 2
    img[disc] = lo + 0.03 * span
    # checkerboard of the extremes (4x4 squares) in one corner band
    cb = ((x // 4 + y // 4) % 2 == 0)
    band = (y >= rows - 8) & (x >= cols - int(24 * u))
    img[band & cb] = hi
    img[band & ~cb] = lo
    # single-pixel extremes next to each other (worst case for predictors)
    img[0, 0] = lo
    img[0, 1] = hi
    img[1, 0] = hi
    img[1, 1] = lo
    img[rows // 2, cols // 2] = hi
    return np.clip(np.rint(img), lo, hi)


def rgb_pattern(seed: int, frame: int = 0, rows: int = ROWS, cols: int = COLS) -> np.ndarray:
    """uint8 RGB: per-channel gradients, a smooth colour field, saturated colour blocks."""
    rng = np.random.default_rng(seed)
    u = cols / 64.0
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float64)
    r = 255 * x / (cols - 1)
    g = 255 * y / (rows - 1)
    b = 127.5 + 127.5 * np.cos(((x - cols / 2) ** 2 + (y - rows / 2) ** 2) ** 0.5 / (6 * u)
                               + frame)
    img = np.stack([r, g, b], axis=-1)
    img += rng.normal(0.0, 2.0, size=img.shape)
    # saturated blocks: red, green, blue, white, black, yellow along the top, on even
    # columns so that JPEG's chroma subsampling keeps their edges
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0),
               (255, 255, 0)]
    size = 8 if cols >= 64 else 4
    for i, c in enumerate(colours):
        x0 = size // 2 + i * (size + 2) + 2 * frame
        if x0 + size <= cols:
            img[size // 2:size // 2 + size, x0:x0 + size] = c
    # a magenta/cyan stripe pattern near the bottom (4-pixel stripes on even columns)
    stripe = (x.astype(int) // 4) % 2 == 0
    band = (y >= rows - int(12 * u)) & (y < rows - int(4 * u))
    img[band & stripe] = (255, 0, 255)
    img[band & ~stripe] = (0, 255, 255)
    img[0, 0] = (0, 0, 0)
    img[0, 1] = (255, 255, 255)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------
# Image specifications
# ------------------------------------------------------------------------------------------


@dataclass
class ImageSpec:
    name: str
    bits_allocated: int
    bits_stored: int
    signed: bool
    samples: int
    frames: int
    sop_class: str
    modality: str
    seed: int
    extra: dict[str, Any] = field(default_factory=dict)
    rows: int = ROWS
    cols: int = COLS
    # which of the uncompressed syntaxes other than the reference to write (size budget)
    natives: tuple[str, ...] = ("implicit_le", "explicit_be", "deflated_le")

    @property
    def photometric(self) -> str:
        return "RGB" if self.samples == 3 else "MONOCHROME2"

    @property
    def dtype(self) -> np.dtype:
        kind = "int" if self.signed else "uint"
        return np.dtype(f"{kind}{self.bits_allocated}")

    @property
    def value_range(self) -> tuple[int, int]:
        if self.signed:
            return -(2 ** (self.bits_stored - 1)), 2 ** (self.bits_stored - 1) - 1
        return 0, 2 ** self.bits_stored - 1

    def array(self) -> np.ndarray:
        frames = []
        for f in range(self.frames):
            if self.samples == 3:
                frames.append(rgb_pattern(self.seed + f, f, self.rows, self.cols))
            else:
                lo, hi = self.value_range
                frames.append(mono_pattern(lo, hi, self.seed + f, f, self.rows, self.cols))
        arr = np.stack(frames) if self.frames > 1 else frames[0]
        return np.ascontiguousarray(arr.astype(self.dtype))


CT_EXTRA = {"RescaleSlope": "1", "RescaleIntercept": "-1024", "RescaleType": "HU"}

# To stay within a few hundred KB: the multi-frame objects have 32 x 32 frames, and
# Implicit VR / Big Endian copies (which only differ in header and byte order, not in pixel
# type) are written for some images only; Deflated is cheap and written for all.
_FEW_NATIVES = ("deflated_le",)
IMAGES = [
    ImageSpec("u8_mono", 8, 8, False, 1, 1, SC_IMAGE, "OT", 101),
    ImageSpec("u16_bs12_mono", 16, 12, False, 1, 1, MR_IMAGE, "MR", 102,
              natives=("explicit_be", "deflated_le")),
    ImageSpec("u16_bs16_mono", 16, 16, False, 1, 1, MR_IMAGE, "MR", 103, natives=_FEW_NATIVES),
    ImageSpec("s16_bs12_ct", 16, 12, True, 1, 1, CT_IMAGE, "CT", 104, CT_EXTRA,
              natives=("explicit_be", "deflated_le")),
    ImageSpec("s16_bs16_ct", 16, 16, True, 1, 1, CT_IMAGE, "CT", 105, CT_EXTRA),
    ImageSpec("rgb8", 8, 8, False, 3, 1, SC_IMAGE, "OT", 106, natives=_FEW_NATIVES),
    ImageSpec("u16_mf3", 16, 16, False, 1, 3, MF_GRAY_WORD_SC, "OT", 107, rows=32, cols=32,
              natives=("explicit_be", "deflated_le")),
    ImageSpec("rgb8_mf2", 8, 8, False, 3, 2, MF_TRUE_COLOUR_SC, "OT", 108, rows=32, cols=32,
              natives=_FEW_NATIVES),
]
NATIVE_KEYS = ("implicit_le", "explicit_be", "deflated_le")


def base_dataset(name: str, sop_class: str, modality: str, series_uid: str,
                 sop_uid: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = DATE
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = TIME
    ds.AccessionNumber = ""
    ds.Modality = modality
    ds.Manufacturer = "dicomdecode test_data"
    ds.ReferringPhysicianName = ""
    ds.SeriesDescription = name
    ds.PatientName = "DICOMDECODE^TESTDATA"
    ds.PatientID = "DD-TEST-0001"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    return ds


def reference_dataset(spec: ImageSpec, arr: np.ndarray) -> Dataset:
    ds = base_dataset(spec.name, spec.sop_class, spec.modality, uid_for(spec.name, "series"),
                      uid_for(spec.name, "ref"))
    if spec.sop_class == SC_IMAGE or spec.frames > 1:
        ds.ConversionType = "WSD"
    if spec.frames > 1:
        ds.FrameTime = 100.0
        ds.FrameIncrementPointer = 0x00181063  # Frame Time
    if spec.modality in ("CT", "MR"):
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.FrameOfReferenceUID = uid_for(spec.name, "for")
        ds.ImagePositionPatient = [-25.2, -25.2, 10.0]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.8, 0.8]
        ds.SliceThickness = 2.0
    for k, v in spec.extra.items():
        setattr(ds, k, v)
    ds.set_pixel_data(arr, spec.photometric, spec.bits_stored, generate_instance_uid=False)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


# ------------------------------------------------------------------------------------------
# Encoders. Each returns a Dataset to save, or raises with a reason.
# ------------------------------------------------------------------------------------------


def _pydicom_compress(tsuid: str, plugin: str = "", **opts: Any) -> Callable[..., Dataset]:
    def enc(ref: Dataset, ref_path: Path, spec: ImageSpec, tmp: Path) -> Dataset:
        ds = copy.deepcopy(ref)
        ds.compress(UID(tsuid), encoding_plugin=plugin, generate_instance_uid=False, **opts)
        return ds
    return enc


def _pydicom_compress_mct(tsuid: str, pi: str, **opts: Any) -> Callable[..., Dataset]:
    """J2K of RGB with the multiple-component transform: label YBR_RCT / YBR_ICT first and
    pylibjpeg-openjpeg applies the RCT / ICT while encoding (pydicom's documented route)."""
    def enc(ref: Dataset, ref_path: Path, spec: ImageSpec, tmp: Path) -> Dataset:
        ds = copy.deepcopy(ref)
        ds.PhotometricInterpretation = pi
        ds.compress(UID(tsuid), encoding_plugin="pylibjpeg", generate_instance_uid=False,
                    **opts)
        return ds
    return enc


def _native(tsuid: str) -> Callable[..., Dataset]:
    def enc(ref: Dataset, ref_path: Path, spec: ImageSpec, tmp: Path) -> Dataset:
        ds = copy.deepcopy(ref)
        ds.file_meta.TransferSyntaxUID = UID(tsuid)
        if tsuid == ExplicitVRBigEndian and spec.bits_allocated > 8:
            # pydicom writes OW values as they are: give it big endian pixel values.
            arr = ref.pixel_array
            ds.PixelData = np.ascontiguousarray(arr).astype(f">{arr.dtype.kind}2").tobytes()
        return ds
    return enc


GDCM_TS = {
    JPEGBaseline8Bit: "JPEGBaselineProcess1",
    JPEGExtended12Bit: "JPEGExtendedProcess2_4",
    JPEGLossless: "JPEGLosslessProcess14",
    JPEGLosslessSV1: "JPEGLosslessProcess14_1",
}


def _gdcm(tsuid: str) -> Callable[..., Dataset]:
    def enc(ref: Dataset, ref_path: Path, spec: ImageSpec, tmp: Path) -> Dataset:
        if gdcm is None:
            raise RuntimeError("python-gdcm is not installed")
        reader = gdcm.ImageReader()
        reader.SetFileName(str(ref_path))
        if not reader.Read():
            raise RuntimeError("gdcm.ImageReader could not read the reference")
        change = gdcm.ImageChangeTransferSyntax()
        change.SetTransferSyntax(gdcm.TransferSyntax(getattr(gdcm.TransferSyntax,
                                                             GDCM_TS[tsuid])))
        change.SetInput(reader.GetImage())
        if not change.Change():
            raise RuntimeError("gdcm.ImageChangeTransferSyntax.Change() returned False")
        writer = gdcm.ImageWriter()
        out = tmp / "gdcm_out.dcm"
        writer.SetFileName(str(out))
        writer.SetFile(reader.GetFile())
        writer.SetImage(change.GetOutput())
        if not writer.Write():
            raise RuntimeError("gdcm.ImageWriter.Write() failed")
        ds = pydicom.dcmread(out)
        if ds.file_meta.TransferSyntaxUID != tsuid:
            raise RuntimeError(f"GDCM wrote {ds.file_meta.TransferSyntaxUID}, not {tsuid}")
        if (tsuid in (JPEGBaseline8Bit, JPEGExtended12Bit) and spec.samples == 3
                and ds.PhotometricInterpretation == "RGB"):
            # GDCM 3.2.6 keeps "RGB" in the header, but its IJG encoder converted the
            # samples to YCbCr with 4:2:0 chroma subsampling (SOF sampling factors 0x22,
            # 0x11, 0x11; no JFIF/Adobe marker). Label what the codestream holds.
            ds.PhotometricInterpretation = "YBR_FULL_422"
        # keep GDCM's pixel data and pixel attributes; the rest is re-saved by pydicom so
        # the headers are uniform (UIDs are set by the caller)
        return ds
    return enc


def _imagecodecs(tsuid: str, encode: Callable[[np.ndarray, ImageSpec], bytes],
                 photometric: Callable[[ImageSpec], str] | None = None
                 ) -> Callable[..., Dataset]:
    """Each frame encoded by an imagecodecs encoder, encapsulated by pydicom (with a basic
    offset table for multi-frame data)."""
    def enc(ref: Dataset, ref_path: Path, spec: ImageSpec, tmp: Path) -> Dataset:
        from pydicom.encaps import encapsulate

        arr = ref.pixel_array
        frames = arr if spec.frames > 1 else arr[None]
        ds = copy.deepcopy(ref)
        ds.PixelData = encapsulate([encode(np.ascontiguousarray(f), spec) for f in frames],
                                   has_bot=spec.frames > 1)
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = UID(tsuid)
        if photometric is not None:
            ds.PhotometricInterpretation = photometric(spec)
        if spec.samples == 3:
            ds.PlanarConfiguration = 0
        return ds
    return enc


def _htj2k_frame(lossless: bool, rpcl_tlm: bool = False) -> Callable[..., bytes]:
    def encode(frame: np.ndarray, spec: ImageSpec) -> bytes:
        import imagecodecs

        # RGB: the reversible (RCT) or irreversible (ICT) colour transform, as DICOM's
        # YBR_RCT / YBR_ICT say; OpenJPH writes RPCL progression by default
        return bytes(imagecodecs.htj2k_encode(
            frame, level=None if lossless else (0.004 if spec.bits_stored == 8 else 0.0005),
            reversible=lossless,
            rgb=spec.samples == 3, tlm=rpcl_tlm or None))
    return encode


def _htj2k_photometric(lossless: bool) -> Callable[[ImageSpec], str]:
    return lambda spec: ("YBR_RCT" if lossless else "YBR_ICT") if spec.samples == 3 \
        else spec.photometric


def _jpegxl_frame(lossless: bool) -> Callable[..., bytes]:
    def encode(frame: np.ndarray, spec: ImageSpec) -> bytes:
        import imagecodecs

        if lossless:
            return bytes(imagecodecs.jpegxl_encode(frame, lossless=True, effort=3,
                                                   bitspersample=spec.bits_stored))
        return bytes(imagecodecs.jpegxl_encode(frame, distance=0.2, effort=3))
    return encode


def _jpegxl_from_jpeg(frame: np.ndarray, spec: ImageSpec) -> bytes:
    """JPEG XL JPEG Recompression: a libjpeg-turbo JPEG, losslessly transcoded by libjxl."""
    import imagecodecs

    jpeg = imagecodecs.jpeg8_encode(frame, level=95, subsampling="444")
    return bytes(imagecodecs.jpegxl_encode_jpeg(jpeg))


def _jpeg_colour_frame(codestream_space: str) -> Callable[..., bytes]:
    """8-bit RGB as JPEG baseline in `codestream_space`: "YCbCr" (JFIF APP0) or "RGB"
    (Adobe APP14, transform 0), for headers that disagree with the codestream."""
    def encode(frame: np.ndarray, spec: ImageSpec) -> bytes:
        import imagecodecs

        space = imagecodecs.JPEG8.CS
        out = space.YCbCr if codestream_space == "YCbCr" else space.RGB
        return bytes(imagecodecs.jpeg8_encode(frame, level=95, colorspace=space.RGB,
                                              outcolorspace=out, subsampling="444"))
    return encode


def _read_back_imagecodecs(ds: Dataset) -> np.ndarray:
    """The encoder's round trip for syntaxes pydicom cannot decode (JPEG XL), and for the
    JPEG files whose header deliberately disagrees with their codestream: imagecodecs'
    own decoders with their own colour rules (libjpeg-turbo reads JFIF/Adobe itself)."""
    import imagecodecs
    from pydicom.encaps import generate_frames

    count = int(ds.get("NumberOfFrames", 1) or 1)
    is_jpegxl = ds.file_meta.TransferSyntaxUID in (JPEGXL_LOSSLESS, JPEGXL,
                                                   JPEGXL_JPEG_RECOMPRESSION)
    decode = imagecodecs.jpegxl_decode if is_jpegxl else imagecodecs.jpeg8_decode
    frames = [decode(bytes(f)) for f in generate_frames(ds.PixelData, number_of_frames=count)]
    return np.stack(frames) if count > 1 else frames[0]


NOTES = [
    "GDCM's JPEG Lossless (.57) files use predictor (selection value) 1, so their "
    "codestreams equal the .70 ones; .57 is written for single-frame images only.",
    "GDCM's JPEG Extended (.51) files of 8-bit images hold a baseline (SOF0) codestream, "
    "which process 2 includes; 12-bit .51 could not be made (see not_made).",
    "GDCM writes lossy JPEG of RGB input as YCbCr with 4:2:0 subsampling but leaves "
    "PhotometricInterpretation RGB; the files here say YBR_FULL_422, which is what the "
    "codestream holds. A decoder that skips the YBR->RGB conversion gets about 7 dB PSNR.",
    "RGB JPEG 2000: j2k_lossless / j2k_lossy are written with MCT off (PI RGB); "
    "j2k_lossless_rct / j2k_lossy_ict with the RCT / ICT applied (PI YBR_RCT / YBR_ICT), "
    "which pydicom decodes to RGB.",
    "RLE RGB files say PlanarConfiguration 0 although RLE stores one segment per colour "
    "plane (as the standard requires); JPEG-LS RGB files are sample-interleaved (ILV=2).",
    "HTJ2K (.201/.202/.203) files are written by imagecodecs' OpenJPH encoder (RGB with "
    "the RCT, PI YBR_RCT, when lossless; with the ICT, PI YBR_ICT, when lossy); .202 adds "
    "TLM markers to OpenJPH's default RPCL progression.",
    "JPEG XL files are written by imagecodecs' libjxl encoder: .110 lossless (unsigned "
    "images only: JPEG XL has no signed samples), .112 lossy (distance 0.2), .111 a "
    "libjpeg-turbo JPEG transcoded losslessly by libjxl. pydicom cannot decode JPEG XL, so "
    "their round trip is checked with imagecodecs' own decoder.",
    "rgb8__jpeg_jfif_rgb_header.dcm holds a YCbCr JFIF codestream under a header saying "
    "RGB; rgb8__jpeg_adobe_rgb_ybr_header.dcm an untransformed RGB codestream (Adobe "
    "APP14 transform 0) under a header saying YBR_FULL_422. The codestream decides.",
    "Lossy PSNR is relative to 2**bits_stored - 1, computed on the decoded arrays "
    "(RGB after conversion to RGB).",
]

# Why some files are not made, for MANIFEST.json "not_made":
# key: (encoding key, signed, bits stored, samples)
FAILURE_NOTES = {
    ("jpegls_near", True, 12, 1): "JPEG-LS does not record signedness: with NEAR > 0 the "
    "extreme values -2048/2047 in this image wrap to the other end of the range",
    ("jpegls_near", True, 16, 1): "JPEG-LS does not record signedness: with NEAR > 0 the "
    "extreme values -32768/32767 in this image wrap to the other end of the range",
    ("jpeg_extended", False, 12, 1): "GDCM 3.2.6 writes an SOF1 with sample precision 16 "
    "(its Bits Allocated) instead of 12, which is invalid for lossy JPEG; neither libjpeg "
    "nor GDCM can decode it",
}


@dataclass
class Encoding:
    key: str
    tsuid: str
    lossy: bool
    encoder: str  # who made it, for the manifest
    make: Callable[..., Dataset]
    applies: Callable[[ImageSpec], bool] = lambda s: True
    # tolerance for lossy files: {"max_abs_error": n} and/or {"min_psnr_db": x}
    tolerance: Callable[[ImageSpec], dict[str, float]] = lambda s: {}


def _jls_near(spec: ImageSpec) -> int:
    return 2 if spec.bits_stored <= 8 else 3


def _j2k_ratio(spec: ImageSpec) -> int:
    # small frames: the codestream headers weigh more, so a lower ratio for the same quality
    return 6 if spec.rows * spec.cols >= 64 * 64 else 3


def _jpeg_tol(spec: ImageSpec) -> dict[str, float]:
    # RGB: 4:2:0 chroma subsampling of saturated 1-2 pixel colour stripes costs a lot of
    # PSNR; a decoder that skips the YBR -> RGB conversion gets about 7 dB.
    return {"min_psnr_db": 18.0 if spec.samples == 3 else 40.0}


ENCODINGS = [
    Encoding("implicit_le", ImplicitVRLittleEndian, False, "pydicom dcmwrite",
             _native(ImplicitVRLittleEndian)),
    Encoding("explicit_be", ExplicitVRBigEndian, False, "pydicom dcmwrite (+numpy byteswap)",
             _native(ExplicitVRBigEndian)),
    Encoding("deflated_le", DeflatedExplicitVRLittleEndian, False, "pydicom dcmwrite",
             _native(DeflatedExplicitVRLittleEndian)),
    Encoding("rle", RLELossless, False, "pydicom compress / pylibjpeg-rle",
             _pydicom_compress(RLELossless, "pylibjpeg")),
    Encoding("jpegls_lossless", JPEGLSLossless, False, "pydicom compress / pyjpegls",
             _pydicom_compress(JPEGLSLossless, "pyjpegls")),
    # near-lossless: per-file jls_error, set in make_image (depends on the spec)
    Encoding("jpegls_near", JPEGLSNearLossless, True, "pydicom compress / pyjpegls",
             lambda *a: None,  # replaced per spec
             tolerance=lambda s: {"max_abs_error": _jls_near(s)}),
    Encoding("j2k_lossless", JPEG2000Lossless, False, "pydicom compress / pylibjpeg-openjpeg",
             _pydicom_compress(JPEG2000Lossless, "pylibjpeg")),
    # lossy J2K: per-file compression ratio, set in make_image (depends on the frame size)
    Encoding("j2k_lossy", JPEG2000, True, "pydicom compress / pylibjpeg-openjpeg",
             lambda *a: None,  # replaced per spec
             tolerance=lambda s: {"min_psnr_db": 30.0}),
    Encoding("j2k_lossless_rct", JPEG2000Lossless, False,
             "pydicom compress / pylibjpeg-openjpeg (PI YBR_RCT, MCT on)",
             _pydicom_compress_mct(JPEG2000Lossless, "YBR_RCT"),
             applies=lambda s: s.samples == 3),
    Encoding("j2k_lossy_ict", JPEG2000, True,
             "pydicom compress / pylibjpeg-openjpeg (PI YBR_ICT, MCT on, j2k_cr=[6])",
             _pydicom_compress_mct(JPEG2000, "YBR_ICT", j2k_cr=[6]),
             applies=lambda s: s.samples == 3 and s.frames == 1,
             tolerance=lambda s: {"min_psnr_db": 30.0}),
    Encoding("jpeg_baseline", JPEGBaseline8Bit, True, "GDCM ImageChangeTransferSyntax",
             _gdcm(JPEGBaseline8Bit), applies=lambda s: s.bits_stored == 8,
             tolerance=_jpeg_tol),
    Encoding("jpeg_extended", JPEGExtended12Bit, True, "GDCM ImageChangeTransferSyntax",
             _gdcm(JPEGExtended12Bit), applies=lambda s: s.bits_stored <= 12 and s.frames == 1,
             tolerance=_jpeg_tol),
    # GDCM always uses predictor (selection value) 1, so its .57 codestream is the .70 one:
    # written for single frames only, to test the syntax mapping without doubling the bytes.
    Encoding("jpeg_lossless", JPEGLossless, False, "GDCM ImageChangeTransferSyntax",
             _gdcm(JPEGLossless), applies=lambda s: s.frames == 1),
    Encoding("jpeg_lossless_sv1", JPEGLosslessSV1, False, "GDCM ImageChangeTransferSyntax",
             _gdcm(JPEGLosslessSV1)),
]
_UNSIGNED_8_16 = lambda s: not s.signed and s.bits_stored in (8, 12, 16)  # noqa: E731
ENCODINGS += [
    Encoding("htj2k_lossless", HTJ2K_UIDS["htj2k_lossless"], False, "imagecodecs / OpenJPH",
             _imagecodecs(HTJ2K_UIDS["htj2k_lossless"], _htj2k_frame(True),
                          _htj2k_photometric(True))),
    Encoding("htj2k_lossless_rpcl", HTJ2K_UIDS["htj2k_lossless_rpcl"], False,
             "imagecodecs / OpenJPH (RPCL, TLM)",
             _imagecodecs(HTJ2K_UIDS["htj2k_lossless_rpcl"], _htj2k_frame(True, True),
                          _htj2k_photometric(True)),
             applies=lambda s: s.frames == 1),
    Encoding("htj2k", HTJ2K_UIDS["htj2k"], True, "imagecodecs / OpenJPH (irreversible, qstep 0.004 at 8 bits, 0.0005 above)",
             _imagecodecs(HTJ2K_UIDS["htj2k"], _htj2k_frame(False), _htj2k_photometric(False)),
             tolerance=lambda s: {"min_psnr_db": 30.0}),
    Encoding("jpegxl_lossless", JPEGXL_LOSSLESS, False, "imagecodecs / libjxl (lossless)",
             _imagecodecs(JPEGXL_LOSSLESS, _jpegxl_frame(True)), applies=_UNSIGNED_8_16),
    Encoding("jpegxl", JPEGXL, True, "imagecodecs / libjxl (distance 0.2)",
             _imagecodecs(JPEGXL, _jpegxl_frame(False)),
             applies=lambda s: s.bits_stored == 8 and s.frames == 1,
             tolerance=lambda s: {"min_psnr_db": 30.0}),
    Encoding("jpegxl_jpeg", JPEGXL_JPEG_RECOMPRESSION, True,
             "imagecodecs / libjpeg-turbo (quality 95, 4:4:4) then libjxl JPEG transcoding",
             _imagecodecs(JPEGXL_JPEG_RECOMPRESSION, _jpegxl_from_jpeg),
             applies=lambda s: s.bits_stored == 8 and s.frames == 1,
             tolerance=lambda s: {"min_psnr_db": 30.0}),
    Encoding("jpeg_jfif_rgb_header", JPEGBaseline8Bit, True,
             "imagecodecs / libjpeg-turbo (YCbCr, JFIF; header says RGB)",
             _imagecodecs(JPEGBaseline8Bit, _jpeg_colour_frame("YCbCr"), lambda s: "RGB"),
             applies=lambda s: s.samples == 3 and s.frames == 1,
             tolerance=lambda s: {"min_psnr_db": 30.0}),
    Encoding("jpeg_adobe_rgb_ybr_header", JPEGBaseline8Bit, True,
             "imagecodecs / libjpeg-turbo (RGB, Adobe transform 0; header says YBR_FULL_422)",
             _imagecodecs(JPEGBaseline8Bit, _jpeg_colour_frame("RGB"),
                          lambda s: "YBR_FULL_422"),
             applies=lambda s: s.samples == 3 and s.frames == 1,
             tolerance=lambda s: {"min_psnr_db": 30.0}),
]
# pydicom cannot read these back (JPEG XL), or would read their colour from the header
READ_BACK_WITH_IMAGECODECS = {"jpegxl_lossless", "jpegxl", "jpegxl_jpeg",
                              "jpeg_adobe_rgb_ybr_header"}


# ------------------------------------------------------------------------------------------
# Checking
# ------------------------------------------------------------------------------------------


def compare(decoded: np.ndarray, ref: np.ndarray, bits_stored: int) -> dict[str, float]:
    if decoded.shape != ref.shape:
        raise ValueError(f"shape {decoded.shape} != reference {ref.shape}")
    diff = decoded.astype(np.float64) - ref.astype(np.float64)
    max_abs = float(np.abs(diff).max())
    mse = float(np.mean(diff ** 2))
    peak = float(2 ** bits_stored - 1)
    psnr = math.inf if mse == 0 else 10 * math.log10(peak * peak / mse)
    return {"max_abs_error": max_abs, "psnr_db": round(psnr, 2) if psnr != math.inf else None,
            "dtype_ok": decoded.dtype.newbyteorder("=") == ref.dtype}


def within(measured: dict[str, Any], lossy: bool, tol: dict[str, float]) -> bool:
    if not measured["dtype_ok"]:
        return False
    if not lossy:
        return measured["max_abs_error"] == 0
    ok = True
    if "max_abs_error" in tol:
        ok &= measured["max_abs_error"] <= tol["max_abs_error"]
    if "min_psnr_db" in tol:
        psnr = measured["psnr_db"]
        ok &= psnr is None or psnr >= tol["min_psnr_db"]
    return bool(ok)


def _register_jpegxl_uids() -> None:
    """pydicom 3.0.2 predates the JPEG XL transfer syntaxes (DICOM 2024c) and refuses to
    write a file that uses one; its UID dictionary learns them here (later pydicom
    versions list them themselves)."""
    from pydicom._uid_dict import UID_dictionary

    for uid, name, keyword in [
        (JPEGXL_LOSSLESS, "JPEG XL Lossless", "JPEGXLLossless"),
        (JPEGXL_JPEG_RECOMPRESSION, "JPEG XL JPEG Recompression", "JPEGXLJPEGRecompression"),
        (JPEGXL, "JPEG XL", "JPEGXL"),
    ]:
        UID_dictionary.setdefault(uid, (name, "Transfer Syntax", "", "", keyword))


def save(ds: Dataset, path: Path) -> None:
    ds.save_as(path, enforce_file_format=True)


# ------------------------------------------------------------------------------------------
# Single images
# ------------------------------------------------------------------------------------------


def make_image(spec: ImageSpec, outdir: Path, tmp: Path, rows: list[list[str]],
               entries: list[dict[str, Any]], not_made: list[dict[str, str]]) -> bool:
    arr = spec.array()
    lo, hi = spec.value_range
    assert arr.min() == lo and arr.max() == hi, (spec.name, arr.min(), arr.max())
    ref = reference_dataset(spec, arr)
    ref_name = f"{spec.name}__explicit_le.dcm"
    ref_path = outdir / ref_name
    save(ref, ref_path)
    ref_arr = pydicom.dcmread(ref_path).pixel_array
    all_ok = bool(np.array_equal(ref_arr, arr)) and ref_arr.dtype == arr.dtype
    rows.append([ref_name, ExplicitVRLittleEndian.name[:34], "ref",
                 str(ref_path.stat().st_size), "-",
                 "OK" if all_ok else "FAIL"])
    entries.append(manifest_entry(ref_name, ref, spec, False, "pydicom set_pixel_data",
                                  None, {}, {}))

    for enc in ENCODINGS:
        if not enc.applies(spec):
            continue
        if enc.key in NATIVE_KEYS and enc.key not in spec.natives:
            continue
        name = f"{spec.name}__{enc.key}.dcm"
        make = enc.make
        encoder = enc.encoder
        if enc.key == "jpegls_near":
            make = _pydicom_compress(JPEGLSNearLossless, "pyjpegls", jls_error=_jls_near(spec))
            encoder += f" (jls_error={_jls_near(spec)})"
        elif enc.key == "j2k_lossy":
            ratio = _j2k_ratio(spec)
            make = _pydicom_compress(JPEG2000, "pylibjpeg", j2k_cr=[ratio])
            encoder += f" (j2k_cr=[{ratio}])"
        elif enc.key in ("jpeg_baseline", "jpeg_extended") and spec.samples == 3:
            encoder += " (GDCM wrote PhotometricInterpretation RGB; set to YBR_FULL_422)"
        try:
            ds = make(ref, ref_path, spec, tmp)
        except Exception as exc:  # noqa: BLE001 - any encoder failure is reported
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            not_made.append({"name": name, "transfer_syntax_uid": enc.tsuid,
                             "encoder": enc.encoder, "reason": reason})
            continue
        ds.SOPInstanceUID = uid_for(name)
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesInstanceUID = uid_for(name, "series")
        ds.SeriesDescription = f"{spec.name} {enc.key}"
        if enc.lossy:
            ds.LossyImageCompression = "01"
            if "LossyImageCompressionMethod" not in ds:
                method = {JPEGBaseline8Bit: "ISO_10918_1", JPEGExtended12Bit: "ISO_10918_1",
                          JPEG2000: "ISO_15444_1", JPEGLSNearLossless: "ISO_14495_1",
                          HTJ2K_UIDS["htj2k"]: "ISO_15444_15", JPEGXL: "ISO_18181_1",
                          JPEGXL_JPEG_RECOMPRESSION: "ISO_18181_1"}
                if enc.tsuid in method:
                    ds.LossyImageCompressionMethod = method[enc.tsuid]
        path = outdir / name
        save(ds, path)
        back = pydicom.dcmread(path)
        tol = enc.tolerance(spec)
        try:
            decoded = (_read_back_imagecodecs(back) if enc.key in READ_BACK_WITH_IMAGECODECS
                       else back.pixel_array)
            measured = compare(decoded, ref_arr, spec.bits_stored)
            ok = within(measured, enc.lossy, tol)
        except Exception as exc:  # noqa: BLE001
            measured = {"error": f"{type(exc).__name__}: {exc}".splitlines()[0][:300]}
            ok = False
        if not ok:
            # A file we cannot verify is not kept: report it instead.
            path.unlink()
            reason = f"made, but failed verification: {measured}"
            note = FAILURE_NOTES.get((enc.key, spec.signed, spec.bits_stored, spec.samples))
            if note:
                reason += f" ({note})"
            not_made.append({"name": name, "transfer_syntax_uid": enc.tsuid,
                             "encoder": enc.encoder, "reason": reason})
            rows.append([name, UID(enc.tsuid).name[:34], "lossy" if enc.lossy else "",
                         "-", json.dumps(measured)[:40], "DROPPED"])
            if not enc.lossy:
                all_ok = False  # a lossless file that does not round-trip is a failure
            continue
        rows.append([name, UID(enc.tsuid).name[:34], "lossy" if enc.lossy else "",
                     str(path.stat().st_size),
                     f"max={measured['max_abs_error']:g} psnr={measured['psnr_db']}",
                     "OK"])
        entries.append(manifest_entry(name, back, spec, enc.lossy, encoder, ref_name,
                                      measured, tol))
    return all_ok


def manifest_entry(name: str, ds: Dataset, spec: ImageSpec, lossy: bool, encoder: str,
                   reference: str | None, measured: dict[str, Any],
                   tolerance: dict[str, float]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name,
        "image": spec.name,
        "transfer_syntax_uid": str(ds.file_meta.TransferSyntaxUID),
        "transfer_syntax": ds.file_meta.TransferSyntaxUID.name,
        "rows": int(ds.Rows),
        "cols": int(ds.Columns),
        "frames": int(ds.get("NumberOfFrames", 1) or 1),
        "samples": int(ds.SamplesPerPixel),
        "bits_allocated": int(ds.BitsAllocated),
        "bits_stored": int(ds.BitsStored),
        "pixel_representation": int(ds.PixelRepresentation),
        "photometric_interpretation": str(ds.PhotometricInterpretation),
        "modality": str(ds.Modality),
        "lossy": lossy,
        "encoder": encoder,
        "reference": reference,
    }
    if "PlanarConfiguration" in ds:
        entry["planar_configuration"] = int(ds.PlanarConfiguration)
    if "RescaleSlope" in ds:
        entry["rescale_slope"] = float(ds.RescaleSlope)
        entry["rescale_intercept"] = float(ds.RescaleIntercept)
    if lossy:
        entry["tolerance"] = tolerance
        entry["measured"] = {k: v for k, v in measured.items() if k != "dtype_ok"}
    return entry


# ------------------------------------------------------------------------------------------
# Series for assembly tests
# ------------------------------------------------------------------------------------------

SERIES_README = """\
Two tiny synthetic series for scan / assembly tests, made by ../make_test_data.py.
This README.txt is deliberately not DICOM: a scan must skip it with a reason.

Series A (files A_*.dcm next to this README): CT, 12 slices of 32x32, stored int16
  (BitsAllocated 16, BitsStored 16, PixelRepresentation 1), RescaleSlope 1,
  RescaleIntercept -1024, slice spacing 2.5 mm along the slice normal, oblique orientation:
  the axial orientation rotated by 15 degrees about the patient x axis. File names AND
  Instance Numbers are a permutation unrelated to position: order by the projection of
  Image Position (Patient) on the normal. Slice k (in position order) contains the value
  (stored) 100 * k + 1024 in its top-left 4x4 block, so the order can be checked.
Series B (files B_*.dcm): MR, 8 slices of 32x32 uint16 (BitsStored 16), RescaleSlope 0.5,
  RescaleIntercept 0, axial, spacing 4 mm, its own Series Instance UID (same Study).
A_mixed/: series A re-encoded slice by slice (RLE / JPEG-LS lossless / JPEG 2000 lossless /
  Explicit VR LE, in turn): same pixel data, geometry and Instance Numbers as A, but its own
  Series Instance UID and SOP Instance UIDs, so a recursive scan of this folder gives three
  series (A, B, A_mixed) with no duplicate instances.
"""


def series_a_arrays() -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    n, size, spacing = 12, 32, 2.5
    ang = math.radians(15.0)
    row_dir = np.array([1.0, 0.0, 0.0])
    col_dir = np.array([0.0, math.cos(ang), math.sin(ang)])
    normal = np.cross(row_dir, col_dir)
    origin = np.array([-12.4, -15.0, -40.0])
    rng = np.random.default_rng(2024)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    slices = []
    for k in range(n):
        # a sphere of "bone" (HU ~ 1000) in "soft tissue" (HU ~ 40) in "air" (-1000)
        z = (k - (n - 1) / 2) * 1.6
        r2 = (xx - 15.5) ** 2 + (yy - 15.5) ** 2
        hu = np.where(r2 < 14 ** 2, 40.0, -1000.0)
        hu = np.where(r2 + z * z < 8 ** 2, 1000.0, hu)
        hu += rng.normal(0.0, 5.0, size=hu.shape)
        stored = np.rint(hu + 1024).astype(np.int16)
        stored[0:4, 0:4] = 100 * k + 1024  # slice tag: position order is checkable
        stored[31, 31] = -1024 if k % 2 else 3071  # extremes of the stored range in use
        slices.append(stored)
    positions = np.array([origin + k * spacing * normal for k in range(n)])
    iop = np.concatenate([row_dir, col_dir])
    return slices, positions, iop, normal


def ds_f(values: np.ndarray) -> list[str]:
    return [f"{v:.6f}".rstrip("0").rstrip(".") if "." in f"{v:.6f}" else f"{v:.6f}"
            for v in values]


def make_series(outdir: Path, rows: list[list[str]], series_entries: list[dict[str, Any]]
                ) -> bool:
    sdir = outdir / "series"
    mdir = sdir / "A_mixed"
    mdir.mkdir(parents=True, exist_ok=True)
    (sdir / "README.txt").write_text(SERIES_README)
    all_ok = True

    slices, positions, iop, normal = series_a_arrays()
    n = len(slices)
    perm = np.random.default_rng(7).permutation(n)  # file name / instance number per slice
    series_a = uid_for("series-A")
    series_am = uid_for("series-A_mixed")
    for_a = uid_for("series-A", "for")
    mixed = [(RLELossless, "pylibjpeg", "rle"), (JPEGLSLossless, "pyjpegls", "jpegls"),
             (JPEG2000Lossless, "pylibjpeg", "j2k"), (ExplicitVRLittleEndian, "", "explicit_le")]
    for k in range(n):
        inst = int(perm[k]) + 1
        name = f"A_{inst:03d}.dcm"
        ds = base_dataset("series A", CT_IMAGE, "CT", series_a, uid_for("A", str(k)))
        ds.SeriesDescription = "A oblique CT"
        ds.SeriesNumber = 2
        ds.InstanceNumber = inst
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.FrameOfReferenceUID = for_a
        ds.ImagePositionPatient = ds_f(positions[k])
        ds.ImageOrientationPatient = ds_f(iop)
        ds.PixelSpacing = [0.9, 0.9]
        ds.SliceThickness = 2.5
        ds.SliceLocation = ds_f(np.array([float(positions[k] @ normal)]))[0]
        ds.RescaleSlope = "1"
        ds.RescaleIntercept = "-1024"
        ds.RescaleType = "HU"
        ds.set_pixel_data(slices[k], "MONOCHROME2", 16, generate_instance_uid=False)
        save(ds, sdir / name)

        tsuid, plugin, key = mixed[k % len(mixed)]
        mds = copy.deepcopy(ds)
        mds.SeriesInstanceUID = series_am
        mds.SOPInstanceUID = uid_for("A_mixed", str(k))
        mds.file_meta.MediaStorageSOPInstanceUID = mds.SOPInstanceUID
        mds.SeriesDescription = "A oblique CT, mixed transfer syntaxes"
        mds.SeriesNumber = 3
        if tsuid != ExplicitVRLittleEndian:
            mds.compress(tsuid, encoding_plugin=plugin, generate_instance_uid=False)
        mname = f"A_mixed/A_{inst:03d}_{key}.dcm"
        save(mds, sdir / mname)
        back = pydicom.dcmread(sdir / mname).pixel_array
        ok = bool(np.array_equal(back, slices[k])) and back.dtype == slices[k].dtype
        all_ok &= ok
        rows.append([f"series/{mname}", tsuid.name[:34], "", str((sdir / mname).stat().st_size),
                     "vs series/" + name, "OK" if ok else "FAIL"])
        common = {"series": "A", "position_index": k, "instance_number": inst,
                  "image_position_patient": [float(v) for v in ds.ImagePositionPatient],
                  }
        series_entries.append({"name": f"series/{name}",
                               "transfer_syntax_uid": str(ExplicitVRLittleEndian),
                               "reference": None, **common})
        series_entries.append({"name": f"series/{mname}", "transfer_syntax_uid": str(tsuid),
                               "reference": f"series/{name}", **common,
                               "series": "A_mixed"})

    # Series B: 8 axial MR slices, uint16, RescaleSlope 0.5
    rng = np.random.default_rng(99)
    series_b = uid_for("series-B")
    perm_b = np.random.default_rng(8).permutation(8)
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float64)
    for k in range(8):
        img = 1000 + 30 * xx + 10 * yy * (k + 1) + rng.normal(0, 20, size=xx.shape)
        img[10:20, 10:20] = 60000
        img[0:4, 0:4] = 100 * k + 1  # slice tag
        img[31, 31] = 65535 if k % 2 else 0
        arr = np.clip(np.rint(img), 0, 65535).astype(np.uint16)
        inst = int(perm_b[k]) + 1
        name = f"B_{inst:03d}.dcm"
        ds = base_dataset("series B", MR_IMAGE, "MR", series_b, uid_for("B", str(k)))
        ds.SeriesDescription = "B axial MR"
        ds.SeriesNumber = 4
        ds.InstanceNumber = inst
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
        ds.FrameOfReferenceUID = uid_for("series-B", "for")
        ds.ImagePositionPatient = [-14.0, -14.0, 20.0 + 4.0 * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.875, 0.875]
        ds.SliceThickness = 4.0
        ds.SpacingBetweenSlices = 4.0
        ds.SliceLocation = 20.0 + 4.0 * k
        ds.RescaleSlope = "0.5"
        ds.RescaleIntercept = "0"
        ds.set_pixel_data(arr, "MONOCHROME2", 16, generate_instance_uid=False)
        save(ds, sdir / name)
        back = pydicom.dcmread(sdir / name).pixel_array
        ok = bool(np.array_equal(back, arr))
        all_ok &= ok
        rows.append([f"series/{name}", ExplicitVRLittleEndian.name[:34], "",
                     str((sdir / name).stat().st_size), "", "OK" if ok else "FAIL"])
        series_entries.append({"name": f"series/{name}", "series": "B",
                               "transfer_syntax_uid": str(ExplicitVRLittleEndian),
                               "reference": None, "position_index": k,
                               "instance_number": inst,
                               "image_position_patient": [float(v) for v in
                                                          ds.ImagePositionPatient]})
    return all_ok


# ------------------------------------------------------------------------------------------


def clean(outdir: Path) -> None:
    """Remove what a previous run made (only .dcm files, MANIFEST.json and series/)."""
    for p in outdir.glob("*.dcm"):
        p.unlink()
    if (outdir / "series").is_dir():
        shutil.rmtree(outdir / "series")


def main(argv: list[str]) -> int:
    _register_jpegxl_uids()
    outdir = Path(argv[1]) if len(argv) > 1 else HERE
    outdir.mkdir(parents=True, exist_ok=True)
    clean(outdir)
    rows: list[list[str]] = []
    entries: list[dict[str, Any]] = []
    not_made: list[dict[str, str]] = []
    series_entries: list[dict[str, Any]] = []
    ok = True
    with tempfile.TemporaryDirectory() as tmpname:
        tmp = Path(tmpname)
        for spec in IMAGES:
            ok &= make_image(spec, outdir, tmp, rows, entries, not_made)
    ok &= make_series(outdir, rows, series_entries)

    manifest = {
        "description": "Synthetic DICOM test files made by make_test_data.py with real "
                       "encoders; 'reference' names the uncompressed Explicit VR LE file a "
                       "file was made from. Lossless files decode identical to it, lossy "
                       "files within 'tolerance' (PSNR relative to 2**bits_stored - 1).",
        "versions": {"pydicom": pydicom.__version__, "numpy": np.__version__,
                     **library_versions()},
        "notes": NOTES,
        "files": entries,
        "not_made": not_made,
        "series": series_entries,
    }
    manifest["not_made"] = group_not_made(not_made)
    (outdir / "MANIFEST.json").write_text(dump_manifest(manifest))

    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    print(f"\n{len(entries)} files + {len(series_entries)} series files written to {outdir}")
    for nm in group_not_made(not_made):
        print(f"not made: {', '.join(nm['names'])}: {nm['reason']}")
    print("RESULT:", "OK" if ok else "FAILED")
    return 0 if ok else 1


def group_not_made(not_made: list[dict[str, str]]) -> list[dict[str, Any]]:
    """One entry per (syntax, encoder, reason), listing the file names it applies to."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for nm in not_made:
        groups.setdefault((nm["transfer_syntax_uid"], nm["encoder"], nm["reason"]),
                          []).append(nm["name"])
    return [{"transfer_syntax_uid": ts, "encoder": enc, "reason": reason, "names": names}
            for (ts, enc, reason), names in groups.items()]


def dump_manifest(manifest: dict[str, Any]) -> str:
    """JSON with one line per list item: small, and diffs stay readable."""
    parts = []
    for key, value in manifest.items():
        if isinstance(value, list):
            items = ",\n".join("  " + json.dumps(v, sort_keys=False) for v in value)
            parts.append(f" {json.dumps(key)}: [\n{items}\n ]")
        else:
            parts.append(f" {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("pylibjpeg", "pylibjpeg-libjpeg", "pylibjpeg-openjpeg", "pylibjpeg-rle",
                "pyjpegls", "python-gdcm"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


if __name__ == "__main__":
    sys.exit(main(sys.argv))
