"""Generate synthetic CT series for the dicomdecode benchmarks.

One 512x512 int16 CT slice per file, a smooth synthetic thorax-like phantom
(air outside the body about -1000 HU, fat about -100, soft tissue 0-100, lungs
about -850, bone 700-1200 HU, correlated noise), stored values = HU + 1024 with
RescaleIntercept -1024 / RescaleSlope 1, ImagePositionPatient stepping 1.0 mm
along z, axial ImageOrientationPatient, one SeriesInstanceUID, CT Image Storage.

Every syntax is written with a real encoder:

  explicit   Explicit VR Little Endian (pydicom)
  rle        RLE Lossless (pydicom Dataset.compress, pylibjpeg-rle encoder)
  jpegsv1    JPEG Lossless SV1 (GDCM ImageChangeTransferSyntax)
  jpegls     JPEG-LS Lossless (pydicom Dataset.compress, pyjpegls / CharLS)
  j2k        JPEG 2000 Lossless (pydicom Dataset.compress, pylibjpeg-openjpeg)
  htj2k      HTJ2K Lossless: only if an installed encoder can (pydicom 3.0 has no
             HTJ2K encoder and OpenJPEG 2.5 cannot write HT code blocks; if
             `imagecodecs` with its OpenJPH-based `htj2k_encode` is importable it
             is used, otherwise the syntax is skipped with a message)

Output: bench/_work/<syntax>_<N>/slice_NNNN.dcm (git-ignored), nothing else in that
directory. A series with its marker bench/_work/.<syntax>_<N>.complete is reused
(cache); --force regenerates.

Also writes bench/_work/rgb_jpeg_baseline.dcm (512x512 8-bit RGB, JPEG baseline,
GDCM encoder) for the handler benchmark (--rgb).

Also, with --study, bench/_work/study_<N>/<syntax>/: those series again, each with its own
Series and SOP Instance UIDs, as one study of several series (for convert's throughput on
a study: bench/bench_convert.py --syntaxes study).

Usage:
  python bench/make_series.py --slices 300                 # all syntaxes
  python bench/make_series.py --slices 300 --syntaxes explicit rle jpegls htj2k jpeg8 --study
  python bench/make_series.py --slices 100 300 1000 --syntaxes explicit rle
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import multiprocessing as mp
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work"

ROWS = COLS = 512
PIXEL_SPACING = 0.7  # mm
SLICE_STEP = 1.0  # mm
INTERCEPT = -1024

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
SC_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.7"

SYNTAXES = {
    # name: (transfer syntax UID, human name)
    "explicit": ("1.2.840.10008.1.2.1", "Explicit VR Little Endian"),
    "rle": ("1.2.840.10008.1.2.5", "RLE Lossless"),
    "jpegsv1": ("1.2.840.10008.1.2.4.70", "JPEG Lossless SV1"),
    "jpegls": ("1.2.840.10008.1.2.4.80", "JPEG-LS Lossless"),
    "j2k": ("1.2.840.10008.1.2.4.90", "JPEG 2000 Lossless"),
    "htj2k": ("1.2.840.10008.1.2.4.201", "HTJ2K Lossless"),
    # 8-bit: the CT in a soft-tissue window (W 400 / L 40), JPEG baseline quality 90 by
    # libjpeg-turbo (imagecodecs): what secondary captures and teaching files look like
    "jpeg8": ("1.2.840.10008.1.2.4.50", "JPEG Baseline 8-bit"),
}
ALL_SYNTAXES = list(SYNTAXES)


def _uid(*parts: object) -> str:
    """Deterministic UID under the 2.25 root (so re-runs give identical files)."""
    h = hashlib.sha256("/".join(str(p) for p in parts).encode()).hexdigest()
    return "2.25." + str(int(h[:30], 16))


# --------------------------------------------------------------------------- phantom

_YY, _XX = np.mgrid[0:ROWS, 0:COLS].astype(np.float32)
_CY, _CX = (ROWS - 1) / 2.0, (COLS - 1) / 2.0


def _ellipse(cx: float, cy: float, a: float, b: float) -> np.ndarray:
    return ((_XX - cx) / a) ** 2 + ((_YY - cy) / b) ** 2 <= 1.0


def _box_blur(img: np.ndarray, r: int = 1) -> np.ndarray:
    """Separable (2r+1)^2 box blur with edge padding, float32."""
    k = 2 * r + 1
    p = np.pad(img, r, mode="edge")
    c = np.cumsum(p, axis=0, dtype=np.float32)
    c = np.vstack([np.zeros((1, c.shape[1]), np.float32), c])
    v = (c[k:] - c[:-k]) / k
    c = np.cumsum(v, axis=1, dtype=np.float32)
    c = np.hstack([np.zeros((c.shape[0], 1), np.float32), c])
    return (c[:, k:] - c[:, :-k]) / k


def phantom_hu(z: int, n: int, seed: int = 0) -> np.ndarray:
    """HU image (float32) for slice z of n: a thorax-like phantom that varies with z."""
    t = z / max(n - 1, 1)  # 0..1 along the series
    rng = np.random.default_rng([seed, z])
    img = np.full((ROWS, COLS), -1000.0, np.float32)  # air

    # body: fat layer then soft tissue, size breathing slowly with z
    ba = 200 + 15 * np.sin(2 * np.pi * t)
    bb = 145 + 10 * np.cos(2 * np.pi * t)
    img[_ellipse(_CX, _CY + 10, ba, bb)] = -100.0
    img[_ellipse(_CX, _CY + 10, ba - 14, bb - 12)] = 40.0
    # muscle band
    img[_ellipse(_CX, _CY + 70, ba - 40, 45)] = 60.0

    # lungs, largest in the middle of the series
    la = 55 + 35 * np.sin(np.pi * t)
    lb = 80 + 40 * np.sin(np.pi * t)
    for sx in (-1, 1):
        img[_ellipse(_CX + sx * 95, _CY - 5, la, lb)] = -850.0
        # a few vessels inside the lung
        for k in range(4):
            vx = _CX + sx * (80 + 25 * np.cos(k + 3 * t))
            vy = _CY - 5 + 50 * np.sin(k * 1.7 + 2 * t)
            img[_ellipse(vx, vy, 4, 4)] = 40.0

    # heart / mediastinum (contrast ~ 100-250 HU)
    img[_ellipse(_CX + 20, _CY + 15, 55 + 10 * np.sin(3 * t), 50)] = 60.0
    img[_ellipse(_CX + 10, _CY - 20, 14, 14)] = 250.0  # aorta with contrast

    # spine: cortical ring + cancellous body, spinal canal
    img[_ellipse(_CX, _CY + 105, 30, 26)] = 1200.0
    img[_ellipse(_CX, _CY + 105, 24, 20)] = 700.0
    img[_ellipse(_CX, _CY + 140, 9, 8)] = 20.0
    # ribs around the body outline (vary with z)
    for k in range(12):
        ang = np.pi * (0.15 + 0.7 * k / 11) + (0.0 if k % 2 else np.pi)
        ang += 0.05 * np.sin(6 * np.pi * t + k)
        rx = _CX + (ba - 22) * np.cos(ang)
        ry = _CY + 10 + (bb - 20) * np.sin(ang)
        img[_ellipse(rx, ry, 7, 5)] = 1000.0
    # sternum
    img[_ellipse(_CX, _CY + 10 - bb + 22, 16, 6)] = 900.0

    # patient table below the body
    img[(_YY > _CY + 10 + 160) & (_YY < _CY + 10 + 172) & (np.abs(_XX - _CX) < 220)] = -300.0

    # partial volume at edges, then correlated noise (~12 HU std after blur)
    img = _box_blur(img, 1)
    noise = rng.normal(0.0, 36.0, size=img.shape).astype(np.float32)
    img = img + _box_blur(noise, 1)

    # outside the reconstruction field of view: -1024 HU (stored 0)
    fov = ((_XX - _CX) ** 2 + (_YY - _CY) ** 2) > (ROWS / 2.0) ** 2
    img[fov] = -1024.0
    return img


def stored_slice(z: int, n: int, seed: int = 0) -> np.ndarray:
    hu = phantom_hu(z, n, seed)
    sv = np.rint(hu - INTERCEPT)
    return np.clip(sv, -32768, 32767).astype(np.int16)


# --------------------------------------------------------------------------- datasets


def ct_dataset(z: int, n: int, seed: int = 0):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

    arr = stored_slice(z, n, seed)
    study = _uid("study", seed)
    series = _uid("series", seed, n)
    sop = _uid("sop", seed, n, z)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.SOPInstanceUID = sop
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20240101"
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "120000"
    ds.AccessionNumber = ""
    ds.Modality = "CT"
    ds.Manufacturer = "dicomdecode-bench"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "synthetic thorax phantom"
    ds.SeriesDescription = f"synthetic CT {n} slices"
    ds.PatientName = "Phantom^Bench"
    ds.PatientID = "BENCH0001"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.SliceThickness = f"{SLICE_STEP:.1f}"
    ds.KVP = "120"
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.StudyID = "1"
    ds.SeriesNumber = 2
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = z + 1
    x0 = -PIXEL_SPACING * (COLS - 1) / 2.0
    y0 = -PIXEL_SPACING * (ROWS - 1) / 2.0
    zpos = -200.0 + z * SLICE_STEP
    ds.ImagePositionPatient = [f"{x0:.4f}", f"{y0:.4f}", f"{zpos:.4f}"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.FrameOfReferenceUID = _uid("for", seed)
    ds.PositionReferenceIndicator = ""
    ds.SliceLocation = f"{zpos:.4f}"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ROWS
    ds.Columns = COLS
    ds.PixelSpacing = [f"{PIXEL_SPACING:.4f}", f"{PIXEL_SPACING:.4f}"]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"
    ds.RescaleIntercept = str(INTERCEPT)
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    _realistic_header(ds, z)
    ds.PixelData = arr.tobytes()
    ds["PixelData"].VR = "OW"
    return ds, arr


HEADER_VERSION = 2  # bump when the generated files change (invalidates the cache)


def _realistic_header(ds, z: int) -> None:
    """Add what a scanner writes besides the essentials: acquisition attributes,
    a source-image sequence and GE-like private groups of mixed VRs (about 260
    elements, 6 KB, like a real CT slice), so per-file header parsing costs what it
    costs on real data."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds.AcquisitionDate = "20240101"
    ds.AcquisitionTime = f"{120000 + z % 60:06d}.{z:06d}"
    ds.InstitutionName = "Benchmark Hospital"
    ds.StationName = "CT01"
    ds.NameOfPhysiciansReadingStudy = ""
    ds.OperatorsName = "Op^Erator"
    ds.ManufacturerModelName = "Synthetic 64"
    ds.PatientAge = "050Y"
    ds.PatientWeight = "70"
    ds.ScanOptions = "HELICAL MODE"
    ds.SpacingBetweenSlices = f"{SLICE_STEP:.1f}"
    ds.DataCollectionDiameter = "500.0"
    ds.SoftwareVersions = "bench_1.0"
    ds.ReconstructionDiameter = f"{PIXEL_SPACING * COLS:.1f}"
    ds.DistanceSourceToDetector = "949.075"
    ds.DistanceSourceToPatient = "541.0"
    ds.GantryDetectorTilt = "0.0"
    ds.TableHeight = "160.5"
    ds.RotationDirection = "CW"
    ds.ExposureTime = "500"
    ds.XRayTubeCurrent = str(200 + z % 50)
    ds.Exposure = "100"
    ds.FilterType = "BODY FILTER"
    ds.FocalSpots = "0.7"
    ds.ConvolutionKernel = "STANDARD"
    ds.Laterality = ""
    ds.LossyImageCompression = "00"
    src = Dataset()
    src.ReferencedSOPClassUID = CT_IMAGE_STORAGE
    src.ReferencedSOPInstanceUID = _uid("src", z)
    ds.SourceImageSequence = Sequence([src])
    code = Dataset()
    code.CodeValue = "113076"
    code.CodingSchemeDesignator = "DCM"
    code.CodeMeaning = "Segmentation"
    ds.DerivationCodeSequence = Sequence([code])
    ds.AdditionalPatientHistory = "synthetic"
    # private groups, as GE writes them: (group, creator, VR cycle, count)
    vrs = ["SS", "DS", "SL", "SH", "LO", "FL", "UL", "US", "IS", "FD"]
    groups = [(0x0009, "GEMS_IDEN_01", 11), (0x0019, "GEMS_ACQU_01", 58),
              (0x0021, "GEMS_RELA_01", 15), (0x0023, "GEMS_STDY_01", 5),
              (0x0025, "GEMS_SERS_01", 10), (0x0027, "GEMS_IMAG_01", 31),
              (0x0029, "GEMS_IMPS_01", 12), (0x0043, "GEMS_PARM_01", 43),
              (0x0045, "GEMS_HELIOS_01", 10)]
    for gi, (group, creator, count) in enumerate(groups):
        block = ds.private_block(group, creator, create=True)
        for k in range(count):
            vr = vrs[(gi + k) % len(vrs)]
            v: object
            if vr in ("SS", "US"):
                v = (k * 7 + z) % 1000
            elif vr in ("SL", "UL"):
                v = (k * 1009 + z) % 100000
            elif vr in ("FL", "FD"):
                v = k * 0.5 + z * 0.01
            elif vr == "DS":
                v = f"{k * 1.25 + z * 0.1:.4f}"
            elif vr == "IS":
                v = str(k + z)
            else:  # SH / LO
                v = f"{creator[:4]}_{k:03d}"
            block.add_new(0x10 + k, vr, v)


