"""dicomdecode.ml without torch: items match pydicom and the serial assembler, datasets
pickle and run under a spawn pool, multi-frame items decode one frame, stale files raise.

References are independent of ml.py: pydicom's ``pixel_array`` with slope/intercept read
from the file by pydicom, and ``load_series`` for the series-level result.
"""

from __future__ import annotations

import functools
import importlib
import multiprocessing
import operator
import os
import pickle
import shutil
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from dicomdecode.errors import StaleIndexError
from dicomdecode.ml import TORCH_HINT, SeriesDataset, SliceDataset

# These tests exercise the whole pipeline on compressed data too: they need every
# decoder. Reduced-install sessions (nox tests_minimal/_pylibjpeg/_gdcm) deselect them.
pytestmark = pytest.mark.needs_handler("pylibjpeg", "gdcm", "charls")

PHILIPS_FMRI = "dcm_qa_philips/In/Magdeburg_2014/fmri"
GE_CT = "dcm_qa_ct/In/GE"
CANON_ENH = "dcm_qa_canon_61/In/enh/9000.dcm"
J2K_MULTIFRAME = "pylibjpeg-data/ljdata/ds/JPEG2000Lossless/emri_small_jpeg_2k_lossless.dcm"


# --------------------------------------------------------------------------- references


@functools.lru_cache(maxsize=4)
def _read_pixels(path: str) -> tuple[pydicom.Dataset, np.ndarray]:
    ds = pydicom.dcmread(path)
    return ds, ds.pixel_array


def pydicom_value(path: str, frame: int) -> np.ndarray:
    """Independent reference for one slice: pydicom pixels x slope + intercept.

    Classic Philips MR with the private Scale Slope (2005,100E) gets the precise value
    FP = (SV*RS + RI) / (RS*SS), the convention dicomdecode documents as its default.
    Enhanced files take slope/intercept from their per-frame (or shared) groups.
    """
    ds, all_pixels = _read_pixels(os.fspath(path))
    pixels = all_pixels
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        pixels = pixels[frame]
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    for seq_name in ("PerFrameFunctionalGroupsSequence", "SharedFunctionalGroupsSequence"):
        seq = ds.get(seq_name)
        if not seq:
            continue
        group = seq[frame] if seq_name.startswith("PerFrame") else seq[0]
        pvt = group.get("PixelValueTransformationSequence")
        if pvt:
            slope = float(pvt[0].get("RescaleSlope", slope))
            intercept = float(pvt[0].get("RescaleIntercept", intercept))
            break
    if slope == 1 and intercept == 0:
        return pixels
    scale_slope = ds.get((0x2005, 0x100E))
    if scale_slope is not None and float(scale_slope.value) != 0:
        ss = float(scale_slope.value)
        return (pixels.astype(np.float64) * slope + intercept) / (slope * ss)
    return pixels.astype(np.float64) * slope + intercept


def assert_slice_matches(image: np.ndarray, path: str, frame: int) -> None:
    ref = pydicom_value(path, frame)
    assert image.shape == ref.shape, (path, frame)
    if image.dtype.kind == "f":
        np.testing.assert_allclose(image, ref, rtol=1e-6, atol=1e-6 * float(np.abs(ref).max()),
                                   err_msg=f"{path} frame {frame}")
    else:
        assert np.array_equal(image, ref), f"{path} frame {frame}"


def items_equal(a: dict, b: dict) -> bool:
    """Two dataset items hold the same values (arrays compared exactly, dtype included)."""
    if a.keys() != b.keys():
        return False
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, np.ndarray):
            if not (isinstance(y, np.ndarray) and x.dtype == y.dtype
                    and np.array_equal(x, y, equal_nan=x.dtype.kind == "f")):
                return False
        elif k == "meta":
            continue  # compared by the series tests through the array and affine
        elif x != y:
            return False
    return True


# --------------------------------------------------------------------------- synthetic data


