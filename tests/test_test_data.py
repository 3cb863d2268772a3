"""Independent checks of the committed synthetic files in ``test_data/``.

``test_data/make_test_data.py`` made them with real encoders and checked them as it went;
these tests check the committed bytes again, with pydicom (and imagecodecs' libjxl for JPEG XL,
which pydicom 3.0 cannot decode), never with dicomdecode:

* every file named in ``test_data/MANIFEST.json`` exists, and its header says what the
  manifest says;
* each lossless file decodes identical (values and dtype) to its uncompressed reference,
  each lossy one within the manifest's tolerance;
* the assembly series in ``test_data/series/`` have the promised geometry;
* re-running the script into a temporary folder gives the same pixel data (determinism).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
from pydicom.errors import InvalidDicomError  # noqa: E402
from pydicom.pixels import get_decoder  # noqa: E402
from pydicom.uid import UID  # noqa: E402

from .decode_helpers import max_abs_diff, psnr  # noqa: E402

# These tests exercise the whole pipeline on compressed data too: they need every
# decoder. Reduced-install sessions (nox tests_minimal/_pylibjpeg/_gdcm) deselect them.
pytestmark = pytest.mark.needs_handler("pylibjpeg", "gdcm", "charls")

TEST_DATA = Path(__file__).resolve().parents[1] / "test_data"
MANIFEST_PATH = TEST_DATA / "MANIFEST.json"
MANIFEST: dict[str, Any] = json.loads(MANIFEST_PATH.read_text())
FILES: list[dict[str, Any]] = MANIFEST["files"]
SERIES: list[dict[str, Any]] = MANIFEST["series"]
BY_NAME = {e["name"]: e for e in FILES}

NATIVE = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2",
          "1.2.840.10008.1.2.1.99"}


JPEG_XL = {"1.2.840.10008.1.2.4.110", "1.2.840.10008.1.2.4.111", "1.2.840.10008.1.2.4.112"}


def decode_jpegxl(path: Path) -> np.ndarray:
    """A JPEG XL file's frames decoded by libjxl (imagecodecs) directly."""
    import imagecodecs
    from pydicom.encaps import generate_frames

    ds = pydicom.dcmread(path)
    count = int(ds.get("NumberOfFrames", 1) or 1)
    frames = [imagecodecs.jpegxl_decode(bytes(f))
              for f in generate_frames(ds.PixelData, number_of_frames=count)]
    return np.stack(frames) if count > 1 else frames[0]


def decode(path: Path, tsuid: str) -> np.ndarray:
    """``pixel_array`` of a file, skipping when no pydicom plugin can decode its syntax."""
    if tsuid in JPEG_XL:
        return decode_jpegxl(path)
    if tsuid not in NATIVE:
        try:
            available = get_decoder(UID(tsuid)).is_available
        except NotImplementedError:
            available = False
        if not available:
            pytest.skip(f"no pydicom decoding plugin installed for {UID(tsuid).name}")
    return pydicom.dcmread(path).pixel_array


def native_order(arr: np.ndarray) -> np.ndarray:
    """Big endian files decode to a '>' dtype: compare values and dtype in native order."""
    return arr.astype(arr.dtype.newbyteorder("="), copy=False)


def test_manifest_files_exist_and_nothing_else() -> None:
    listed = {e["name"] for e in FILES} | {e["name"] for e in SERIES}
    for name in listed:
        assert (TEST_DATA / name).is_file(), name
    on_disk = {p.relative_to(TEST_DATA).as_posix() for p in TEST_DATA.rglob("*.dcm")}
    assert on_disk == listed, "files in test_data/ and MANIFEST.json differ"
    for e in FILES:
        assert e["reference"] is None or e["reference"] in BY_NAME, e["name"]
        if e["reference"] is None:
            assert e["transfer_syntax_uid"] == "1.2.840.10008.1.2.1" and not e["lossy"]


def test_manifest_covers_the_promised_kinds() -> None:
    refs = [e for e in FILES if e["reference"] is None]
    kinds = {(e["bits_allocated"], e["bits_stored"], e["pixel_representation"], e["samples"],
              e["frames"] > 1) for e in refs}
    assert {(8, 8, 0, 1, False), (16, 12, 0, 1, False), (16, 16, 0, 1, False),
            (16, 12, 1, 1, False), (16, 16, 1, 1, False), (8, 8, 0, 3, False),
            (16, 16, 0, 1, True), (8, 8, 0, 3, True)} <= kinds
    syntaxes = {e["transfer_syntax_uid"] for e in FILES}
    for uid in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99",
                "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81",
                "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.50",
                "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70"):
        assert uid in syntaxes, uid