def _gdcm_transcode(src: str, dst: str, ts_name: str) -> None:
    import gdcm

    r = gdcm.ImageReader()
    r.SetFileName(src)
    if not r.Read():
        raise RuntimeError(f"gdcm could not read {src}")
    c = gdcm.ImageChangeTransferSyntax()
    c.SetTransferSyntax(gdcm.TransferSyntax(getattr(gdcm.TransferSyntax, ts_name)))
    c.SetInput(r.GetImage())
    if not c.Change():
        raise RuntimeError(f"gdcm could not transcode {src} to {ts_name}")
    w = gdcm.ImageWriter()
    w.SetFileName(dst)
    w.SetFile(r.GetFile())
    w.SetImage(c.GetOutput())
    if not w.Write():
        raise RuntimeError(f"gdcm could not write {dst}")


def _htj2k_encoder():
    """Return a function arr -> HTJ2K lossless codestream, or None."""
    try:
        import imagecodecs  # type: ignore

        if getattr(imagecodecs, "HTJ2K", None) is None or not imagecodecs.HTJ2K.available:
            return None

        def enc(arr: np.ndarray) -> bytes:
            return imagecodecs.htj2k_encode(arr, level=0)  # lossless (reversible)

        return enc
    except Exception:
        return None


def syntax_available(name: str) -> tuple[bool, str]:
    try:
        if name == "explicit":
            return True, ""
        if name == "jpegsv1":
            import gdcm  # noqa: F401

            return True, ""
        if name == "jpeg8":
            import imagecodecs  # noqa: F401

            return True, ""
        if name == "htj2k":
            return (
                (_htj2k_encoder() is not None),
                "no HTJ2K encoder installed (pydicom 3.0 has none, OpenJPEG 2.5 cannot "
                "encode HT; `pip install imagecodecs` adds OpenJPH's)",
            )
        from pydicom.pixels.encoders import (
            JPEG2000LosslessEncoder,
            JPEGLSLosslessEncoder,
            RLELosslessEncoder,
        )

        enc = {
            "rle": RLELosslessEncoder,
            "jpegls": JPEGLSLosslessEncoder,
            "j2k": JPEG2000LosslessEncoder,
        }[name]
        return enc.is_available, f"pydicom encoder for {name} not available"
    except ImportError as exc:
        return False, str(exc)


