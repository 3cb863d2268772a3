"""``Volume.to_sitk()`` / ``Volume.to_vtk()`` against the toolkits' own DICOM readers.

SimpleITK: ``ImageSeriesReader`` with ``GetGDCMSeriesFileNames`` on the same files gives
the reference voxels (it applies Rescale Slope/Intercept, as ``rescale="auto"``) and the
geometry (LPS origin, spacing, direction), on uncompressed corpus series and on a corpus
series transcoded in the test to JPEG-LS and JPEG 2000 with real encoders.

VTK: ``vtkDICOMImageReader`` on an uncompressed corpus folder. Its conventions (see
README): the output image has origin (0, 0, 0) and no direction (the position and
orientation are only reported by ``GetImagePositionPatient`` /
``GetImageOrientationPatient``); rows are stored bottom-up (VTK's lower-left origin) and
the slices come in the reverse of our order along the normal; stored values (no rescale).
On JPEG-compressed files it returns zeros; ``to_vtk`` gives the decoded voxels.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pydicom
import pytest

import dicomdecode

from .test_compat import compressed

pytestmark = pytest.mark.corpus

CANON = "dcm_qa_canon_61/In/cl"
GE_CT = "dcm_qa_ct/In/GE"


def _files(corpus: Path, key: str) -> list[Path]:
    if key == "canon_mr":
        return sorted((corpus / CANON).glob("3000_*.dcm"))
    return sorted((corpus / GE_CT).glob("*.dcm"))[:14]  # the uniform 4.22 mm run


def _sitk_reference(folder: Path):
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    (uid,) = reader.GetGDCMSeriesIDs(str(folder))
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder), uid))
    return reader.Execute()


def _assert_same_image(mine, reference) -> None:
    import SimpleITK as sitk

    assert mine.GetSize() == reference.GetSize()
    np.testing.assert_allclose(mine.GetOrigin(), reference.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(mine.GetSpacing(), reference.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(mine.GetDirection(), reference.GetDirection(), atol=1e-4)
    a, b = sitk.GetArrayFromImage(mine), sitk.GetArrayFromImage(reference)
    np.testing.assert_array_equal(a.astype(np.float64), b.astype(np.float64))
    assert a.any()


def _copy_to(folder: Path, datasets: list[pydicom.Dataset]) -> None:
    folder.mkdir()
    for index, ds in enumerate(datasets):
        ds.save_as(folder / f"{index:03d}.dcm", enforce_file_format=True)


@pytest.mark.needs_library("SimpleITK")
def test_to_sitk_matches_image_series_reader(corpus: Path, tmp_path: Path) -> None:
    folder = tmp_path / "canon"
    _copy_to(folder, [pydicom.dcmread(f) for f in _files(corpus, "canon_mr")])
    (vol,) = dicomdecode.load(folder, workers=1)
    _assert_same_image(vol.to_sitk(), _sitk_reference(folder))


@pytest.mark.needs_library("SimpleITK")
def test_to_sitk_on_a_tilted_ct_keeps_the_true_slice_positions(corpus: Path,
                                                                tmp_path: Path) -> None:
    """GE CT with gantry tilt: SimpleITK's reader makes z the slice normal, so its slices
    sit off their recorded positions; ours keeps the sheared affine (positions exact).
    Voxels, origin, spacing in-plane and the x/y axes agree."""
    import SimpleITK as sitk

    folder = tmp_path / "ge"
    datasets = [pydicom.dcmread(f) for f in _files(corpus, "ge_ct")]
    _copy_to(folder, datasets)
    (vol,) = dicomdecode.load(folder, workers=1)
    mine, theirs = vol.to_sitk(), _sitk_reference(folder)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(mine),
                                  sitk.GetArrayFromImage(theirs).astype(np.float64))
    np.testing.assert_allclose(mine.GetOrigin(), theirs.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(mine.GetSpacing()[:2], theirs.GetSpacing()[:2], atol=1e-4)
    mine_d = np.array(mine.GetDirection()).reshape(3, 3)
    theirs_d = np.array(theirs.GetDirection()).reshape(3, 3)
    np.testing.assert_allclose(mine_d[:, :2], theirs_d[:, :2], atol=1e-4)
    last = [float(v) for v in sorted(datasets, key=lambda d: float(d.ImagePositionPatient[2]))
            [-1].ImagePositionPatient]
    np.testing.assert_allclose(mine.TransformIndexToPhysicalPoint((0, 0, len(datasets) - 1)),
                               last, atol=1e-3)
    assert not np.allclose(theirs.TransformIndexToPhysicalPoint((0, 0, len(datasets) - 1)),
                           last, atol=1)


@pytest.mark.needs_library("SimpleITK")
@pytest.mark.needs_handler("pylibjpeg", "charls")
@pytest.mark.parametrize("codec", ["jpegls", "j2k"])
def test_to_sitk_matches_image_series_reader_on_compressed(corpus: Path, codec: str,
                                                           tmp_path: Path) -> None:
    datasets = compressed([pydicom.dcmread(f) for f in _files(corpus, "canon_mr")], codec)
    folder = tmp_path / codec
    _copy_to(folder, datasets)
    (vol,) = dicomdecode.load(folder, workers=1)
    assert {s.transfer_syntax for s in vol.slices} == {str(datasets[0].file_meta.
                                                            TransferSyntaxUID)}
    _assert_same_image(vol.to_sitk(), _sitk_reference(folder))


@pytest.mark.needs_library("SimpleITK")
def test_to_sitk_oblique_and_colour() -> None:
    (vol,) = [v for v in dicomdecode.load("test_data/series", workers=1)
              if "oblique" in str(v.meta.get("SeriesDescription", "")).lower()][:1]
    image = vol.to_sitk()
    direction = np.array(image.GetDirection()).reshape(3, 3)
    np.testing.assert_allclose(direction, vol.direction[:, ::-1], atol=1e-12)
    np.testing.assert_allclose(image.TransformIndexToPhysicalPoint((3, 2, 1)),
                               (vol.affine @ [1, 2, 3, 1])[:3], atol=1e-6)
    (rgb,) = dicomdecode.load("test_data/rgb8__explicit_le.dcm", workers=1)
    colour = rgb.to_sitk()
    assert colour.GetNumberOfComponentsPerPixel() == 3
    import SimpleITK as sitk

    np.testing.assert_array_equal(sitk.GetArrayFromImage(colour), rgb.array)


def _vtk_array(image) -> np.ndarray:
    from vtkmodules.util import numpy_support

    scalars = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars())
    x, y, z = image.GetDimensions()
    components = image.GetPointData().GetScalars().GetNumberOfComponents()
    return scalars.reshape((z, y, x, components) if components > 1 else (z, y, x))


@pytest.mark.needs_library("vtk")
def test_to_vtk_matches_vtk_dicom_image_reader(corpus: Path, tmp_path: Path) -> None:
    from vtkmodules.vtkIOImage import vtkDICOMImageReader

    folder = tmp_path / "canon"
    _copy_to(folder, [pydicom.dcmread(f) for f in _files(corpus, "canon_mr")])
    (vol,) = dicomdecode.load(folder, rescale=False, workers=1)
    image = vol.to_vtk()
    reader = vtkDICOMImageReader()
    reader.SetDirectoryName(str(folder))
    reader.Update()
    theirs = reader.GetOutput()
    assert image.GetDimensions() == theirs.GetDimensions()
    np.testing.assert_allclose(image.GetSpacing(), theirs.GetSpacing(), atol=1e-4)
    # their conventions: rows bottom-up, slices reversed, geometry only as reported values
    np.testing.assert_array_equal(_vtk_array(image), _vtk_array(theirs)[::-1, ::-1])
    last = vol.affine @ [len(vol.slices) - 1, 0, 0, 1]  # their first slice is our last
    assert np.allclose(reader.GetImagePositionPatient(), vol.origin, atol=1e-4) or \
        np.allclose(reader.GetImagePositionPatient(), last[:3], atol=1e-4)
    orientation = np.array(reader.GetImageOrientationPatient())
    np.testing.assert_allclose(orientation[:3], vol.direction[:, 2], atol=1e-4)
    np.testing.assert_allclose(orientation[3:], vol.direction[:, 1], atol=1e-4)
    # ours carries the geometry in the image itself
    matrix = image.GetDirectionMatrix()
    direction = np.array([[matrix.GetElement(r, c) for c in range(3)] for r in range(3)])
    np.testing.assert_allclose(direction, vol.direction[:, ::-1], atol=1e-12)
    np.testing.assert_allclose(image.GetOrigin(), vol.origin)
    point = [0.0, 0.0, 0.0]
    image.TransformIndexToPhysicalPoint(3, 2, 1, point)
    np.testing.assert_allclose(point, (vol.affine @ [1, 2, 3, 1])[:3], atol=1e-6)


@pytest.mark.needs_library("vtk")
def test_to_vtk_shares_the_volume_memory() -> None:
    (vol,) = dicomdecode.load("test_data/s16_bs16_ct__explicit_le.dcm", workers=1)
    image = vol.to_vtk()
    scalars = _vtk_array(image)
    assert np.shares_memory(scalars, vol.array)
    np.testing.assert_array_equal(scalars, vol.array)
    expected = vol.array.copy()
    del vol, scalars  # the VTK array keeps the memory alive
    import gc

    gc.collect()
    overwrite = [np.full(expected.shape, 7, expected.dtype) for _ in range(20)]
    np.testing.assert_array_equal(_vtk_array(image), expected)
    assert overwrite


@pytest.mark.needs_library("vtk")
@pytest.mark.needs_handler("pylibjpeg")
def test_to_vtk_has_the_voxels_where_vtk_reader_returns_zeros(corpus: Path,
                                                              tmp_path: Path) -> None:
    from vtkmodules.vtkIOImage import vtkDICOMImageReader

    source = corpus / "pylibjpeg-data/ljdata/ds/JPEGBaseline/JPEGBaseline_1s_1f_u_08_08.dcm"
    reader = vtkDICOMImageReader()
    reader.SetFileName(str(source))
    reader.Update()
    assert not _vtk_array(reader.GetOutput()).any()  # JPEG baseline: all zeros
    (vol,) = dicomdecode.load(source, workers=1)
    reference = pydicom.dcmread(source).pixel_array  # pydicom + its JPEG plugin
    mine = _vtk_array(vol.to_vtk())[0]
    assert mine.any()
    np.testing.assert_allclose(mine.astype(int), reference.astype(int), atol=1, rtol=0)


def test_to_sitk_and_to_vtk_refuse_4d() -> None:
    """Checked before the library is imported: no SimpleITK/VTK needed to see it."""
    vol = dicomdecode.load("test_data/s16_bs16_ct__explicit_le.dcm", workers=1)[0]
    four = copy.copy(vol)
    four.array = np.stack([vol.array, vol.array])
    with pytest.raises(ValueError, match="one time point"):
        four.to_sitk()
    with pytest.raises(ValueError, match="one time point"):
        four.to_vtk()
