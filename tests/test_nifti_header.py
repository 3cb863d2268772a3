"""The NIfTI-1 header the writer builds without nibabel equals nibabel's own, byte for byte.

nibabel is the independent reference: for each volume the reference header is the one of
``Volume.to_nifti()`` (a ``nibabel.Nifti1Image``, qform/sform set by nibabel) given the
writer's storage type and scaling and dcm2niix's fields through nibabel's own setters, then
written by ``Nifti1Header.write_to``. Volumes: every series of test_data, every corpus
folder the dcm2niix oracle converts, and synthetic ones (oblique, flipped, left-handed,
sheared, 4D, colour, every dtype the writer emits). nibabel also reads every written file
back with the same voxels and affine.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from dicomdecode import load
from dicomdecode.nifti import nifti_affine, nifti_stream_layout
from dicomdecode.volume import SliceInfo, Volume
from dicomdecode.writers import WriteOptions, metadata, write_volume
from dicomdecode.writers.compact import choose_storage
from dicomdecode.writers.metadata import acquisition, nifti_header_fields
from dicomdecode.writers.nifti import nifti_safe_dtype, usable_affine
from dicomdecode.writers.nifti_header import VOX_OFFSET, nifti1_header

from .conftest import ROOT, TEST_DATA


def nibabel_header(volume: Volume, compact: bool = True) -> bytes:
    """What nibabel writes for the image the writer stores (the reference)."""
    volume = nifti_safe_dtype(usable_affine(volume))
    img = volume.to_nifti()
    header = img.header
    source = nifti_stream_layout(volume).source
    if compact and source.dtype.kind in "iuf" and header.get_data_dtype().names is None:
        storage = choose_storage(volume, source)
        header.set_data_dtype(storage.dtype)
        if storage.scaled:
            header.set_slope_inter(storage.slope, storage.inter)
    set_dcm2niix_fields(img, volume)
    out = io.BytesIO()
    header.write_to(out)
    return out.getvalue()


def set_dcm2niix_fields(img: nib.Nifti1Image, volume: Volume) -> None:
    """descrip, dim_info, slice_code and pixdim[4] (TR, s), set with nibabel's setters."""
    header = img.header
    fields = nifti_header_fields(volume, acquisition(volume))
    header["descrip"] = fields["descrip"].encode("ascii", "replace")
    if fields["phase"] is not None:
        header.set_dim_info(freq=fields["freq"], phase=fields["phase"], slice=fields["slice"])
    if fields["slice_code"]:
        header["slice_code"] = fields["slice_code"]
    header["pixdim"][4] = fields["tr"] or 0.0


def written(volume: Volume, folder: Path, compress: bool = False,
            compact: bool = True) -> tuple[bytes, nib.Nifti1Image]:
    options = WriteOptions(compress=compress, compact=compact)
    image = write_volume(volume, folder / "v", "nifti", options)[0]
    raw = image.read_bytes()
    return (gzip.decompress(raw) if compress else raw), nib.load(image)


def check(volume: Volume, folder: Path, compress: bool = False, compact: bool = True) -> None:
    """Header bytes equal nibabel's; nibabel reads the voxels and affine back."""
    data, img = written(volume, folder, compress, compact)
    ref = nibabel_header(volume, compact)
    assert len(ref) == VOX_OFFSET
    if data[:VOX_OFFSET] != ref:
        ours = nib.Nifti1Header.from_fileobj(io.BytesIO(data))
        theirs = nib.Nifti1Header.from_fileobj(io.BytesIO(ref))
        for key in theirs.keys():
            np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
        raise AssertionError("headers differ in bytes")  # e.g. NaN payloads
    expected = nifti_safe_dtype(usable_affine(volume)).to_nifti()
    got = np.asarray(img.dataobj)
    want = np.asarray(expected.dataobj)
    if want.dtype.names is not None:
        np.testing.assert_array_equal(got, want)
    elif img.dataobj.slope != 1 or img.dataobj.inter != 0:  # float32 scl_slope/scl_inter
        np.testing.assert_allclose(got, want.astype(np.float64), rtol=2.5e-7)
    else:
        np.testing.assert_array_equal(got.astype(np.float64), want.astype(np.float64))
    np.testing.assert_allclose(img.affine, expected.affine, rtol=1e-6, atol=1e-4)
    same_acquisition_on_both_roads(volume)