def write_series(folder: Path, *, n: int = 4, slope: float = 1.0, intercept: float = -1024.0,
                 rows: int = 8, cols: int = 6, seed: int = 0) -> list[Path]:
    """A small uncompressed CT series (12-bit stored, axial, 2 mm apart) written by pydicom,
    so the non-corpus tests run anywhere."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    study, series = generate_uid(), generate_uid()
    paths = []
    for k in range(n):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "CT", 1, k + 1
        ds.PatientID = "synthetic"
        ds.ImagePositionPatient = [0.0, 0.0, 2.0 * k]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.PixelSpacing = [0.5, 0.5]
        ds.SliceThickness = 2.0
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        ds.PixelData = rng.integers(0, 4096, (rows, cols), dtype=np.uint16).tobytes()
        # shuffled file names: order must come from geometry, not names
        path = folder / f"im{(k * 7) % n:03d}_{k}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


@pytest.fixture
def synth(tmp_path: Path) -> Path:
    write_series(tmp_path / "ct")
    return tmp_path / "ct"


# --------------------------------------------------------------------------- synthetic tests


def test_slice_items_match_pydicom_synthetic(synth: Path) -> None:
    ds = SliceDataset(synth)
    assert len(ds) == 4
    zs = [float(item["position"][2]) for item in ds]
    assert zs == sorted(zs)
    for item in ds:
        # 12-bit unsigned + intercept -1024 fits int16 exactly: the CT policy
        assert item["image"].dtype == np.int16
        assert_slice_matches(item["image"], item["path"], item["frame"])


def test_fractional_slope_gives_float32(tmp_path: Path) -> None:
    write_series(tmp_path / "s", slope=0.25, intercept=3.5)
    ds = SliceDataset(tmp_path / "s")
    for item in ds:
        assert item["image"].dtype == np.float32
        assert_slice_matches(item["image"], item["path"], item["frame"])


def test_rescale_false_and_true(synth: Path) -> None:
    raw = SliceDataset(synth, rescale=False)
    forced = SliceDataset(synth, rescale=True)
    for a, b in zip(raw, forced, strict=True):
        stored = pydicom.dcmread(a["path"]).pixel_array
        assert a["image"].dtype == stored.dtype and np.array_equal(a["image"], stored)
        assert a["intercept"] == -1024.0
        assert b["image"].dtype == np.float32
        assert np.array_equal(b["image"], stored.astype(np.float32) - 1024)


def test_slice_items_equal_series_volume(synth: Path) -> None:
    from dicomdecode.assemble import load_series
    from dicomdecode.scan import scan

    (series,) = scan(synth).series
    vol = load_series(series)
    ds = SliceDataset(synth)
    assert len(ds) == vol.array.shape[0]
    for k, item in enumerate(ds):
        assert item["image"].dtype == vol.array.dtype
        assert np.array_equal(item["image"], vol.array[k])


def test_series_dataset_matches_load_series_synthetic(tmp_path: Path) -> None:
    write_series(tmp_path / "a", seed=1)
    write_series(tmp_path / "b", n=3, slope=2.0, intercept=0.0, seed=2)
    ds = SeriesDataset(tmp_path)
    assert len(ds) == 2
    for item in ds:
        assert item["image"].ndim == 3
        assert item["affine"].shape == (4, 4)
        for k in range(item["image"].shape[0]):
            origin = item["affine"] @ np.array([k, 0, 0, 1.0])
            assert origin[2] == pytest.approx(2.0 * k)
        files = sorted({im.path for s in ds.series for im in s.images
                        if s.uid == item["series_key"]})
        by_z = sorted(files, key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2]))
        for k, path in enumerate(by_z):
            assert_slice_matches(item["image"][k], path, 0)


def test_transform_and_negative_index(synth: Path) -> None:
    ds = SliceDataset(synth, transform=lambda item: item["image"].sum())
    plain = SliceDataset(synth)
    assert ds[-1] == plain[len(plain) - 1]["image"].sum()
    with pytest.raises(IndexError):
        plain[len(plain)]


def test_as_tensor_without_torch_names_the_extra(synth: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    with pytest.raises(ImportError, match=r'pip install "dicomdecode\[torch\]"'):
        SliceDataset(synth, as_tensor=True)
    assert "dicomdecode[torch]" in TORCH_HINT


def test_pickle_is_lightweight_and_stays_so(synth: Path) -> None:
    ds = SliceDataset(synth)
    before = pickle.dumps(ds)
    _ = [ds[i] for i in range(len(ds))]
    after = pickle.dumps(ds)
    assert len(after) == len(before), "items must not be cached on the dataset"
    assert b"pydicom" not in after and b"gdcm" not in after.lower()
    clone = pickle.loads(after)
    for i in range(len(ds)):
        assert items_equal(clone[i], ds[i])


def test_spawn_pool_matches_serial(synth: Path) -> None:
    ds = SliceDataset(synth)
    serial = [ds[i] for i in range(len(ds))]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        parallel = pool.starmap(operator.getitem, [(ds, i) for i in range(len(ds))])
    assert len(parallel) == len(serial)
    assert all(items_equal(a, b) for a, b in zip(parallel, serial, strict=True))


def test_changed_file_raises_stale(synth: Path) -> None:
    ds = SliceDataset(synth)
    victim = ds[2]["path"]
    with open(victim, "ab") as fh:
        fh.write(b"\0\0")
    with pytest.raises(StaleIndexError) as err:
        ds[2]
    assert err.value.path == victim
    ds[0]  # the others are still fine


def test_missing_file_raises_stale_for_series(synth: Path) -> None:
    ds = SeriesDataset(synth)
    victim = sorted(synth.iterdir())[0]
    victim.unlink()
    with pytest.raises(StaleIndexError, match="missing") as err:
        ds[0]
    assert err.value.path == os.fspath(victim)


def test_verify_false_skips_the_check(synth: Path) -> None:
    ds = SliceDataset(synth, verify=False)
    path = ds[0]["path"]
    os.utime(path, ns=(1, 1))
    assert_slice_matches(ds[0]["image"], path, 0)


# --------------------------------------------------------------------------- corpus tests


@pytest.mark.parametrize("rel", [PHILIPS_FMRI, GE_CT])
def test_slice_dataset_corpus_matches_pydicom_and_series(corpus: Path, rel: str) -> None:
    from dicomdecode.assemble import load_series
    from dicomdecode.scan import scan

    folder = corpus / rel
    ds = SliceDataset(folder)
    files = sorted(os.fspath(p) for p in folder.iterdir() if p.suffix == ".dcm")
    assert sorted(item["path"] for item in ds) == files  # each file exactly once
    start = 0
    for series in scan(folder).series:
        vol = load_series(series)
        stack = vol.array.reshape(-1, *vol.array.shape[-2:])
        for k in range(stack.shape[0]):
            item = ds[start + k]
            assert item["series_key"] == series.uid
            assert item["image"].dtype == vol.array.dtype
            assert np.array_equal(item["image"], stack[k])
            assert_slice_matches(item["image"], item["path"], item["frame"])
        start += stack.shape[0]
    assert start == len(ds)


def test_series_dataset_corpus_several_series(corpus: Path) -> None:
    paths = [corpus / PHILIPS_FMRI, corpus / GE_CT, corpus / CANON_ENH]
    ds = SeriesDataset(paths)
    assert len(ds) >= 3
    for item in ds:
        image = item["image"]
        series = next(s for s in ds.series if s.uid == item["series_key"])
        stack = image.reshape(-1, *image.shape[-2:])
        assert stack.shape[0] == len(series.images)
        # 4D arrays are volume-major, like series.images
        for k, ref in enumerate(series.images):
            assert_slice_matches(stack[k], ref.path, ref.frame)
        assert np.isfinite(item["affine"]).all() and item["spacing"].min() > 0


def _count_frame_decodes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Spy on every handler's decode_frame and on the native read-by-offset path: the list
    grows by one per frame decoded or read."""
    from dicomdecode.decode.handlers import HANDLERS
    from dicomdecode.decode.handlers import native as native_handler

    calls: list[tuple[str, int]] = []
    original_read = native_handler.read_native_into

    def read_spy(source, indices, out, **kw):  # type: ignore[no-untyped-def]
        done = original_read(source, indices, out, **kw)
        if done:
            calls.extend(("native-offset", index) for index in indices)
        return done

    monkeypatch.setattr(native_handler, "read_native_into", read_spy)
    for handler in HANDLERS.values():
        original = handler.decode_frame

        def spy(source, index, _original=original, _name=handler.name):  # type: ignore[no-untyped-def]
            calls.append((_name, index))
            return _original(source, index)

        monkeypatch.setattr(handler, "decode_frame", spy)
    return calls


