"""In-memory input: bytes, binary file objects and pydicom Datasets through the same API.

The items are members of a zip archive built in the test from test_data files (and a
corpus series); results are compared to the path-based call on the original files and
to pydicom's own decode of the same bytes.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest

import dicomdecode

from .conftest import TEST_DATA

SERIES = TEST_DATA / "series"
SINGLE = ["s16_bs12_ct__jpegls_lossless.dcm", "rgb8__jpeg_baseline.dcm", "s16_bs16_ct__rle.dcm",
          "s16_bs12_ct__explicit_be.dcm", "s16_bs12_ct__deflated_le.dcm",
          "rgb8_mf2__j2k_lossless.dcm"]


def _zip(files: list[Path], root: Path) -> zipfile.ZipFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(root).as_posix())
    return zipfile.ZipFile(io.BytesIO(buffer.getvalue()))


def _series_files() -> list[Path]:
    return sorted(p for p in SERIES.rglob("*") if p.is_file())


@pytest.mark.needs_handler("pylibjpeg", "charls")
@pytest.mark.parametrize("name", SINGLE)
def test_decode_bytes_file_object_and_dataset(name: str) -> None:
    path = TEST_DATA / name
    archive = _zip([path], TEST_DATA)
    expected = dicomdecode.decode(path)
    data = archive.read(name)
    with archive.open(name) as member:
        from_file = dicomdecode.decode(member)
    results = {
        "bytes": dicomdecode.decode(data),
        "bytearray": dicomdecode.decode(bytearray(data)),
        "file object": from_file,
        "dataset": dicomdecode.decode(pydicom.dcmread(io.BytesIO(data))),
    }
    reference = pydicom.dcmread(io.BytesIO(data)).pixel_array  # pydicom, independently
    for how, result in results.items():
        assert result.array.dtype == expected.array.dtype, how
        np.testing.assert_array_equal(result.array, expected.array, err_msg=how)
        assert result.handler == expected.handler, how
        # lossy YCbCr JPEG: pydicom converts colour with its own rounding (ours, libjpeg's)
        atol = 8 if "jpeg_baseline" in name else 0
        np.testing.assert_allclose(result.array.reshape(reference.shape).astype(int),
                                   reference.astype(int), atol=atol, rtol=0, err_msg=how)
    assert from_file.path == name  # a zip member is named by its .name
    assert results["bytes"].path == "<memory>"
    np.testing.assert_array_equal(dicomdecode.decode_file(data), expected.array)


def test_in_memory_errors_are_typed_and_named() -> None:
    with pytest.raises(dicomdecode.NotDicomError, match="<memory>"):
        dicomdecode.decode(b"this is not DICOM at all")
    data = (TEST_DATA / "s16_bs16_ct__explicit_le.dcm").read_bytes()
    truncated = io.BytesIO(data[: len(data) - 300])
    truncated.name = "cut.dcm"
    with pytest.raises(dicomdecode.DecodeError, match="cut.dcm"):
        dicomdecode.decode(truncated)
    with pytest.raises(TypeError, match="binary mode"):
        dicomdecode.decode(io.StringIO("text"))
    with pytest.raises(TypeError, match="item #1"):
        dicomdecode.load([SERIES, 42])


@pytest.mark.needs_handler("pylibjpeg", "gdcm", "charls")
@pytest.mark.parametrize("workers", [1, 2])
def test_load_mixed_zip_members_equals_load_of_the_folder(workers: int) -> None:
    files = _series_files()
    archive = _zip(files, SERIES)
    items: list = []
    for index, member in enumerate(archive.namelist()):
        kind = index % 4
        if kind == 0:
            items.append(archive.open(member))       # file object, named by the member
        elif kind == 1:
            items.append(archive.read(member))       # bytes: "<memory #N>"
        elif kind == 2 and not member.endswith(".txt"):
            items.append(pydicom.dcmread(io.BytesIO(archive.read(member))))
        else:
            items.append(str(SERIES / member))       # a plain path in the same list
    expected = dicomdecode.load(SERIES, workers=1)
    with pytest.warns(UserWarning, match="no image loaded"):
        got = dicomdecode.load(items, workers=workers)
    assert len(got) == len(expected) == 3
    for mine, theirs in zip(got, expected, strict=True):
        assert mine.array.dtype == theirs.array.dtype
        np.testing.assert_array_equal(mine.array, theirs.array)
        np.testing.assert_allclose(mine.affine, theirs.affine)
        for s in mine.slices:  # named as the user named them, never the staged copy
            assert "dicomdecode-memory-" not in s.path, s.path
    readme = archive.namelist().index("README.txt")
    expected_name = {0: "README.txt", 1: f"<memory #{readme}>"}.get(
        readme % 4, str(SERIES / "README.txt"))
    assert [p for p, _ in got[0].meta["SkippedFiles"]] == [expected_name]


@pytest.mark.needs_handler("pylibjpeg", "gdcm", "charls")
def test_scan_of_bytes_keeps_the_staged_copies_for_load_series() -> None:
    files = _series_files()
    items = [p.read_bytes() for p in files]
    result = dicomdecode.scan(items)
    readme = files.index(SERIES / "README.txt")
    assert [s.path for s in result.skipped] == [f"<memory #{readme}>"]
    expected = dicomdecode.load(SERIES, workers=1)
    volumes = [dicomdecode.load_series(s) for s in result.series]
    for mine, theirs in zip(volumes, expected, strict=True):
        np.testing.assert_array_equal(mine.array, theirs.array)
    folder = result.staging.folder
    assert Path(folder).is_dir()
    del result, volumes
    import gc

    gc.collect()
    assert not Path(folder).exists()  # the copies go with the result


@pytest.mark.corpus
def test_load_corpus_series_from_zip_equals_pydicom(corpus: Path) -> None:
    folder = corpus / "dcm_qa_canon_61" / "In" / "cl"
    files = sorted(folder.glob("3000_*.dcm"))
    archive = _zip(files, folder)
    members = [archive.open(name) for name in archive.namelist()]
    (vol,) = dicomdecode.load(members, rescale=False, workers=2)
    (by_path,) = dicomdecode.load(files, rescale=False, workers=1)
    np.testing.assert_array_equal(vol.array, by_path.array)
    np.testing.assert_allclose(vol.affine, by_path.affine)
    by_name = {s.path: i for i, s in enumerate(vol.slices)}
    assert sorted(by_name) == sorted(archive.namelist())
    for name, index in by_name.items():
        reference = pydicom.dcmread(io.BytesIO(archive.read(name))).pixel_array
        np.testing.assert_array_equal(vol.array[index], reference)


def test_strict_errors_name_the_items_not_their_staged_copies() -> None:
    """A series with a gap, given as bytes: the strict error names "<memory #N>"."""
    files = sorted(SERIES.glob("B_*.dcm"))
    items = [p.read_bytes() for i, p in enumerate(files) if i != 5]  # z = 32 mm, inside
    with pytest.raises(dicomdecode.InconsistentSeriesError) as caught:
        dicomdecode.load(items, strict=True, workers=1)
    assert "dicomdecode-memory-" not in str(caught.value)
    assert all(p.startswith("<memory #") for p in caught.value.paths), caught.value.paths
    (lenient,) = dicomdecode.load(items, workers=1)
    assert lenient.warnings and not any("dicomdecode-memory-" in w for w in lenient.warnings)