def same_acquisition_on_both_roads(volume: Volume) -> None:
    """The sidecar's acquisition facts read through the fast header view equal those read
    by pydicom (the reference), where the view answers at all."""
    try:
        fast = metadata._acquisition(volume, metadata._fast_header)
    except Exception:  # the writer then reads with pydicom: nothing to compare
        return
    slow = metadata._acquisition(volume, metadata._header)
    assert repr(fast) == repr(slow)
    as_json = [json.dumps(metadata.jsonable(metadata.bids_sidecar(volume, a)), sort_keys=True)
               for a in (fast, slow)]
    assert as_json[0] == as_json[1]
    assert nifti_header_fields(volume, fast) == nifti_header_fields(volume, slow)


# ---- test_data ---------------------------------------------------------------------------

def _test_data_volumes() -> list[Volume]:
    return load(TEST_DATA)


def test_every_test_data_series(tmp_path: Path) -> None:
    volumes = _test_data_volumes()
    # every series the installed handlers decode: 26 with the native handler alone
    # (tests_minimal), over 50 with every handler
    assert len(volumes) >= 20
    for i, volume in enumerate(volumes):
        folder = tmp_path / str(i)
        folder.mkdir()
        check(volume, folder, compress=i % 2 == 0)


# ---- corpus: the folders the dcm2niix oracle converts ----------------------------------

def _corpus_folders() -> list:
    from tests.test_dcm2niix_oracle import _folders

    folders = _folders()
    return [pytest.param(f, id=f) for f in folders] or [pytest.param(None, id="no-corpus")]


@pytest.mark.corpus
@pytest.mark.needs_handler("pylibjpeg", "gdcm", "charls")
@pytest.mark.parametrize("folder", _corpus_folders())
def test_every_corpus_series(corpus: Path, folder: str, tmp_path: Path) -> None:
    files = sorted(str(p) for p in (corpus / folder).iterdir()
                   if p.is_file() and p.suffix not in (".txt", ".md", ".json"))
    try:
        volumes = load(files)
    except Exception as exc:  # the oracle reports folders that do not load
        pytest.skip(f"does not load: {type(exc).__name__}")
    for i, volume in enumerate(volumes):
        folder_i = tmp_path / str(i)
        folder_i.mkdir()
        check(volume, folder_i)


# ---- synthetic -----------------------------------------------------------------------------

def rotation(ax: float, ay: float, az: float) -> np.ndarray:
    cx, sx, cy, sy, cz, sz = (np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az),
                              np.sin(az))
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def affine(m: np.ndarray, spacing=(2.5, 0.8, 0.75), origin=(-100.0, -90.5, 40.25)
           ) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = m * np.asarray(spacing)
    out[:3, 3] = origin
    return out


SHEAR = np.array([[1, 0, 0], [0.3, 1, 0], [0, 0, 1.0]])  # gantry tilt: slice axis leans
AFFINES = {
    "axial": affine(np.eye(3)),
    "oblique": affine(rotation(0.3, -0.2, 0.7)),
    "flipped": affine(np.diag([-1.0, 1.0, -1.0])),
    "left-handed": affine(np.diag([1.0, 1.0, -1.0])),
    "left-handed oblique": affine(rotation(1.1, 0.4, -2.5) @ np.diag([1.0, -1.0, 1.0])),
    "sheared": affine(SHEAR),
    "sheared oblique": affine(rotation(0.05, 0.3, 0.0) @ SHEAR),
    "half turn": affine(np.diag([1.0, -1.0, -1.0])),  # w = 0 quaternion
    "coronal": affine(np.array([[0, 0, 1.0], [1, 0, 0], [0, -1, 0]])),
    "tiny and far": affine(rotation(1e-7, 0, 0), (1e-3, 0.1, 7.0), (1e5, -3e4, 0.1)),
}


def synthetic(arr: np.ndarray, aff: np.ndarray, samples: int = 1, slope: float = 1.0,
              intercept: float = 0.0, **meta) -> Volume:
    n = arr.shape[0] if arr.ndim - (samples > 1) == 3 else arr.shape[0] * arr.shape[1]
    slices = [SliceInfo(f"/in/{i}.dcm", f"1.2.{i}", 0, tuple(aff[:3, 3]), slope, intercept,
                        "1.2.840.10008.1.2.1", "native") for i in range(n)]
    return Volume(array=arr, affine=aff, slices=slices,
                  meta={"Modality": "CT", "SamplesPerPixel": samples, **meta})


