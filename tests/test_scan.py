"""Series discovery: what is skipped and why, grouping/splitting, order, serialisation.

References are pydicom's own reading of the same files, and synthetic datasets whose
geometry the test decides.
"""

from __future__ import annotations

import json
import pickle
import shutil
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from dicomdecode import load
from dicomdecode.scan import ScanResult, scan


def _testfile(name: str) -> Path:
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name)
    if path is None:
        pytest.skip(f"pydicom test file {name} not available")
    return Path(path)


def make_slice(path: Path, *, series: str, study: str = "1.2.3", ipp=(0.0, 0.0, 0.0),
               iop=(1, 0, 0, 0, 1, 0), rows: int = 4, cols: int = 4, value: int = 1,
               instance: int = 1, image_type=("ORIGINAL", "PRIMARY", "M"),
               echo: int | None = None, acq_time: str | None = None) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "MR", 3, instance
    ds.ImageType = list(image_type)
    ds.ImagePositionPatient = list(ipp)
    ds.ImageOrientationPatient = list(iop)
    ds.PixelSpacing = [1, 1]
    if echo is not None:
        ds.EchoNumbers = echo
    if acq_time is not None:
        ds.AcquisitionTime = acq_time
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = np.full((rows, cols), value, dtype="<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_non_images_are_skipped_with_reasons(tmp_path: Path) -> None:
    for name in ("test-SR.dcm", "rtstruct.dcm", "rtplan.dcm", "CT_small.dcm"):
        shutil.copy(_testfile(name), tmp_path / name)
    shutil.copy(_testfile("DICOMDIR"), tmp_path / "DICOMDIR")
    (tmp_path / "readme.txt").write_text("hello")
    (tmp_path / "empty.dcm").write_bytes(b"")
    result = scan(tmp_path)
    reasons = {Path(s.path).name: s.reason for s in result.skipped}
    assert set(reasons) == {"test-SR.dcm", "rtstruct.dcm", "rtplan.dcm", "DICOMDIR",
                            "readme.txt", "empty.dcm"}
    assert "DICOMDIR" in reasons["DICOMDIR"]
    for name in ("test-SR.dcm", "rtstruct.dcm", "rtplan.dcm"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert "PixelData" not in pydicom.dcmread(tmp_path / name, force=True)
        assert "no pixel data" in reasons[name]
    assert "not DICOM" in reasons["readme.txt"]
    assert [s.files for s in result.series] == [[str(tmp_path / "CT_small.dcm")]]


def test_header_only_and_recursive_without_suffix(tmp_path: Path, monkeypatch) -> None:
    src = _testfile("CT_small.dcm")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    shutil.copy(src, nested / "IM0001")

    def boom(*_a, **_k):
        raise AssertionError("scan decoded pixels")

    import importlib

    # the package exposes a function called `decode`, so fetch the module explicitly
    monkeypatch.setattr(importlib.import_module("dicomdecode.decode"), "decode", boom)
    monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array", property(boom))
    result = scan(tmp_path)
    (series,) = result.series
    ds = pydicom.dcmread(src, stop_before_pixels=True)
    im = series.images[0]
    assert series.series_uid == ds.SeriesInstanceUID and series.study_uid == ds.StudyInstanceUID
    assert (im.rows, im.columns) == (ds.Rows, ds.Columns)
    assert im.transfer_syntax == ds.file_meta.TransferSyntaxUID
    assert im.position == tuple(float(v) for v in ds.ImagePositionPatient)
    assert (im.slope, im.intercept) == (float(ds.RescaleSlope), float(ds.RescaleIntercept))


def test_scan_result_round_trips_through_json_and_pickle(tmp_path: Path) -> None:
    for k in range(3):
        make_slice(tmp_path / f"s{k}", series="1.2.3.4", ipp=(0, 0, 2.0 * k), instance=k + 1)
    (tmp_path / "junk").write_text("x")
    result = scan(tmp_path)
    again = ScanResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again == result
    assert pickle.loads(pickle.dumps(result)) == result


def test_split_on_localizer_orientation_size_and_echo(tmp_path: Path) -> None:
    uid = "1.2.3.5"
    for k in range(3):  # the main stack, two echoes at every position
        for echo in (1, 2):
            make_slice(tmp_path / f"e{echo}_{k}", series=uid, ipp=(0, 0, 3.0 * k), echo=echo,
                       instance=10 * echo + k)
    make_slice(tmp_path / "loc", series=uid, iop=(0, 1, 0, 0, 0, -1),
               image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"))
    make_slice(tmp_path / "big", series=uid, rows=8, cols=8, ipp=(0, 0, 1.5))
    result = scan(tmp_path)
    sizes = sorted(len(s.images) for s in result.series)
    assert sizes == [1, 1, 3, 3]
    assert len({s.uid for s in result.series}) == 4
    assert all(s.series_uid == uid for s in result.series)
    files = [f for s in result.series for f in s.files]
    assert sorted(files) == sorted(str(p) for p in tmp_path.iterdir())  # none lost


def test_repeated_positions_become_volumes_in_time_order(tmp_path: Path) -> None:
    uid = "1.2.3.6"
    times = {0: "100000", 1: "100010", 2: "100005"}  # acquisition order: 0, 2, 1
    for t, tm in times.items():
        for k in range(4):
            # instance numbers deliberately disagree with acquisition time
            make_slice(tmp_path / f"t{t}_z{k}", series=uid, ipp=(0, 0, -2.0 * k), value=t,
                       instance=100 - (4 * t + k), acq_time=tm)
    (series,) = scan(tmp_path).series
    assert (series.n_volumes, series.n_slices) == (3, 4)
    (vol,) = load(tmp_path)
    assert vol.array.shape == (3, 4, 4, 4)
    assert [int(vol.array[v, 0, 0, 0]) for v in range(3)] == [0, 2, 1]
    z = [s.position[2] for s in vol.slices[:4]]
    assert z == sorted(z)  # slices ascend along the normal (+z here)


@pytest.mark.corpus
def test_ge_fmri_is_one_4d_series_in_geometric_order(corpus: Path) -> None:
    folder = corpus / "dcm_qa_nih/In/20180918GE/mr_0004"
    result = scan(folder)
    (series,) = result.series
    assert [Path(s.path).name for s in result.skipped] == ["README-Series.txt"]
    assert (series.n_volumes, series.n_slices) == (10, 15)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z = [float(pydicom.dcmread(im.path, stop_before_pixels=True).ImagePositionPatient[2])
             for im in series.images[:15]]
    assert z == sorted(z)


def test_values_kept_per_series_still_follow_each_file(tmp_path: Path) -> None:
    """The scan works out series-level values once per series (the same element bytes):
    a file whose bytes differ (slope, spacing, series description, bits stored) still gets
    its own values, as pydicom reads them, in whatever order the files come."""
    from dicomdecode.scan.walk import scan_one

    changes = [{}, {"RescaleSlope": "2.5", "SeriesDescription": "other", "BitsStored": 12},
               {"PixelSpacing": [0.5, 0.75], "SliceThickness": "3"}, {}]
    for i, change in enumerate(changes):
        path = tmp_path / f"{i}.dcm"
        make_slice(path, series="1.2.3.4", ipp=(0.0, 0.0, float(i)), instance=i + 1)
        ds = pydicom.dcmread(path)
        for keyword, value in change.items():
            setattr(ds, keyword, value)
        ds.save_as(path)
    for order in (range(4), reversed(range(4))):
        for i in order:
            path = tmp_path / f"{i}.dcm"
            ((image, _study, _series, meta),), skip = scan_one(str(path))
            ds = pydicom.dcmread(path)
            assert skip is None
            assert image.slope == float(ds.get("RescaleSlope", 1) or 1)
            assert image.pixel_spacing == tuple(float(v) for v in ds.PixelSpacing)
            assert image.slice_thickness == (float(ds.SliceThickness)
                                             if "SliceThickness" in ds else None)
            assert image.bits_stored == ds.BitsStored
            assert meta.get("SeriesDescription") == ds.get("SeriesDescription")
            assert meta.get("BitsStored") == ds.BitsStored