@pytest.mark.parametrize("entry", FILES, ids=[e["name"] for e in FILES])
def test_header_matches_manifest(entry: dict[str, Any]) -> None:
    ds = pydicom.dcmread(TEST_DATA / entry["name"], stop_before_pixels=True)
    assert ds.file_meta.TransferSyntaxUID == entry["transfer_syntax_uid"]
    assert ds.Rows == entry["rows"] and ds.Columns == entry["cols"]
    assert int(ds.get("NumberOfFrames", 1) or 1) == entry["frames"]
    assert ds.SamplesPerPixel == entry["samples"]
    assert ds.BitsAllocated == entry["bits_allocated"]
    assert ds.BitsStored == entry["bits_stored"]
    assert ds.PixelRepresentation == entry["pixel_representation"]
    assert ds.PhotometricInterpretation == entry["photometric_interpretation"]
    if entry["lossy"]:
        assert ds.get("LossyImageCompression") == "01"
    if "rescale_slope" in entry:
        assert float(ds.RescaleSlope) == entry["rescale_slope"]
        assert float(ds.RescaleIntercept) == entry["rescale_intercept"]


@pytest.mark.parametrize("entry", FILES, ids=[e["name"] for e in FILES])
def test_pixels_match_reference(entry: dict[str, Any]) -> None:
    arr = native_order(decode(TEST_DATA / entry["name"], entry["transfer_syntax_uid"]))
    rows, cols, frames, samples = (entry[k] for k in ("rows", "cols", "frames", "samples"))
    shape = (frames,) if frames > 1 else ()
    shape += (rows, cols) + ((samples,) if samples > 1 else ())
    assert arr.shape == shape
    kind = "int" if entry["pixel_representation"] else "uint"
    assert arr.dtype == np.dtype(f"{kind}{entry['bits_allocated']}")

    if entry["reference"] is None:
        # the reference itself: full stored range present (extremes are part of the test)
        bs = entry["bits_stored"]
        lo, hi = (-(2 ** (bs - 1)), 2 ** (bs - 1) - 1) if entry["pixel_representation"] \
            else (0, 2**bs - 1)
        assert arr.min() == lo and arr.max() == hi
        return

    ref = native_order(pydicom.dcmread(TEST_DATA / entry["reference"]).pixel_array)
    if not entry["lossy"]:
        assert arr.dtype == ref.dtype
        np.testing.assert_array_equal(arr, ref)
        return
    tol = entry["tolerance"]
    assert tol, f"lossy file {entry['name']} has no tolerance"
    err = np.abs(arr.astype(np.float64) - ref.astype(np.float64)).max()
    if "max_abs_error" in tol:
        assert err <= tol["max_abs_error"], err
    if "min_psnr_db" in tol:
        value = psnr(arr, ref, entry["bits_stored"])
        assert value >= tol["min_psnr_db"], value


# ------------------------------------------------------------------------------------------
# Assembly series
# ------------------------------------------------------------------------------------------


def _series(name: str) -> list[dict[str, Any]]:
    return sorted((e for e in SERIES if e["series"] == name), key=lambda e: e["position_index"])


def test_series_readme_is_not_dicom() -> None:
    readme = TEST_DATA / "series" / "README.txt"
    assert readme.is_file()
    with pytest.raises(InvalidDicomError):
        pydicom.dcmread(readme)


