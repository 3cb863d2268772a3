"""Geometry and rescale values that are not usable numbers are absent values.

"nan" and "inf" are not decimal strings (PS3.5 6.2), yet Python and pydicom parse them,
and two direction cosines of zero length, or parallel, span no image plane. Before they
were treated as values: a NaN position or spacing reached the affine, a NaN slope made
every voxel NaN, NaN (never equal to itself) split a series into one volume per file, and
a zero orientation projected every slice to one position, so five slices became a 4D
array of five one-slice volumes. Now each is treated like a missing value, with the rule
the assembler already has for that (dcm2niix's guesses, and a warning for geometry).

Each case writes a five-slice CT with pydicom, spoils one value in one or every file, and
checks ``load``, ``SliceDataset`` and ``convert --format npy`` against pydicom's own
stored values of the same files (the independent reference).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement

import dicomdecode
from dicomdecode.apps.convert import convert
from dicomdecode.apps.ml import SliceDataset
from dicomdecode.geometry import usable_orientation
from dicomdecode.scan.values import floats, opt_float

from .test_ml import write_series

N, ROWS, COLS = 5, 8, 6
INTERCEPT = -1024.0

# case: (keyword, raw DS text, every file or only the third, what the rescale becomes,
#        whether a geometry warning is expected)
CASES = {
    "position nan, every file": ("ImagePositionPatient", "nan\\0\\4", "all", "hu", True),
    "position inf, one file": ("ImagePositionPatient", "0\\inf\\4", "one", "hu", True),
    "orientation nan": ("ImageOrientationPatient", "nan\\0\\0\\0\\1\\0", "all", "hu", True),
    "orientation zero": ("ImageOrientationPatient", "0\\0\\0\\0\\0\\0", "all", "hu", True),
    "orientation parallel": ("ImageOrientationPatient", "1\\0\\0\\1\\0\\0", "all", "hu", True),
    "pixel spacing nan": ("PixelSpacing", "nan\\nan", "all", "hu", False),
    "pixel spacing inf": ("PixelSpacing", "inf\\0.5", "all", "hu", False),
    "slice thickness nan": ("SliceThickness", "nan", "all", "hu", False),
    "echo time nan": ("EchoTime", "nan", "all", "hu", False),
    "slope nan": ("RescaleSlope", "nan", "all", "hu", False),
    "slope inf": ("RescaleSlope", "-inf", "all", "hu", False),
    "intercept nan": ("RescaleIntercept", "nan", "all", "stored", False),
}


def _spoil(folder: Path, keyword: str, text: str, which: str) -> None:
    paths = sorted(folder.glob("*.dcm"),
                   key=lambda p: int(pydicom.dcmread(p, stop_before_pixels=True).InstanceNumber))
    for path in paths if which == "all" else paths[2:3]:
        ds = pydicom.dcmread(path)
        tag = tag_for_keyword(keyword)
        ds[tag] = DataElement(tag, "DS", text.encode("ascii"))  # raw: pydicom keeps it as is
        ds.save_as(path)


def _reference(folder: Path, rescale: str) -> np.ndarray:
    """pydicom's stored values in Instance Number order (also the geometric order of
    write_series), with the rescale that stays usable."""
    datasets = sorted((pydicom.dcmread(p) for p in folder.glob("*.dcm")),
                      key=lambda ds: int(ds.InstanceNumber))
    stored = np.stack([ds.pixel_array for ds in datasets]).astype(np.int64)
    return stored + int(INTERCEPT) if rescale == "hu" else stored


@pytest.mark.parametrize("case", list(CASES))
def test_unusable_value_loads_one_volume_on_every_entry_point(case: str, tmp_path: Path) -> None:
    keyword, text, which, rescale, warns = CASES[case]
    folder = tmp_path / "ct"
    write_series(folder, n=N, rows=ROWS, cols=COLS, intercept=INTERCEPT)
    _spoil(folder, keyword, text, which)
    expected = _reference(folder, rescale)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        volumes = dicomdecode.load(folder)
    assert len(volumes) == 1, [v.array.shape for v in volumes]
    volume = volumes[0]
    assert volume.array.shape == (N, ROWS, COLS)
    assert volume.array.dtype.kind in "iu", volume.array.dtype  # no float NaN/inf output
    np.testing.assert_array_equal(volume.array.astype(np.int64), expected)
    assert np.all(np.isfinite(volume.affine))
    assert abs(np.linalg.det(volume.affine[:3, :3])) > 0
    geometry_warned = any("no Image Position/Orientation" in w for w in volume.warnings)
    assert geometry_warned == warns, volume.warnings

    items = list(SliceDataset(folder))
    assert len(items) == N
    np.testing.assert_array_equal(np.stack([item["image"] for item in items]), volume.array)

    convert(folder, tmp_path / "out", fmt="npy", workers=1)
    (written,) = sorted((tmp_path / "out").glob("*.npy"))
    np.testing.assert_array_equal(np.load(written), volume.array)


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e999"])
def test_values_that_are_not_finite_numbers_are_absent(text: str) -> None:
    assert opt_float(text) is None
    assert opt_float(float(text)) is None
    assert floats(["0", text, "1"], 3) is None
    assert floats(["0", "2.5", "1"], 3) == (0.0, 2.5, 1.0)
    assert opt_float("-2.5") == -2.5


@pytest.mark.parametrize(("orientation", "usable"), [
    ((1, 0, 0, 0, 1, 0), True),
    ((0, 1, 0, 0, 0, -1), True),
    ((2, 0, 0, 0, 3, 0), True),        # not unit: still a plane (warned about elsewhere)
    ((1, 0, 0, 0.1, 1, 0), True),      # not orthogonal: still a plane
    ((0, 0, 0, 0, 1, 0), False),       # a zero-length cosine
    ((1, 0, 0, 1, 0, 0), False),       # parallel
    ((1, 0, 0, -1, 0.001, 0), False),  # nearly antiparallel (0.06 degrees)
    ((1, 0, 0, 0, 1), False),          # five values
    (None, False),
])
def test_usable_orientation(orientation: tuple[float, ...] | None, usable: bool) -> None:
    result = usable_orientation(None if orientation is None
                                else tuple(float(v) for v in orientation))
    assert (result is not None) == usable


def test_one_file_with_a_zero_orientation_is_one_without_orientation(tmp_path: Path) -> None:
    """The file is set apart as a file without the element is (split by orientation)."""
    spoiled, deleted = tmp_path / "zero", tmp_path / "deleted"
    for folder in (spoiled, deleted):
        write_series(folder, n=N, rows=ROWS, cols=COLS, intercept=INTERCEPT, seed=3)
    _spoil(spoiled, "ImageOrientationPatient", "0\\0\\0\\0\\0\\0", "one")
    third = sorted(deleted.glob("*.dcm"), key=lambda p: int(
        pydicom.dcmread(p, stop_before_pixels=True).InstanceNumber))[2]
    ds = pydicom.dcmread(third)
    del ds.ImageOrientationPatient
    ds.save_as(third)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got, want = dicomdecode.load(spoiled), dicomdecode.load(deleted)
    assert [v.array.shape for v in got] == [v.array.shape for v in want] == [
        (N - 1, ROWS, COLS), (1, ROWS, COLS)]
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a.array, b.array)
        np.testing.assert_array_equal(a.affine, b.affine)


@pytest.mark.parametrize("text", ["0\\0\\0\\0\\0\\0", "2\\0\\0\\0\\1\\0"])
def test_combine_slices_refuses_such_an_orientation_as_dicom_numpy_does(
        text: str, tmp_path: Path) -> None:
    """The drop-in keeps dicom-numpy's rule (orthogonal unit cosines, else its
    DicomImportException), and says so beforehand (`orientation_refusal`, which the fuzz
    harness uses to tell this rule from a disagreement about pixels)."""
    from dicomdecode.apps.compat import (
        DicomImportException,
        combine_slices,
        orientation_refusal,
    )

    folder = tmp_path / "ct"
    write_series(folder, n=N, rows=ROWS, cols=COLS, intercept=INTERCEPT)
    datasets = [pydicom.dcmread(p) for p in folder.glob("*.dcm")]
    assert orientation_refusal(datasets[0]) is None
    _spoil(folder, "ImageOrientationPatient", text, "all")
    datasets = [pydicom.dcmread(p) for p in folder.glob("*.dcm")]
    with pytest.raises(DicomImportException) as caught:
        combine_slices(datasets)
    assert type(caught.value) is DicomImportException  # dicom-numpy's name, not a subclass
    assert "direction cosine" in str(caught.value)
    refusal = orientation_refusal(datasets[0])
    assert refusal is not None and "direction cosine" in refusal


def test_metadata_holds_no_number_that_is_not_finite(tmp_path: Path) -> None:
    """Volume.meta is JSON-safe: a NaN or infinite DS is None there, and every JSON the
    writers make parses without NaN/Infinity (which JSON does not have)."""
    import json
    import math

    folder = tmp_path / "mr"
    write_series(folder, n=N, rows=ROWS, cols=COLS, intercept=INTERCEPT)
    spoiled = {"RepetitionTime": "nan", "FlipAngle": "inf", "MagneticFieldStrength": "-inf",
               "KVP": "nan", "SpacingBetweenSlices": "nan"}
    for keyword, text in spoiled.items():
        _spoil(folder, keyword, text, "all")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (volume,) = dicomdecode.load(folder)

    def numbers(value: object) -> list[float]:
        if isinstance(value, float):
            return [value]
        if isinstance(value, dict):
            return [n for v in value.values() for n in numbers(v)]
        if isinstance(value, list | tuple):
            return [n for v in value for n in numbers(v)]
        return []

    assert all(math.isfinite(n) for n in numbers(volume.meta))
    assert volume.meta.get("FlipAngle") is None and volume.meta.get("KVP") is None

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} in JSON")

    convert(folder, tmp_path / "out", workers=1)
    sidecars = list((tmp_path / "out").rglob("*.json"))
    assert sidecars
    for sidecar in sidecars:
        json.loads(sidecar.read_text(), parse_constant=refuse)


def test_files_without_series_uid_group_by_series_number_as_dcm2niix(tmp_path: Path) -> None:
    """Series Instance UID is Type 1, yet some anonymisers drop it: files without it
    form one series per Series Number, as dcm2niix groups them (checked live), not one
    series per file."""
    import subprocess

    from .test_dcm2niix_oracle import dcm2niix_exe

    folder = tmp_path / "anonymised"
    write_series(folder / "a", n=N, rows=ROWS, cols=COLS, intercept=INTERCEPT, seed=1)
    write_series(folder / "b", n=N, rows=ROWS, cols=COLS, intercept=INTERCEPT, seed=2)
    for number, sub in ((1, "a"), (2, "b")):
        for path in (folder / sub).glob("*.dcm"):
            ds = pydicom.dcmread(path)
            del ds.SeriesInstanceUID
            ds.SeriesNumber = number
            ds.save_as(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        volumes = dicomdecode.load(folder)
    assert sorted(v.array.shape for v in volumes) == [(N, ROWS, COLS)] * 2
    for volume in volumes:
        number = volume.meta["SeriesNumber"]
        sub = {1: "a", 2: "b"}[number]
        np.testing.assert_array_equal(volume.array.astype(np.int64),
                                      _reference(folder / sub, "hu"))

    out = tmp_path / "dcm2niix"
    out.mkdir()
    subprocess.run([dcm2niix_exe(), "-z", "n", "-b", "n", "-f", "%s", "-o", str(out),
                    str(folder)], check=True, capture_output=True, timeout=120)
    theirs = sorted(p.name for p in out.glob("*.nii"))
    assert theirs == ["1.nii", "2.nii"], theirs
    import nibabel

    assert [nibabel.load(out / name).shape for name in theirs] == [(COLS, ROWS, N)] * 2


@pytest.mark.parametrize(("keyword", "text", "drop_position"), [
    ("PixelSpacing", "1e308\\1e308", False),    # det overflows
    ("PixelSpacing", "1e308\\1e308", True),     # the centred guess overflows
    ("SliceThickness", "1e308", True),
    ("PixelSpacing", "1e-300\\1e-300", False),  # det underflows to 0
])
def test_geometry_out_of_float_range_gives_the_whole_guess(
        keyword: str, text: str, drop_position: bool, tmp_path: Path) -> None:
    """Finite values can still make an affine that is not finite or not invertible: then
    no geometry value is trusted (axial, 1 mm, centred), with a warning."""
    folder = tmp_path / "ct"
    write_series(folder, n=N, rows=ROWS, cols=COLS, intercept=INTERCEPT)
    _spoil(folder, keyword, text, "all")
    if drop_position:
        for path in folder.glob("*.dcm"):
            ds = pydicom.dcmread(path)
            del ds.ImagePositionPatient
            ds.save_as(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (volume,) = dicomdecode.load(folder)
    np.testing.assert_array_equal(volume.array.astype(np.int64), _reference(folder, "hu"))
    assert np.isfinite(volume.affine).all()
    np.testing.assert_allclose(np.abs(np.linalg.det(volume.affine[:3, :3])), 1.0)
    assert any("no finite, invertible affine" in w for w in volume.warnings), volume.warnings