@pytest.mark.parametrize("rel", [CANON_ENH, J2K_MULTIFRAME])
def test_multiframe_item_decodes_one_frame(corpus: Path, rel: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    path = corpus / rel
    ds = SliceDataset(path)
    n_frames = int(pydicom.dcmread(path, stop_before_pixels=True).NumberOfFrames)
    assert len(ds) == n_frames
    calls = _count_frame_decodes(monkeypatch)
    for i in (0, len(ds) // 2, len(ds) - 1):
        calls.clear()
        item = ds[i]
        assert [index for _, index in calls] == [item["frame"]]
        assert_slice_matches(item["image"], item["path"], item["frame"])
    calls.clear()
    frames = sorted(ds[k]["frame"] for k in range(len(ds)))
    assert frames == list(range(n_frames))  # every frame exactly once
    assert len(calls) == n_frames  # one decode per item, not per file


def test_index_dataset_does_not_rescan(corpus: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from dicomdecode.index import build_index

    scan_module = importlib.import_module("dicomdecode.scan")

    src = tmp_path / "fmri"
    shutil.copytree(corpus / PHILIPS_FMRI, src)
    index = tmp_path / "fmri.json"
    build_index(src, index)
    reference = SliceDataset(src)

    def no_scan(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("a dataset built from an index must not scan")

    monkeypatch.setattr(scan_module, "scan", no_scan)
    ds = SliceDataset(index)
    assert len(ds) == len(reference)
    for i in range(len(ds)):
        assert items_equal(ds[i], reference[i])
    sd = SeriesDataset(os.fspath(index))
    assert len(sd) == 1
