"""pydicom's own shipped test files (real data from GDCM, dcmtk, NEMA...), decoded and
compared with pydicom 3's pixel_array. These need no corpus, so a fresh clone runs them."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

import dicomdecode
from dicomdecode import decode
from dicomdecode.apps.info import file_info
from dicomdecode.errors import DecodeError, DicomDecodeError, MissingHandlerError

from .decode_helpers import (
    assert_same_image,
    installed_for,
    is_lossy,
    missing_handler_raised,
    pydicom_reference,
)

TEST_FILES = Path(get_testdata_file("CT_small.dcm")).parent

# Files with pixel data that pydicom's pixel_array cannot serve as reference for, with why.
NO_REFERENCE = {
    "MR_truncated.dcm": "truncated pixel data",
    "JPEG-lossy.dcm": "Se=0 defect; pydicom cannot decode it",
    "emri_small_jpeg_2k_lossless_too_short.dcm": "truncated",
    "JPEG2000-embedded-sequence-delimiter.dcm": "codestream header unreadable by any codec",
    "badVR.dcm": "invalid IS value '1A' stops pixel_array",
}


def _image_files() -> list[str]:
    names = []
    for path in sorted(TEST_FILES.glob("*.dcm")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=False, force=True)
            except Exception:
                continue
        if "PixelData" in ds and "Rows" in ds and path.name not in NO_REFERENCE:
            names.append(path.name)
    return names


@pytest.mark.parametrize("name", _image_files())
def test_pydicom_test_file_equals_pixel_array(name):
    path = TEST_FILES / name
    uid = file_info(path)["transfer_syntax"]
    if not installed_for(uid):
        with pytest.raises(MissingHandlerError):
            decode(path)
        return
    if missing_handler_raised(lambda: decode(path), path):
        return
    try:
        ref = pydicom_reference(path)
    except Exception as exc:  # pydicom lacks a plugin here, or refuses the file
        pytest.skip(f"pydicom cannot provide a reference: {exc}")
    ours = decode(path)
    assert_same_image(ours.array, ref, lossy=is_lossy(uid), what=f"{name} via {ours.handler}")


@pytest.mark.parametrize("name", ["nested_priv_SQ.dcm", "meta_missing_tsyntax.dcm"])
def test_pixel_data_without_image_attributes_is_an_error(name):
    with pytest.raises(DicomDecodeError, match="Rows"):
        decode(TEST_FILES / name)


def test_unreadable_codestream_is_a_decode_error():
    # Its codestream's SIZ claims 3,722,445,056 columns: the guard refuses it before any
    # codec could size an allocation from it, and says both numbers. The guard judges the
    # data before a handler is looked up, so the verdict is the same whatever is installed
    # (a JPEG 2000 decoder or none).
    with pytest.raises(DecodeError, match=r"J2K SIZ says 1024x3722445056 .* header says "
                                          r"1024x256") as info:
        decode(TEST_FILES / "JPEG2000-embedded-sequence-delimiter.dcm")
    assert info.value.failures == []  # no codec was called


def test_bad_vr_file_pixel_length_disagrees_with_header():
    """badVR.dcm's Pixel Data holds 6000 bytes where its header (10x10, 32 bits) implies
    400, and its Number of Frames is '1A': the header is wrong, so no array of the
    header's shape is returned, unlike pydicom which trims. Number of Frames is judged
    first, the same way by the scan and every decode road (it is not a number)."""
    path = TEST_FILES / "badVR.dcm"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path)
    assert len(ds.PixelData) == 6000 and ds.Rows * ds.Columns * ds.BitsAllocated // 8 == 400
    with pytest.raises(DecodeError, match="Number of Frames is '1A', not a positive whole"):
        decode(path)
    assert dicomdecode.scan([path]).skipped[0].detail.endswith(
        "Number of Frames is '1A', not a positive whole number")


def test_truncated_pixel_data_is_an_error():
    with pytest.raises(DicomDecodeError) as info:
        decode(TEST_FILES / "MR_truncated.dcm")
    assert "MR_truncated.dcm" in str(info.value)


def test_ybr_photometric_is_reported_updated():
    """pydicom 3 leaves PhotometricInterpretation stale after YBR->RGB; we report RGB."""
    path = TEST_FILES / "SC_ybr_full_422_uncompressed.dcm"
    result = decode(path)
    assert result.photometric_interpretation == "RGB"
    kept = decode(path, convert_color=False)
    assert kept.photometric_interpretation == "YBR_FULL"
    assert not np.array_equal(kept.array, result.array)