@pytest.mark.parametrize("name", list(AFFINES))
def test_affines(tmp_path: Path, name: str) -> None:
    arr = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    check(synthetic(arr, AFFINES[name]), tmp_path)


DTYPES = ["uint8", "int8", "uint16", "int16", "uint32", "int32", "int64", "uint64",
          "float32", "float64"]


@pytest.mark.parametrize("compact", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype(tmp_path: Path, dtype: str, compact: bool) -> None:
    rng = np.random.default_rng(7)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    lo, hi = (max(info.min, -5000), min(info.max, 70000)) if info else (-3, 3)
    arr = rng.integers(lo, hi, size=(3, 4, 5), endpoint=True).astype(dtype)
    if info is None:
        arr = arr * np.asarray(0.37, dtype)
    check(synthetic(arr, AFFINES["oblique"]), tmp_path, compact=compact)


def test_wide_integers_beyond_32_bits(tmp_path: Path) -> None:
    arr = np.array([0, 2**40, -(2**40), 5] * 15, dtype=np.int64).reshape(3, 4, 5)
    check(synthetic(arr, AFFINES["axial"]), tmp_path)


def test_scaled_storage(tmp_path: Path) -> None:
    stored = np.random.default_rng(2).integers(0, 256, size=(5, 6, 7))
    arr = (stored * np.float64(np.float32(0.25)) + np.float64(np.float32(-3.5))
           ).astype(np.float32)
    vol = synthetic(arr, AFFINES["sheared oblique"], slope=0.25, intercept=-3.5)
    check(vol, tmp_path, compress=True)
    assert nib.load(next(tmp_path.glob("v.nii.gz"))).dataobj.slope == 0.25


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
@pytest.mark.parametrize("frames", [1, 3])
def test_colour(tmp_path: Path, dtype: str, frames: int) -> None:
    """8-bit colour is RGB24 voxels; wider colour puts samples in NIfTI's 5th axis."""
    arr = np.random.default_rng(4).integers(0, 200, size=(frames, 4, 5, 6, 3)).astype(dtype)
    arr = arr[0] if frames == 1 else arr
    check(synthetic(arr, AFFINES["left-handed oblique"], samples=3), tmp_path)


@pytest.mark.parametrize("tr", [None, 2.0, 0.8])
def test_4d_with_and_without_tr(tmp_path: Path, tr: float | None) -> None:
    arr = np.arange(2 * 3 * 4 * 5, dtype=np.uint16).reshape(2, 3, 4, 5)
    meta = {} if tr is None else {"RepetitionTime": tr}
    check(synthetic(arr, AFFINES["flipped"], **meta), tmp_path)


def test_singular_affine_is_completed_as_nibabel_would_store_it(tmp_path: Path) -> None:
    aff = np.eye(4)
    aff[:3, 0] = 0.0  # no slice direction
    check(synthetic(np.ones((1, 4, 5), np.uint8), aff), tmp_path)


@pytest.mark.parametrize("seed", range(20))
def test_random_affines_field_by_field(seed: int) -> None:
    """Direct: random affines (any handedness, shear, scale) give nibabel's qform/sform."""
    rng = np.random.default_rng(seed)
    aff = np.eye(4)
    aff[:3, :3] = rng.normal(size=(3, 3)) * rng.uniform(0.1, 5, size=3)
    aff[:3, 3] = rng.uniform(-300, 300, size=3)
    ours = nifti1_header((7, 8, 9), np.dtype(np.int16), aff, descrip="x")
    img = nib.Nifti1Image(np.zeros((7, 8, 9), np.int16), aff)
    img.set_qform(aff, code=1)
    img.set_sform(aff, code=1)
    img.header.set_xyzt_units("mm", "sec")
    img.header["pixdim"][4] = 0.0
    img.header["descrip"] = b"x"
    ref = io.BytesIO()
    img.header.write_to(ref)
    assert ours == ref.getvalue()


def test_unsupported_dtype_and_shape_are_refused() -> None:
    with pytest.raises(ValueError, match="datatype"):
        nifti1_header((2, 2, 2), np.dtype(np.float16), np.eye(4))
    with pytest.raises(ValueError, match="16-bit"):
        nifti1_header((40000, 2, 2), np.dtype(np.uint8), np.eye(4))


def test_nifti_affine_is_the_written_sform(tmp_path: Path) -> None:
    vol = synthetic(np.zeros((2, 3, 4), np.int16), AFFINES["oblique"])
    data, img = written(vol, tmp_path)
    np.testing.assert_allclose(img.header.get_sform(), nifti_affine(vol.affine), atol=1e-4)
    assert dataclasses.asdict(vol.slices[0])  # the volume itself is untouched


# ---- the convert process imports neither nibabel nor pydicom -----------------------------

_PROBE = """
import json, sys
from dicomdecode.apps.cli import main
code = main(sys.argv[1:])
heavy = sorted(m for m in sys.modules
               if m.split('.')[0] in {'nibabel', 'pydicom', 'imagecodecs', 'scipy', 'tqdm'})
print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""


@pytest.mark.parametrize("extra", [[], ["--no-compress"]])
def test_convert_of_plain_files_imports_no_nibabel_or_pydicom(tmp_path: Path,
                                                              extra: list[str]) -> None:
    """A whole ``convert`` of an explicit VR series: nibabel's import alone costs more than
    dcm2niix's whole run, so none of the heavy libraries may be loaded by the end."""
    files = sorted((TEST_DATA / "series").glob("A_0*.dcm"))  # explicit VR little endian
    assert files
    src = tmp_path / "in"
    src.mkdir()
    for f in files:
        shutil.copy(f, src / f.name)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, "convert", "-q", *extra, str(src),
         str(tmp_path / "out")], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120)
    probe = json.loads(result.stderr.strip().splitlines()[-1])
    assert probe["code"] == 0, result.stderr
    assert probe["heavy"] == [], probe["heavy"]
    images = list((tmp_path / "out").glob("*.nii*"))
    assert len(images) == 1
    img = nib.load(images[0])
    expected = load(files)[0].to_nifti()
    np.testing.assert_array_equal(img.get_fdata(), expected.get_fdata())
    np.testing.assert_allclose(img.affine, expected.affine, atol=1e-4)


