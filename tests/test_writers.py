"""Writers: hand-made Volumes through every format, and uncompressed DICOM from the corpus.

References are independent of the writers: nibabel/numpy/zarr reading the files back, a
RAS affine computed here by hand, and for ``dicom`` pydicom *and* GDCM re-reading the output
compared with ``decode_file`` of the input.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dicomdecode.apps.naming import is_within, mirrored_path, safe_component, series_name
from dicomdecode.volume import SliceInfo, Volume
from dicomdecode.writers import atomic_path, clean_temporaries, write_volume
from tests.conftest import corpus_params, read_tsv

# These tests exercise the whole pipeline on compressed data too: they need every
# decoder. Reduced-install sessions (nox tests_minimal/_pylibjpeg/_gdcm) deselect them.
pytestmark = pytest.mark.needs_handler("pylibjpeg", "gdcm", "charls")


def make_volume(shape=(4, 5, 6), dtype=np.int16, spacing=(3.0, 0.5, 0.75)) -> Volume:
    rng = np.random.default_rng(0)
    arr = rng.integers(-1000, 3000, size=shape).astype(dtype)
    affine = np.eye(4)
    # slice axis along +z (LPS S), rows along +y (P), columns along +x (L)
    affine[:3, 0] = [0, 0, spacing[0]]
    affine[:3, 1] = [0, spacing[1], 0]
    affine[:3, 2] = [spacing[2], 0, 0]
    affine[:3, 3] = [-10.0, 20.0, 30.0]
    slices = [SliceInfo(f"/in/{i}.dcm", f"1.2.3.{i}", 0, (-10.0, 20.0, 30.0 + 3 * i), 1.0,
                        0.0, "1.2.840.10008.1.2.1", "native") for i in range(shape[0])]
    meta = {"Modality": "MR", "SeriesDescription": "t1 / ../evil", "EchoTime": 0.030,
            "RepetitionTime": 2.0, "SamplesPerPixel": 1}  # seconds, as Volume.meta holds them
    return Volume(array=arr, affine=affine, meta=meta, slices=slices, warnings=["w1"])


def test_nifti_voxels_and_affine(tmp_path: Path) -> None:
    vol = make_volume()
    paths = write_volume(vol, tmp_path / "s", "nifti")
    assert [p.name for p in paths] == ["s.nii.gz", "s.json", "s_slices.json"]
    img = nib.load(paths[0])
    # NIfTI voxel (i=col, j=row, k=slice) holds array[slice, row, col]
    data = np.asarray(img.dataobj)
    assert data.shape == (6, 5, 4)
    np.testing.assert_array_equal(data, vol.array.transpose(2, 1, 0))
    # hand-computed RAS affine: LPS->RAS negates x and y
    expected = np.array([[-0.75, 0, 0, 10.0], [0, -0.5, 0, -20.0], [0, 0, 3.0, 30.0],
                         [0, 0, 0, 1]])
    np.testing.assert_allclose(img.affine, expected, atol=1e-5)
    side = json.loads(paths[1].read_text())
    assert side["EchoTime"] == pytest.approx(0.030)
    assert side["RepetitionTime"] == pytest.approx(2.0)
    assert side["Modality"] == "MR"
    assert side["ConversionSoftware"] == "dicomdecode"
    assert side["dicomdecode"]["warnings"] == ["w1"]
    assert side["dicomdecode"]["storage"]["StoredDtype"] == "int16"
    # per-slice provenance lives in its own file, not in the sidecar
    assert "slices" not in json.dumps(side)
    provenance = json.loads(paths[2].read_text())
    assert [s["path"] for s in provenance["slices"]] == [s.path for s in vol.slices]
    assert provenance["meta"]["EchoTime"] == side["EchoTime"]  # one unit per key


def test_nifti_singular_affine_completed(tmp_path: Path) -> None:
    vol = make_volume()
    vol.affine = np.diag([0.0, 0.0, 0.7, 1.0])[[2, 0, 1, 3]]  # only one non-zero column
    vol.affine[:3, :3] = 0
    vol.affine[0, 2] = 0.7
    (image, side, _) = write_volume(vol, tmp_path / "flat", "nifti")
    img = nib.load(image)
    assert abs(np.linalg.det(img.affine[:3, :3])) > 0
    assert "singular affine" in json.loads(side.read_text())["dicomdecode"]["warnings"][-1]


def test_npy_and_npz(tmp_path: Path) -> None:
    vol = make_volume(dtype=np.uint16, shape=(2, 3, 4, 5))
    npy, meta_json, _ = write_volume(vol, tmp_path / "a", "npy")
    np.testing.assert_array_equal(np.load(npy, allow_pickle=False), vol.array)
    meta = json.loads(meta_json.read_text())
    np.testing.assert_allclose(meta["affine_lps"], vol.affine)
    (npz,) = write_volume(vol, tmp_path / "b", "npz")
    with np.load(npz, allow_pickle=False) as z:
        np.testing.assert_array_equal(z["array"], vol.array)
        assert z["array"].dtype == np.uint16
        np.testing.assert_allclose(z["affine"], vol.affine)
        assert json.loads(str(z["meta"]))["meta"]["Modality"] == "MR"


@pytest.mark.needs_library("zarr")
def test_zarr_chunked_per_slice(tmp_path: Path) -> None:
    import zarr

    vol = make_volume()
    (store,) = write_volume(vol, tmp_path / "z", "zarr")
    z = zarr.open_array(str(store), mode="r")
    assert z.chunks == (1, 5, 6)
    np.testing.assert_array_equal(z[...], vol.array)
    np.testing.assert_allclose(z.attrs["affine_lps"], vol.affine)
    # rewriting (force) replaces the store in one step
    vol.array = vol.array + 1
    write_volume(vol, tmp_path / "z", "zarr")
    np.testing.assert_array_equal(zarr.open_array(str(store), mode="r")[...], vol.array)


def test_atomic_path_leaves_nothing_on_error(tmp_path: Path) -> None:
    final = tmp_path / "x.nii.gz"
    with pytest.raises(RuntimeError), atomic_path(final) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / ".dicomdecode-tmp-1234-y.npy").write_bytes(b"left by a killed run")
    assert len(clean_temporaries(tmp_path)) == 1 and list(tmp_path.iterdir()) == []


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_safe_component_never_escapes(text: str) -> None:
    name = safe_component(text)
    assert name and name not in (".", "..") and "/" not in name and "\\" not in name
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in name)
    assert is_within(os.path.join("/out", name), "/out")


def test_series_name_stable_and_private() -> None:
    class S:
        uid = "1.2.3#1"
        series_number = 7
        description = "../../etc/passwd Smith^John"
        modality = "MR"
        patient_id = "PID123"

    name = series_name(S())
    assert name == series_name(S())
    assert name.startswith("0007_") and "/" not in name and ".." not in name
    assert "PID123" not in name and "PID123" in series_name(S(), include_patient=True)


def test_mirrored_path_stays_inside(tmp_path: Path) -> None:
    src = tmp_path / "in"
    (src / "a b").mkdir(parents=True)
    f = src / "a b" / "ü..dcm"
    f.write_bytes(b"")
    out = mirrored_path(f, src, tmp_path / "out")
    assert is_within(out, tmp_path / "out")
    assert out.parts[-2:] == ("a_b", "u..dcm") or out.parent.name == "a_b"


# --------------------------------------------------------------------------- DICOM writer

_LOSSY = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.81",
          "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.203", "1.2.840.10008.1.2.4.53",
          "1.2.840.10008.1.2.4.55"}
_ROWS = [r for r in read_tsv("MANIFEST.tsv")
         if r["transfer_syntax_uid"] not in _LOSSY and r["pydicom_ok"].startswith("yes")]
# the many classic slices of the same few series add time, not coverage: keep 3 per folder
_SEEN: dict[str, int] = {}
_LOSSLESS = []
for _r in _ROWS:
    _folder = os.path.dirname(_r["relative_path"])
    _SEEN[_folder] = _SEEN.get(_folder, 0) + 1
    if _SEEN[_folder] <= 3 or not _r["relative_path"].startswith("dcm_qa"):
        _LOSSLESS.append(_r)
_CHANGED = {0x00280004, 0x00280006, 0x7FE00010, 0x7FE00001, 0x7FE00002,
            0x00282110, 0x00282112, 0x00282114}


_GDCM_SCRIPT = """
import hashlib, sys, gdcm
r = gdcm.ImageReader(); r.SetFileName(sys.argv[1])
if not r.Read(): sys.exit(3)
buf = r.GetImage().GetBuffer()
if isinstance(buf, str): buf = buf.encode("utf-8", "surrogateescape")
print(len(buf), hashlib.sha256(buf).hexdigest(), hashlib.sha256(buf[:int(sys.argv[2])]).hexdigest())
"""


def _gdcm_digest(path: Path, n: int) -> tuple[int, str, str] | None:
    """(length, sha256 of buffer, sha256 of its first n bytes) from GDCM's ImageReader,
    in a subprocess because GDCM aborts the process on some valid files; None if it did."""
    import subprocess
    import sys

    pytest.importorskip("gdcm")
    proc = subprocess.run([sys.executable, "-c", _GDCM_SCRIPT, str(path), str(n)],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        return None
    length, full, head = proc.stdout.split()
    return int(length), full, head


def _assert_kept(orig: pydicom.Dataset, out: pydicom.Dataset, big: bool, top: bool) -> None:
    """Every element of ``orig`` is in ``out`` with the same value (recursing sequences)."""
    for elem in orig:
        if (top and elem.tag in _CHANGED) or elem.tag.element == 0:
            continue  # pixel-related (checked by the caller) or retired group lengths
        assert elem.tag in out, f"{elem.tag} {elem.keyword} lost"
        other = out[elem.tag]
        if elem.VR == "SQ":
            assert len(elem.value) == len(other.value), f"{elem.tag} items differ"
            for a, b in zip(elem.value, other.value, strict=True):
                _assert_kept(a, b, big, False)
        else:
            assert _same_value(elem.value, other.value, big, str(elem.VR)), (
                f"{elem.tag} {elem.keyword} changed")


def _same_value(a: object, b: object, big_endian: bool, vr: str) -> bool:
    if big_endian and vr in ("OW", "OF", "OL", "OD", "OV", "UN"):
        return True  # byte order legitimately changed; presence is checked by the caller
    if a in ("", None) and b in ("", None):
        return True  # pydicom gives '' or None for an empty value depending on the VR path
    return bool(a == b)


@pytest.mark.parametrize("row", corpus_params(_LOSSLESS, "relative_path"))
def test_dicom_roundtrip_lossless(corpus: Path, row: dict[str, str], tmp_path: Path) -> None:
    from dicomdecode.decode import decode_file
    from dicomdecode.writers.dicom import write_decompressed

    src = corpus / row["relative_path"]
    expected = decode_file(src)
    out = write_decompressed(src, tmp_path / "out.dcm")
    ds = pydicom.dcmread(out)
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    # pydicom's own decoder on the output
    got = ds.pixel_array
    assert np.array_equal(got.reshape(expected.shape), expected), "pydicom pixels differ"
    # GDCM on the output: raw buffer equals the canonical frames' bytes
    one_bit = int(ds.BitsAllocated) == 1
    if one_bit:
        from pydicom.pixels.utils import pack_bits

        want = pack_bits(expected.ravel())  # frames packed back to back, as PS3.5 8.1.1
    else:
        want = np.ascontiguousarray(expected).astype(expected.dtype.newbyteorder("<")).tobytes()
    digest = _gdcm_digest(out, len(want))
    if digest is None:
        # allowed only where GDCM cannot read the input either (float pixel data, Bits
        # Stored < 8 in 8-bit native data: GDCM 3.2 aborts on its own assertion)
        assert _gdcm_digest(src, 0) is None, "GDCM reads the input but not the output"
    else:
        import hashlib

        length, _full, head = digest
        assert head == hashlib.sha256(want).hexdigest(), "GDCM pixels differ"
        # GDCM sizes 1-bit buffers as if each row were byte-aligned: extra bytes at the end
        assert length in (len(want), len(want) + 1) or (one_bit and length > len(want))
    # every non-pixel element kept
    orig = pydicom.dcmread(src, force=True)
    big = str(getattr(orig, "file_meta", {}).get("TransferSyntaxUID", "")) == "1.2.840.10008.1.2.2"
    _assert_kept(orig, ds, big, True)
    assert ds.get("PhotometricInterpretation") in (orig.get("PhotometricInterpretation"), "RGB")
    for keyword in ("BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation"):
        assert ds.get(keyword) == orig.get(keyword), keyword


def test_dicom_lossy_keeps_lossy_flag(corpus: Path, tmp_path: Path) -> None:
    from dicomdecode.decode import decode_file
    from dicomdecode.writers.dicom import write_decompressed

    src = corpus / "pylibjpeg-data/ljdata/ds/JPEGBaseline/SC_rgb_jpeg_dcmtk.dcm"
    if not src.exists():
        pytest.skip("SC_rgb_jpeg_dcmtk.dcm not in this corpus")
    out = write_decompressed(src, tmp_path / "o.dcm")
    ds = pydicom.dcmread(out)
    assert ds.LossyImageCompression == "01"
    assert ds.PhotometricInterpretation == "RGB" and ds.PlanarConfiguration == 0
    assert "LossyImageCompressionMethod" in ds and "LossyImageCompressionRatio" in ds
    assert np.array_equal(ds.pixel_array.reshape(decode_file(src).shape), decode_file(src))


def test_nifti_narrows_64bit_integers(tmp_path: Path) -> None:
    vol = make_volume()
    vol.array = vol.array.astype(np.int64) + 5
    image, _, _ = write_volume(vol, tmp_path / "i64", "nifti")
    data = np.asarray(nib.load(image).dataobj)
    assert data.dtype == np.int16
    np.testing.assert_array_equal(data, vol.array.transpose(2, 1, 0))