def write_slice(args: tuple[int, int, int, list[str], dict[str, str]]) -> None:
    """Write slice z of n into each requested syntax's staging directory."""
    z, n, seed, syntaxes, dirs = args
    from pydicom.encaps import encapsulate

    ds, arr = ct_dataset(z, n, seed)
    fname = f"slice_{z:04d}.dcm"
    explicit_path = None
    if "explicit" in syntaxes or "jpegsv1" in syntaxes:
        if "explicit" in syntaxes:
            explicit_path = os.path.join(dirs["explicit"], fname)
        else:  # only needed as GDCM's input
            explicit_path = os.path.join(dirs["jpegsv1"], fname + ".tmp")
        ds.save_as(explicit_path, enforce_file_format=True)
    for name in syntaxes:
        out = os.path.join(dirs[name], fname)
        if name == "explicit":
            continue
        if name == "jpegsv1":
            _gdcm_transcode(explicit_path, out, "JPEGLosslessProcess14_1")
            if explicit_path.endswith(".tmp"):
                os.remove(explicit_path)
            continue
        d = copy.deepcopy(ds)
        if name == "rle":
            d.compress(SYNTAXES[name][0], arr, encoding_plugin="pylibjpeg")
        elif name == "jpegls":
            d.compress(SYNTAXES[name][0], arr, encoding_plugin="pyjpegls")
        elif name == "j2k":
            d.compress(SYNTAXES[name][0], arr, encoding_plugin="pylibjpeg")
        elif name == "htj2k":
            enc = _htj2k_encoder()
            d.PixelData = encapsulate([enc(arr)])
            d["PixelData"].VR = "OB"
            d.file_meta.TransferSyntaxUID = SYNTAXES[name][0]
        elif name == "jpeg8":
            import imagecodecs

            d.BitsAllocated, d.BitsStored, d.HighBit, d.PixelRepresentation = 8, 8, 7, 0
            d.RescaleIntercept, d.RescaleSlope = 0, 1
            d.PixelData = encapsulate([imagecodecs.jpeg8_encode(windowed(arr), level=90)])
            d["PixelData"].VR = "OB"
            d.file_meta.TransferSyntaxUID = SYNTAXES[name][0]
            d.LossyImageCompression = "01"
        d.save_as(out, enforce_file_format=True)