def test_series_a_geometry() -> None:
    entries = _series("A")
    assert len(entries) == 12
    dss = [pydicom.dcmread(TEST_DATA / e["name"]) for e in entries]
    assert len({ds.SeriesInstanceUID for ds in dss}) == 1
    iop = np.array(dss[0].ImageOrientationPatient, dtype=float)
    row, col = iop[:3], iop[3:]
    normal = np.cross(row, col)
    assert abs(np.degrees(np.arccos(abs(normal[2])))) == pytest.approx(15.0, abs=1e-3)
    proj = [float(np.dot(np.array(ds.ImagePositionPatient, dtype=float), normal)) for ds in dss]
    np.testing.assert_allclose(np.diff(proj), 2.5, atol=1e-4)
    # file names and instance numbers are not in position order
    names = [e["name"] for e in entries]
    assert names != sorted(names) and names != sorted(names, reverse=True)
    for k, ds in enumerate(dss):
        assert ds.pixel_array.dtype == np.int16 and ds.pixel_array.shape == (32, 32)
        assert (ds.pixel_array[:4, :4] == 100 * k + 1024).all()  # slice tag
        assert float(ds.RescaleSlope) == 1.0 and float(ds.RescaleIntercept) == -1024.0


def test_series_b() -> None:
    entries = _series("B")
    assert len(entries) == 8
    dss = [pydicom.dcmread(TEST_DATA / e["name"]) for e in entries]
    a_uid = pydicom.dcmread(TEST_DATA / _series("A")[0]["name"]).SeriesInstanceUID
    assert len({ds.SeriesInstanceUID for ds in dss}) == 1
    assert dss[0].SeriesInstanceUID != a_uid
    for k, ds in enumerate(dss):
        assert float(ds.RescaleSlope) == 0.5
        assert ds.pixel_array.dtype == np.uint16
        assert (ds.pixel_array[:4, :4] == 100 * k + 1).all()


def test_series_a_mixed_equals_a() -> None:
    mixed = _series("A_mixed")
    assert len(mixed) == 12
    assert len({e["transfer_syntax_uid"] for e in mixed}) == 4
    a_uid = pydicom.dcmread(TEST_DATA / _series("A")[0]["name"]).SeriesInstanceUID
    for e in mixed:
        ds = pydicom.dcmread(TEST_DATA / e["name"])
        ref = pydicom.dcmread(TEST_DATA / e["reference"])
        assert ds.SeriesInstanceUID != a_uid
        assert ds.SOPInstanceUID != ref.SOPInstanceUID
        assert ds.ImagePositionPatient == ref.ImagePositionPatient
        arr = decode(TEST_DATA / e["name"], e["transfer_syntax_uid"])
        assert arr.dtype == ref.pixel_array.dtype
        np.testing.assert_array_equal(arr, ref.pixel_array)


# ------------------------------------------------------------------------------------------
# Determinism
# ------------------------------------------------------------------------------------------


def test_regenerating_gives_the_same_pixels(tmp_path: Path) -> None:
    for module in ("gdcm", "jpeg_ls", "openjpeg", "rle", "imagecodecs"):
        pytest.importorskip(module, reason=f"{module} is needed to remake every file")
    result = subprocess.run([sys.executable, str(TEST_DATA / "make_test_data.py"),
                             str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    new = json.loads((tmp_path / "MANIFEST.json").read_text())
    assert [e["name"] for e in new["files"]] == [e["name"] for e in FILES]
    assert [e["name"] for e in new["series"]] == [e["name"] for e in SERIES]
    for e in FILES + SERIES:
        old_ds = pydicom.dcmread(TEST_DATA / e["name"])
        new_ds = pydicom.dcmread(tmp_path / e["name"])
        assert new_ds.SOPInstanceUID == old_ds.SOPInstanceUID, e["name"]
        tsuid = str(old_ds.file_meta.TransferSyntaxUID)
        old = native_order(decode(TEST_DATA / e["name"], tsuid))
        new_arr = native_order(decode(tmp_path / e["name"], tsuid))
        assert new_arr.dtype == old.dtype, e["name"]
        if e.get("lossy"):
            # An irreversible encoder's floating-point path (OpenJPH's HTJ2K) may round a few
            # samples differently on another CPU or build: remade on a newer machine, the
            # committed s16_bs16_ct__htj2k.dcm differed in 28 of 4,096 samples by at most 22
            # of 65,535 and rgb8_mf2__htj2k.dcm by 1 of 255. Lossy files must stay that close
            # (0.5% of the range, at least 2); every lossless file must be remade bit for bit.
            full_range = 2 ** int(old_ds.BitsStored) - 1
            worst = max_abs_diff(new_arr, old)
            assert worst <= max(2.0, 0.005 * full_range), (e["name"], worst)
        else:
            np.testing.assert_array_equal(new_arr, old, err_msg=e["name"])