# ---- the sidecar's facts through the fast header view --------------------------------------

def _dicom_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()
                  and p.suffix not in (".txt", ".md", ".json", ".tsv", ".py"))


def _same_facts(paths: list[Path]) -> int:
    """Per file: the acquisition facts through the fast view equal pydicom's, and the
    view's element listing (tags, VRs, sequence items) equals pydicom's; returns how many
    files the view answered."""
    from dicomdecode.read.elements import PIXEL_TAGS
    from dicomdecode.read.header import NeedsFullParse
    from dicomdecode.scan.flavours.acquisition import acquisition_of
    from dicomdecode.scan.flavours.base import vendor_of

    answered = 0
    for path in paths:
        try:
            fast = metadata._fast_header(str(path))
            ours = acquisition_of(fast, vendor_of(fast))
        except NeedsFullParse:
            continue
        ds = metadata._header(str(path))
        assert ds is not None, path
        ref = acquisition_of(ds, vendor_of(ds))
        assert repr(ours) == repr(ref), path
        listed = [(e.tag, e.VR) for e in fast if e.tag not in PIXEL_TAGS]
        assert listed == [(int(e.tag), e.VR) for e in ds], path
        for elem in fast:
            if elem.VR == "SQ":
                try:
                    items = elem.value
                except NeedsFullParse:
                    continue
                ref_items = ds[elem.tag].value
                assert [sorted(int(t) for t in item.keys()) for item in ref_items] == \
                    [sorted(item._raw) for item in items], (path, hex(elem.tag))
        answered += 1
    return answered


def test_sidecar_facts_through_the_header_view_test_data() -> None:
    assert _same_facts(_dicom_files(TEST_DATA)) > 20


@pytest.mark.corpus
def test_sidecar_facts_through_the_header_view_corpus(corpus: Path) -> None:
    """pydicom as the reference on every corpus file the view answers (most of them)."""
    assert _same_facts(_dicom_files(corpus)) > 100