def windowed(stored: np.ndarray) -> np.ndarray:
    """Stored CT values in a soft-tissue window (W 400, L 40 HU) as uint8."""
    hu = stored.astype(np.float32) + INTERCEPT
    return np.clip(np.rint((hu - (40 - 200)) * 255 / 400), 0, 255).astype(np.uint8)


def verify(dirpath: Path, n: int, seed: int, count: int = 3) -> None:
    """Decode a few slices with pydicom and check they equal the generated values."""
    import pydicom

    for z in sorted({0, n // 2, n - 1})[:count]:
        ds = pydicom.dcmread(dirpath / f"slice_{z:04d}.dcm")
        got = ds.pixel_array
        want = stored_slice(z, n, seed)
        if ds.BitsAllocated == 8:  # lossy JPEG of the windowed slice
            want = windowed(want)
            error = np.abs(got.astype(int) - want.astype(int))
            if got.shape != want.shape or error.mean() > 2 or error.max() > 40:
                raise RuntimeError(f"JPEG round trip too far off in {dirpath} slice {z}")
            continue
        if got.dtype != want.dtype or not np.array_equal(got, want):
            raise RuntimeError(f"round trip mismatch in {dirpath} slice {z}")


def _marker(final: Path) -> Path:
    return final.parent / f".{final.name}.complete"


def make(slices: int, syntaxes: list[str], *, seed: int = 0, workers: int | None = None,
         force: bool = False, quiet: bool = False) -> dict[str, Path]:
    """Create (or reuse) bench/_work/<syntax>_<slices>/ for each syntax. Returns dirs made."""
    WORK.mkdir(parents=True, exist_ok=True)
    todo: list[str] = []
    out: dict[str, Path] = {}
    for name in syntaxes:
        ok, why = syntax_available(name)
        if not ok:
            if not quiet:
                print(f"skip {name}: {why}", file=sys.stderr)
            continue
        final = WORK / f"{name}_{slices}"
        out[name] = final
        marker = _marker(final)
        if (final / ".complete").exists():  # old layout: marker inside the series dir
            (final / ".complete").rename(marker)
        if (marker.exists() and final.is_dir() and not force
                and f"hdr={HEADER_VERSION}" in marker.read_text()):
            if not quiet:
                print(f"cached {final}")
            continue
        todo.append(name)
    if not todo:
        return out
    staging = {name: WORK / f".{name}_{slices}.staging" for name in todo}
    for d in staging.values():
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    dirs = {k: str(v) for k, v in staging.items()}
    t0 = time.perf_counter()
    tasks = [(z, slices, seed, todo, dirs) for z in range(slices)]
    workers = workers or len(os.sched_getaffinity(0))
    ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    with ctx.Pool(workers) as pool:
        for _ in pool.imap_unordered(write_slice, tasks, chunksize=4):
            pass
    for name in todo:
        verify(staging[name], slices, seed)
        final = WORK / f"{name}_{slices}"
        _marker(final).unlink(missing_ok=True)
        shutil.rmtree(final, ignore_errors=True)
        staging[name].rename(final)
        # the marker lives beside the series so the series dir holds only DICOM files
        _marker(final).write_text(
            f"{SYNTAXES[name][1]} {SYNTAXES[name][0]} slices={slices} seed={seed} "
            f"hdr={HEADER_VERSION}\n")
    if not quiet:
        dt = time.perf_counter() - t0
        for name in todo:
            d = WORK / f"{name}_{slices}"
            size = sum(p.stat().st_size for p in d.glob("*.dcm"))
            raw = slices * ROWS * COLS * 2
            print(f"made {d}: {slices} files, {size / 1e6:.1f} MB "
                  f"(ratio {raw / size:.2f}x vs raw)")
        print(f"generated {len(todo)} syntaxes x {slices} slices in {dt:.1f} s")
    return out


def make_rgb_jpeg_baseline(force: bool = False) -> Path | None:
    """512x512 8-bit RGB (smooth gradients + shapes) as JPEG baseline via GDCM."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

    out = WORK / "rgb_jpeg_baseline.dcm"
    if out.exists() and not force:
        return out
    WORK.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    r = (_XX / COLS * 255)
    g = (_YY / ROWS * 255)
    b = 128 + 100 * np.sin(_XX / 40.0) * np.cos(_YY / 55.0)
    img = np.stack([r, g, b], axis=-1)
    img[_ellipse(200, 260, 120, 90)] = (220, 60, 40)
    img[_ellipse(350, 180, 60, 100)] = (30, 200, 90)
    img = img + rng.normal(0, 4, img.shape)
    arr = np.clip(np.rint(img), 0, 255).astype(np.uint8)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SC_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = _uid("rgb")
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = SC_IMAGE_STORAGE
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = _uid("rgbstudy")
    ds.SeriesInstanceUID = _uid("rgbseries")
    ds.Modality = "OT"
    ds.PatientName = "Phantom^RGB"
    ds.PatientID = "BENCH0002"
    ds.ConversionType = "WSD"
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = ROWS, COLS
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = arr.tobytes()
    ds["PixelData"].VR = "OB"
    tmp = WORK / "rgb_explicit.dcm"
    ds.save_as(tmp, enforce_file_format=True)
    try:
        _gdcm_transcode(str(tmp), str(out), "JPEGBaselineProcess1")
        # GDCM writes a YCbCr (JFIF-style, subsampled) codestream but keeps
        # Photometric Interpretation RGB: label it as the standard requires.
        import pydicom

        fixed = pydicom.dcmread(out)
        fixed.PhotometricInterpretation = "YBR_FULL_422"
        fixed.save_as(out, enforce_file_format=True)
    except Exception as exc:  # pragma: no cover - depends on gdcm build
        print(f"skip rgb jpeg baseline: {exc}", file=sys.stderr)
        return None
    return out


def make_study(n: int, syntaxes: list[str], force: bool = False) -> Path | None:
    """bench/_work/study_<n>/<syntax>/: every given syntax's series as its own series of one
    study (new Series and SOP Instance UIDs; the pixel data as encoded), so that a convert
    of the folder has several series to spread over the cores (issue 18: overlap of
    series). Made from the <syntax>_<n> series, which must exist; cached like them."""
    import pydicom

    root = WORK / f"study_{n}"
    marker = WORK / f".study_{n}.complete"
    if marker.exists() and not force:
        return root
    shutil.rmtree(root, ignore_errors=True)
    for name in syntaxes:
        source = WORK / f"{name}_{n}"
        if not source.is_dir():
            print(f"study: {source} missing, run make_series.py --slices {n} first")
            return None
        target = root / name
        target.mkdir(parents=True)
        series_uid = _uid("study-series", name, n)
        for path in sorted(source.glob("*.dcm")):
            ds = pydicom.dcmread(path)
            sop = _uid("study-sop", name, path.name)
            ds.SeriesInstanceUID = series_uid
            ds.SeriesDescription = f"bench {name}"
            ds.SOPInstanceUID = sop
            ds.file_meta.MediaStorageSOPInstanceUID = sop
            ds.save_as(target / path.name, enforce_file_format=True)
    marker.touch()
    return root


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--slices", type=int, nargs="+", default=[300],
                    help="series length(s), e.g. 100 300 1000 (default 300)")
    ap.add_argument("--syntaxes", nargs="+", default=ALL_SYNTAXES, choices=ALL_SYNTAXES)
    ap.add_argument("--workers", type=int, default=None, help="processes (default: cores)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true", help="regenerate even if cached")
    ap.add_argument("--no-rgb", action="store_true",
                    help="do not write the RGB JPEG baseline file")
    ap.add_argument("--study", action="store_true",
                    help="also write study_<N>/: the series of every syntax given, as one "
                         "multi-series study (bench_convert.py --syntaxes study)")
    args = ap.parse_args(argv)
    for n in args.slices:
        make(n, args.syntaxes, seed=args.seed, workers=args.workers, force=args.force)
        if args.study:
            make_study(n, args.syntaxes, force=args.force)
    if not args.no_rgb:
        p = make_rgb_jpeg_baseline(force=args.force)
        if p:
            print(f"rgb jpeg baseline: {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
