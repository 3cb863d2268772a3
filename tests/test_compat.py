"""``dicomdecode.compat.combine_slices`` against dicom-numpy's own, run live.

The same Datasets go to both: the arrays (values, dtype, shape, memory order) and the
affines must be identical, and where dicom-numpy rejects an input ours must raise the
exception of the same name. Compressed series are made in the test from an uncompressed
corpus series with real encoders (pydicom's RLE, CharLS through pyjpegls, OpenJPEG);
dicom-numpy then decodes them through pydicom's plugins, ours through dicomdecode.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np
import pydicom
import pytest

import dicomdecode
from dicomdecode.compat import DicomImportException, MissingInstanceNumberException
from dicomdecode.compat import combine_slices as ours

pytestmark = [pytest.mark.corpus, pytest.mark.needs_library("dicom_numpy")]

#: uncompressed corpus series dicom-numpy accepts (GE CT in its two uniform runs)
SERIES = {
    "canon_mr_40": ("dcm_qa_canon_61/In/cl", "3000_*.dcm", None),
    "ge_ct_01_14": ("dcm_qa_ct/In/GE", "*.dcm", slice(0, 14)),
    "ge_ct_16_28": ("dcm_qa_ct/In/GE", "*.dcm", slice(15, 28)),
}
KEYWORDS = [
    {},
    {"rescale": False},
    {"rescale": True},
    {"c_order_axes": True},
    {"rescale": True, "c_order_axes": True},
    {"sort_by_instance": True},
    {"skip_sorting": True},
]


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)  # both libraries log non-uniform spacing as warnings


def _datasets(corpus: Path, key: str) -> list[pydicom.Dataset]:
    folder, pattern, part = SERIES[key]
    files = sorted((corpus / folder).glob(pattern))[part or slice(None)]
    assert files, f"no files for {key}"
    return [pydicom.dcmread(f) for f in files]


def _outcome(function, datasets, **kwargs):
    try:
        return function(datasets, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the exception IS the outcome compared
        return exc


def _assert_same(datasets: list[pydicom.Dataset], **kwargs) -> tuple[np.ndarray, np.ndarray]:
    import dicom_numpy

    theirs = _outcome(dicom_numpy.combine_slices, datasets, **kwargs)
    mine = _outcome(ours, datasets, **kwargs)
    if isinstance(theirs, Exception):
        assert isinstance(mine, Exception), f"dicom-numpy raised {theirs!r}, we returned"
        if type(theirs).__module__.startswith("dicom_numpy"):  # its own exceptions: same name
            assert type(mine).__name__ == type(theirs).__name__, (mine, theirs)
        else:  # a bare AttributeError/TypeError there: ours is one too (and names the file)
            assert isinstance(mine, type(theirs)), (mine, theirs)
        assert isinstance(mine, dicomdecode.DicomDecodeError), mine
        return None, None  # type: ignore[return-value]
    assert not isinstance(mine, Exception), f"we raised {mine!r}, dicom-numpy did not"
    (a, affine_a), (b, affine_b) = theirs, mine
    assert b.dtype == a.dtype and b.shape == a.shape
    assert b.flags.f_contiguous == a.flags.f_contiguous
    assert b.flags.c_contiguous == a.flags.c_contiguous
    np.testing.assert_array_equal(b, a)
    assert affine_b.dtype == affine_a.dtype
    np.testing.assert_array_equal(affine_b, affine_a)
    return b, affine_b


@pytest.mark.parametrize("kwargs", KEYWORDS, ids=lambda k: ",".join(f"{a}={v}" for a, v in
                                                                    k.items()) or "defaults")
@pytest.mark.parametrize("key", sorted(SERIES))
def test_same_arrays_and_affines_as_dicom_numpy(corpus: Path, key: str, kwargs: dict) -> None:
    voxels, affine = _assert_same(_datasets(corpus, key), **kwargs)
    assert voxels is not None and voxels.any()
    assert affine[3, 3] == 1


def _without(datasets, keyword):
    out = [copy.deepcopy(ds) for ds in datasets]
    delattr(out[len(out) // 2], keyword)
    return out


def _changed(datasets, keyword, value, index=1):
    out = [copy.deepcopy(ds) for ds in datasets]
    setattr(out[index], keyword, value)
    return out


REJECTED = {
    "empty": lambda ds: [],
    "missing_slice": lambda ds: ds[:5] + ds[6:],
    "two_series": lambda ds: ds[:3] + [copy.deepcopy(d) for d in ds[3:6]
                                       if not setattr(d, "SeriesInstanceUID", "1.2.3")],
    "other_rows": lambda ds: _changed(ds, "Rows", 64),
    "other_spacing": lambda ds: _changed(ds, "PixelSpacing", [1.5, 1.5]),
    "other_orientation": lambda ds: _changed(ds, "ImageOrientationPatient",
                                             [1, 0, 0, 0, 0.99, 0.141]),
    "non_orthogonal": lambda ds: [d for d in (copy.deepcopy(x) for x in ds)
                                  if not setattr(d, "ImageOrientationPatient",
                                                 [1, 0, 0, 0.01, 1, 0])],
    "not_unit": lambda ds: [d for d in (copy.deepcopy(x) for x in ds)
                            if not setattr(d, "ImageOrientationPatient",
                                           [1.01, 0, 0, 0, 1, 0])],
    "no_position": lambda ds: _without(ds, "ImagePositionPatient"),
    "no_orientation": lambda ds: _without(ds, "ImageOrientationPatient"),
}


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_same_rejections_as_dicom_numpy(corpus: Path, case: str) -> None:
    import dicom_numpy

    datasets = REJECTED[case](_datasets(corpus, "canon_mr_40"))
    theirs = _outcome(dicom_numpy.combine_slices, datasets)
    assert isinstance(theirs, Exception), f"{case}: dicom-numpy accepted it"
    _assert_same(datasets)


def test_missing_instance_number_and_full_ge_series(corpus: Path) -> None:
    datasets = _datasets(corpus, "canon_mr_40")
    no_number = _without(datasets, "InstanceNumber")
    _assert_same(no_number, sort_by_instance=True)
    with pytest.raises(MissingInstanceNumberException):
        ours(no_number, sort_by_instance=True)
    full_ge = [pydicom.dcmread(f) for f in sorted((corpus / "dcm_qa_ct/In/GE").glob("*.dcm"))]
    with pytest.raises(DicomImportException, match="missing slices"):
        ours(full_ge)
    _assert_same(full_ge)  # both reject the 4.2/7.4 mm gap
    _assert_same(full_ge, enforce_slice_spacing=False)  # and both accept it when told


def test_exceptions_are_in_our_tree() -> None:
    assert issubclass(DicomImportException, dicomdecode.DicomDecodeError)
    assert issubclass(MissingInstanceNumberException, dicomdecode.DicomDecodeError)
    import dicomdecode.compat as shim
    from dicomdecode.apps import compat

    assert shim is compat


ENCODERS = {  # name -> (transfer syntax, pydicom encoding plugin, handler needed to compare)
    "rle": (pydicom.uid.RLELossless, "pydicom", "pylibjpeg"),
    "jpegls": (pydicom.uid.JPEGLSLossless, "pyjpegls", "charls"),
    "j2k": (pydicom.uid.JPEG2000Lossless, "pylibjpeg", "pylibjpeg"),
}


def compressed(datasets: list[pydicom.Dataset], name: str) -> list[pydicom.Dataset]:
    """Copies of `datasets` encoded with a real encoder, read back from bytes."""
    import io

    uid, plugin, _ = ENCODERS[name]
    out = []
    for ds in datasets:
        ds = copy.deepcopy(ds)
        ds.compress(uid, encoding_plugin=plugin, generate_instance_uid=False)
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        out.append(pydicom.dcmread(io.BytesIO(buffer.getvalue())))
    return out


@pytest.mark.needs_handler("pylibjpeg", "charls")
@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_compressed_series_match_dicom_numpy_with_plugins(corpus: Path, name: str) -> None:
    source = _datasets(corpus, "ge_ct_01_14")
    datasets = compressed(source, name)
    assert all(ds.file_meta.TransferSyntaxUID == ENCODERS[name][0] for ds in datasets)
    voxels, affine = _assert_same(datasets)
    reference, reference_affine = ours(source)  # lossless: the uncompressed original
    np.testing.assert_array_equal(voxels, reference)
    np.testing.assert_array_equal(affine, reference_affine)
    _assert_same(datasets, rescale=False, c_order_axes=True)


def test_header_only_datasets_are_decoded_from_their_files(corpus: Path) -> None:
    """dicom-numpy needs the pixels in the Dataset; ours reads them from ``filename``."""
    folder, pattern, _ = SERIES["canon_mr_40"]
    files = sorted((corpus / folder).glob(pattern))
    headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    import dicom_numpy

    expected, expected_affine = dicom_numpy.combine_slices([pydicom.dcmread(f) for f in files])
    voxels, affine = ours(headers)
    np.testing.assert_array_equal(voxels, expected)
    np.testing.assert_array_equal(affine, expected_affine)
