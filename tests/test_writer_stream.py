"""The streaming writers: compact dtype, threaded gzip, .nii, npy/npz/zarr options.

Every file is read back by an independent reader (nibabel, Python's ``gzip``, numpy, zarr)
and compared with the hand-made Volume it was written from; the header is compared with
the one nibabel itself builds for ``Volume.to_nifti()`` and saves.
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from dicomdecode.volume import SliceInfo, Volume
from dicomdecode.writers import WriteOptions, write_volume
from dicomdecode.writers.compact import choose_storage, smallest_int
from tests.test_nifti_header import set_dcm2niix_fields


def volume(arr: np.ndarray, slope: float = 1.0, intercept: float = 0.0,
           slopes: list[float] | None = None, samples: int = 1) -> Volume:
    n = arr.shape[0] if arr.ndim - (samples > 1) == 3 else arr.shape[0] * arr.shape[1]
    affine = np.array([[0, 0, 0.8, -100.0], [0, 0.8, 0, -90.0], [2.5, 0, 0, 40.0],
                       [0, 0, 0, 1]])
    slices = [SliceInfo(f"/in/{i}.dcm", f"1.2.{i}", 0, (-100.0, -90.0, 40.0 + 2.5 * i),
                        (slopes[i] if slopes else slope), intercept, "1.2.840.10008.1.2.1",
                        "native") for i in range(n)]
    return Volume(array=arr, affine=affine, slices=slices,
                  meta={"Modality": "CT", "SamplesPerPixel": samples})


def ct_volume(shape=(7, 9, 11)) -> Volume:
    """An int32 CT in HU (the library's dtype for int16 stored values, intercept -1024)."""
    rng = np.random.default_rng(1)
    stored = rng.integers(-2000, 3000, size=shape)
    return volume((stored - 1024).astype(np.int32), 1.0, -1024.0)


def read_back(path: Path) -> nib.Nifti1Image:
    img = nib.load(path)
    img.get_fdata()  # every voxel readable
    return img


def test_ct_is_written_as_int16_with_the_same_voxels(tmp_path: Path) -> None:
    vol = ct_volume()
    image, side, _ = write_volume(vol, tmp_path / "ct", "nifti")
    img = read_back(image)
    assert img.get_data_dtype() == np.int16
    np.testing.assert_array_equal(img.get_fdata(), vol.array.transpose(2, 1, 0))
    storage = json.loads(side.read_text())["dicomdecode"]["storage"]
    assert storage == {"ArrayDtype": "int32", "StoredDtype": "int16",
                       "Method": "narrowed from int32"}


def test_stream_is_a_standard_gzip_of_nibabels_own_file(tmp_path: Path) -> None:
    """Python's gzip reads our .nii.gz, and its bytes are those of nibabel.save of the same
    image with the same dtype (header field by field, then the voxels)."""
    vol = ct_volume()
    for level in range(4):
        image, *_ = write_volume(vol, tmp_path / f"l{level}", "nifti",
                                 WriteOptions(compress_level=level))
        ours = gzip.decompress(image.read_bytes())
        ref_img = vol.to_nifti()
        ref_img.set_data_dtype(np.int16)
        set_dcm2niix_fields(ref_img, vol)
        nib.save(ref_img, tmp_path / "ref.nii")
        ref = (tmp_path / "ref.nii").read_bytes()
        ours_hdr = nib.Nifti1Header.from_fileobj(io.BytesIO(ours))
        ref_hdr = nib.Nifti1Header.from_fileobj(io.BytesIO(ref))
        for key in ref_hdr.keys():
            if key in ("scl_slope", "scl_inter"):  # nibabel writes NaN or 1/0 for "none"
                assert ours_hdr.get_slope_inter() == ref_hdr.get_slope_inter() or \
                    ref_hdr.get_slope_inter() == (1.0, 0.0)
                continue
            np.testing.assert_array_equal(ours_hdr[key], ref_hdr[key], err_msg=key)
        assert ours[352:] == ref[int(ref_hdr["vox_offset"]):]


def test_no_compress_writes_nii(tmp_path: Path) -> None:
    vol = ct_volume()
    image, *_ = write_volume(vol, tmp_path / "raw", "nifti", WriteOptions(compress=False))
    assert image.name == "raw.nii" and image.read_bytes()[344:348] == b"n+1\x00"
    np.testing.assert_array_equal(read_back(image).get_fdata(), vol.array.transpose(2, 1, 0))


def test_fractional_slope_is_stored_values_with_scl(tmp_path: Path) -> None:
    """8-bit stored values with slope 0.25 (a float32 volume) go back to uint8 + scl."""
    rng = np.random.default_rng(2)
    stored = rng.integers(0, 256, size=(5, 6, 7))
    arr = (stored * np.float64(np.float32(0.25)) + np.float64(np.float32(-3.5))
           ).astype(np.float32)
    vol = volume(arr, 0.25, -3.5)
    image, side, _ = write_volume(vol, tmp_path / "f", "nifti")
    img = read_back(image)
    assert img.get_data_dtype() == np.uint8
    assert (img.dataobj.slope, img.dataobj.inter) == (0.25, -3.5)
    np.testing.assert_array_equal(np.asarray(img.dataobj.get_unscaled()),
                                  stored.transpose(2, 1, 0))
    np.testing.assert_array_equal(img.get_fdata().astype(np.float32), arr.transpose(2, 1, 0))
    storage = json.loads(side.read_text())["dicomdecode"]["storage"]
    assert storage["SclSlope"] == 0.25 and storage["StoredDtype"] == "uint8"


def test_slope_that_is_no_float32_number_rounds_like_dcm2niix(tmp_path: Path) -> None:
    """Slope 3.774114 (a corpus JPEG lossless file): the volume is computed with the
    double, the file holds float32 scl as dcm2niix's; stored values come back exactly and
    the voxels within float32 rounding of the volume."""
    stored = np.arange(0, 4096, 7)[:585].reshape(5, 9, 13)
    arr = (stored.astype(np.float64) * 3.774114 + 6.1e-05).astype(np.float32)
    image, *_ = write_volume(volume(arr, 3.774114, 6.1e-05), tmp_path / "s", "nifti")
    img = read_back(image)
    assert img.get_data_dtype() == np.uint16
    np.testing.assert_array_equal(np.asarray(img.dataobj.get_unscaled()),
                                  stored.transpose(2, 1, 0))
    assert img.dataobj.slope == np.float32(3.774114)
    got = img.get_fdata().astype(np.float32)
    np.testing.assert_array_max_ulp(got, arr.transpose(2, 1, 0), maxulp=2)


@pytest.mark.parametrize("case", ["per-slice slopes", "not on the grid", "nan"])
def test_floats_that_are_not_exact_stay_float(tmp_path: Path, case: str) -> None:
    rng = np.random.default_rng(3)
    arr = rng.integers(0, 100, size=(4, 5, 6)).astype(np.float32) * np.float32(0.5)
    if case == "per-slice slopes":
        vol = volume(arr, slopes=[0.5, 0.5, 0.25, 0.5])
    elif case == "not on the grid":
        arr[1, 2, 3] += np.float32(0.1)
        vol = volume(arr, 0.5, 0.0)
    else:
        arr[0, 0, 0] = np.nan
        vol = volume(arr, 0.5, 0.0)
    image, *_ = write_volume(vol, tmp_path / "x", "nifti")
    img = read_back(image)
    assert img.get_data_dtype() == np.float32
    np.testing.assert_array_equal(np.asarray(img.dataobj), arr.transpose(2, 1, 0))


@pytest.mark.parametrize(("lo", "hi", "expected"), [
    (0, 255, np.uint8), (0, 65535, np.uint16), (0, 70000, np.uint32), (-5, 100, np.int8),
    (-1024, 3071, np.int16), (-1, 40000, np.int32), (-(2**40), 0, None)])
def test_smallest_int(lo: int, hi: int, expected) -> None:
    assert smallest_int(lo, hi) == (None if expected is None else np.dtype(expected))


def test_unsigned_mr_keeps_uint16_as_dcm2niix(tmp_path: Path) -> None:
    arr = np.array([[[0, 40000], [7, 9]]], dtype=np.uint16)
    assert choose_storage(volume(arr)).dtype == np.uint16


def test_no_compact_keeps_the_array_dtype(tmp_path: Path) -> None:
    vol = ct_volume()
    image, *_ = write_volume(vol, tmp_path / "w", "nifti", WriteOptions(compact=False))
    assert read_back(image).get_data_dtype() == np.int32


def test_four_d_and_rgb(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    four = rng.integers(-300, 300, size=(3, 4, 5, 6)).astype(np.int32)
    image, *_ = write_volume(volume(four), tmp_path / "t", "nifti")
    img = read_back(image)
    assert img.get_data_dtype() == np.int16
    np.testing.assert_array_equal(img.get_fdata(), four.transpose(3, 2, 1, 0))
    rgb = rng.integers(0, 256, size=(3, 4, 5, 3)).astype(np.uint8)
    image, *_ = write_volume(volume(rgb, samples=3), tmp_path / "c", "nifti")
    raw = np.asarray(nib.load(image).dataobj)
    assert raw.dtype.names == ("R", "G", "B")
    got = np.stack([raw[c] for c in "RGB"], axis=-1)
    np.testing.assert_array_equal(got, rgb.transpose(2, 1, 0, 3))
    wide = rng.integers(0, 4000, size=(2, 3, 4, 3)).astype(np.uint16)
    image, *_ = write_volume(volume(wide, samples=3), tmp_path / "wide", "nifti")
    np.testing.assert_array_equal(np.asarray(nib.load(image).dataobj),
                                  wide.transpose(2, 1, 0, 3))


def test_big_endian_array(tmp_path: Path) -> None:
    arr = ct_volume().array.astype(">i4")
    image, *_ = write_volume(volume(arr), tmp_path / "be", "nifti")
    np.testing.assert_array_equal(read_back(image).get_fdata(), arr.transpose(2, 1, 0))


def test_npy_npz_zarr_keep_load_dtype_unless_compact(tmp_path: Path) -> None:
    vol = ct_volume()
    npy, meta, _ = write_volume(vol, tmp_path / "a", "npy")
    got = np.load(npy)
    assert got.dtype == np.int32 and np.array_equal(got, vol.array)
    npy, meta, _ = write_volume(vol, tmp_path / "b", "npy", WriteOptions(compact=True))
    got = np.load(npy)
    assert got.dtype == np.int16 and np.array_equal(got, vol.array)
    assert json.loads(meta.read_text())["storage"]["StoredDtype"] == "int16"
    (npz,) = write_volume(vol, tmp_path / "c", "npz", WriteOptions(compact=True))
    with np.load(npz) as z:
        assert z["array"].dtype == np.int16 and np.array_equal(z["array"], vol.array)


@pytest.mark.needs_library("zarr")
def test_zarr_keeps_load_dtype_unless_compact(tmp_path: Path) -> None:
    import zarr

    vol = ct_volume()
    (store,) = write_volume(vol, tmp_path / "d", "zarr")
    z = zarr.open_array(str(store), mode="r")
    assert z.dtype == np.int32 and np.array_equal(z[...], vol.array)
    assert z.chunks == (1, 9, 11)
    (store,) = write_volume(vol, tmp_path / "e", "zarr", WriteOptions(compact=True))
    z = zarr.open_array(str(store), mode="r")
    assert z.dtype == np.int16 and np.array_equal(z[...], vol.array)


def test_compact_npy_with_scl_restores_the_volume(tmp_path: Path) -> None:
    stored = np.arange(60).reshape(3, 4, 5)
    arr = (stored * np.float64(np.float32(0.5)) + 1.0).astype(np.float32)
    npy, meta, _ = write_volume(volume(arr, 0.5, 1.0), tmp_path / "s", "npy",
                                WriteOptions(compact=True))
    storage = json.loads(meta.read_text())["storage"]
    got = np.load(npy)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(
        (got * storage["SclSlope"] + storage["SclInter"]).astype(np.float32), arr)


@pytest.mark.parametrize("bad", [{"compress_level": 4}, {"compress_level": -1},
                                 {"compress_level": 1.5}, {"threads": 0}])
def test_write_options_are_checked(bad: dict) -> None:
    with pytest.raises((ValueError, TypeError)):
        WriteOptions(**bad)


def test_cli_no_compress_and_level(tmp_path: Path) -> None:
    import shutil

    data = Path(__file__).resolve().parents[1] / "test_data"
    series = tmp_path / "in"
    series.mkdir()
    for name in ("s16_bs16_ct__deflated_le.dcm", "u16_bs12_mono__explicit_le.dcm"):  # native
        shutil.copy(data / name, series / name)
    bad = subprocess.run([sys.executable, "-m", "dicomdecode", "convert", str(series),
                          str(tmp_path / "bad"), "--compress-level", "9"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "0..3" in bad.stderr
    proc = subprocess.run([sys.executable, "-m", "dicomdecode", "convert", str(series),
                           str(tmp_path / "raw"), "--no-compress", "-q"],
                          capture_output=True, text=True, timeout=300)
    subprocess.run([sys.executable, "-m", "dicomdecode", "convert", str(series),
                    str(tmp_path / "gz"), "--compress-level", "3", "-q"],
                   capture_output=True, text=True, timeout=300, check=True)
    written = sorted(p.name for p in (tmp_path / "raw").glob("*.nii*"))
    assert written and all(n.endswith(".nii") for n in written), (written, proc.stderr)
    assert len(written) == 2
    for name in written:
        got = nib.load(tmp_path / "raw" / name).get_fdata()
        ref = nib.load(tmp_path / "gz" / name.replace(".nii", ".nii.gz")).get_fdata()
        np.testing.assert_array_equal(got, ref)


def test_fewer_series_than_workers_get_decoding_threads() -> None:
    """One series on a 2-process pool asks for 2 decoding threads; many series keep one."""
    import dataclasses

    from dicomdecode.apps import convert as conv
    from dicomdecode.options import Options

    opts = conv.JobSettings(options=dataclasses.replace(Options.resolve(None), workers=1),
                            fmt="nifti", dst="/out")
    one = [(conv._convert_series, ("series", "/out/a", "nifti", opts), 300)]
    (spread,) = conv._spread_threads(one, 2, True)
    assert spread[1][3].options.workers == 2 and spread[1][:3] == one[0][1][:3]
    many = one * 3
    assert conv._spread_threads(many, 2, True) == many
    assert conv._spread_threads(one, 2, False) == one  # a Dask cluster places its own work
