"""convert's stored-values road to NIfTI (writers/compact.py ``plan_stored_values``).

Where every slice shares one rescale, ``convert`` decodes the stored values and writes them
with scl_slope/scl_inter, as dcm2niix does. Checked against independent readers: nibabel's
``get_fdata`` of every file equals ``load()``'s volume and the file the old road writes
(``load`` + ``write_volume``), Python's ``gzip`` reads the .nii.gz as the .nii's bytes, and
dcm2niix's own files have the same voxels, dtype and scl (corpus).
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import dicomdecode
from dicomdecode.apps.convert import convert
from dicomdecode.options import Options
from dicomdecode.writers import write_volume
from dicomdecode.writers.compact import (
    StoredValues,
    exact_scl,
    plan_stored_values,
    settle,
    stored_storage,
)

DATA = Path(__file__).resolve().parents[1] / "test_data"
ROAD = "decoded as stored"


def _voxels(img: nib.Nifti1Image) -> np.ndarray:
    """nibabel's voxels: ``get_fdata``, or the RGB24 triples as a last axis."""
    if img.get_data_dtype().names:
        raw = np.asarray(img.dataobj)
        return np.stack([raw[name] for name in raw.dtype.names], axis=-1).astype(float)
    return np.asarray(img.get_fdata())


def _outputs(root: Path, suffix: str) -> list[Path]:
    return sorted(root.rglob(f"*{suffix}"))


def _sidecar(image: Path) -> dict:
    stem = image.name[: -len(".nii.gz")] if image.name.endswith(".gz") else image.stem
    return json.loads(image.with_name(stem + ".json").read_text())


def _slices(image: Path) -> list[str]:
    stem = image.name[: -len(".nii.gz")] if image.name.endswith(".gz") else image.stem
    doc = json.loads(image.with_name(stem + "_slices.json").read_text())
    return sorted({s["path"] for s in doc["slices"]})


@pytest.mark.parametrize(("slope", "inter", "dtype", "bits", "expected"), [
    (1.0, -1024.0, np.int16, 16, (1.0, -1024.0)),
    (1.0, 0.0, np.uint16, 12, (1.0, 0.0)),
    (0.25, -3.5, np.uint8, 8, (0.25, -3.5)),
    (3.774114, 6.1e-05, np.uint16, 12, (float(np.float32(3.774114)),
                                        float(np.float32(6.1e-05)))),
    (0.0, 1.0, np.int16, 16, None),                 # no slope
    (1.0, float(2**24 + 1), np.int16, 16, None),    # an intercept float32 cannot hold
    (1.0, -1024.0, np.int32, 32, None),             # only 8/16-bit stored values
])
def test_exact_scl(slope, inter, dtype, bits, expected) -> None:
    assert exact_scl(slope, inter, np.dtype(dtype), bits) == expected


def test_exact_scl_agrees_with_the_old_road_on_every_value() -> None:
    """For a fractional slope, the old road's float32 volume of every 12-bit value, read
    back through the float32 scl, is the stored value times scl (what the road writes)."""
    slope, inter = 3.774114, 6.1e-05
    s32, b32 = exact_scl(slope, inter, np.dtype(np.uint16), 12)
    values = np.arange(4096, dtype=np.float64)
    old = (values * slope + inter).astype(np.float32)
    back = np.rint((old.astype(np.float64) - b32) / s32)
    np.testing.assert_array_equal(back, values)


def test_uint16_becomes_int16_below_16_stored_bits() -> None:
    """dcm2niix's default (-l o): uint16 with Bits Stored < 16 is written as int16 (same
    bits), a 16-bit uint16 stays uint16 whatever its maximum."""
    plan = StoredValues(1.0, 0.0, (1.0, 0.0), np.dtype(np.uint16), np.dtype(np.uint16),
                        "standard", bits_stored=12)
    small = np.array([[[0, 4095]]], dtype=np.uint16)
    arr, storage = stored_storage(small, plan)
    assert arr.dtype == np.int16 and storage.dtype == np.int16 and arr.base is small
    np.testing.assert_array_equal(arr, small)
    arr, storage = stored_storage(small, dataclasses.replace(plan, bits_stored=16))
    assert arr is small and storage.dtype == np.uint16


def test_plan_needs_a_plain_linear_rescale() -> None:
    (series,) = [s for s in dicomdecode.scan(str(DATA / "series")).series
                 if len(s.images) > 4][:1]
    base = Options.resolve(None)
    assert plan_stored_values(series, base) is not None
    for change in ({"rescale": False}, {"rescale": True}, {"mask_padding": True},
                   {"invert_monochrome1": True}):
        assert plan_stored_values(series, dataclasses.replace(base, **change)) is None, change
    odd = dataclasses.replace(series, images=[
        dataclasses.replace(im, slope=2.0) if k == 1 else im
        for k, im in enumerate(series.images)])
    assert plan_stored_values(odd, base) is None  # per-slice slopes


def test_settle_rescales_what_the_plan_did_not_foresee() -> None:
    """A volume of stored values whose slices do not match the plan is rescaled as
    ``load()`` would, and the old road takes over."""
    path = str(DATA / "s16_bs16_ct__explicit_le.dcm")
    stored = dicomdecode.load(path, rescale=False)[0]
    loaded = dicomdecode.load(path)[0]
    (sl,) = {(s.slope, s.intercept) for s in stored.slices}
    plan = StoredValues(float(sl[0]), float(sl[1]), (sl[0] + 1.0, sl[1]),
                        stored.array.dtype, loaded.array.dtype, "standard")
    volume, kept = settle(stored, plan)
    assert kept is None
    assert volume.array.dtype == loaded.array.dtype
    np.testing.assert_array_equal(volume.array, loaded.array)
    fits = dataclasses.replace(plan, source_scale=sl)
    volume, kept = settle(dicomdecode.load(path, rescale=False)[0], fits)
    assert kept is fits and volume.meta["dtype"] == str(loaded.array.dtype)


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("stored")
    out = {}
    for name, compress in (("gz", True), ("nii", False)):
        convert(str(DATA), str(root / name), progress=False, compress=compress)
        out[name] = root / name
    return out


def test_every_file_reads_back_as_the_loaded_volume(converted: dict[str, Path],
                                                    tmp_path: Path) -> None:
    """Both roads, every test_data series: nibabel's voxels equal ``load()``'s volume and
    the old road's file; the road stores the DICOM stored type with dcm2niix's scl."""
    gz = _outputs(converted["gz"], ".nii.gz")
    assert gz
    on_road = 0
    for image in gz:
        storage = _sidecar(image)["dicomdecode"]["storage"]
        img = nib.load(image)
        got = _voxels(img)
        files = _slices(image)
        volumes = dicomdecode.load(files)
        matches = [v for v in volumes if np.array_equal(
            _voxels(nib.load(write_volume(v, tmp_path / "old", "nifti")[0])), got)]
        assert matches, image.name
        if ROAD in storage["Method"]:
            on_road += 1
            volume = matches[0]
            assert storage["ArrayDtype"] == str(volume.array.dtype)
            assert img.get_data_dtype() == np.dtype(storage["StoredDtype"])
            assert img.get_data_dtype().kind in "iu" and img.get_data_dtype().itemsize <= 2
            (scale,) = {(s.slope, s.intercept) for s in volume.slices}
            assert (img.dataobj.slope, img.dataobj.inter) == (
                float(np.float32(scale[0])), float(np.float32(scale[1])))
    assert on_road >= len(gz) // 2


def test_gz_is_a_standard_gzip_of_the_nii(converted: dict[str, Path]) -> None:
    for image in _outputs(converted["gz"], ".nii.gz"):
        raw = converted["nii"] / image.relative_to(converted["gz"]).with_suffix("")
        assert gzip.decompress(image.read_bytes()) == raw.read_bytes(), image.name


#: corpus folders where dcm2niix writes the stored values with scl, as the road does
CORPUS_FOLDERS = ("dcm_qa_12bit/In", "dcm_qa_uih/In", "dcm_qa_nih/In")


@pytest.mark.parametrize("folder", CORPUS_FOLDERS)
def test_road_equals_dcm2niix(corpus: Path, tmp_path: Path, folder: str) -> None:
    """Voxels, affine, stored dtype and scl_slope/scl_inter equal dcm2niix's files."""
    from tests.test_dcm2niix_oracle import dcm2niix_exe, image_mismatch

    src = corpus / folder
    if not src.is_dir():
        pytest.skip(f"{folder} is not in this corpus")
    convert(str(src), str(tmp_path / "ours"), progress=False, compress=False)
    (tmp_path / "theirs").mkdir()
    subprocess.run([dcm2niix_exe(), "-z", "n", "-b", "n", "-o", str(tmp_path / "theirs"),
                    str(src)], check=True, capture_output=True, timeout=300)
    theirs = [p for p in _outputs(tmp_path / "theirs", ".nii")
              if "_Tilt" not in p.name and "_Eq" not in p.name]
    ours = _outputs(tmp_path / "ours", ".nii")
    assert ours and theirs
    for image in ours:
        if ROAD not in _sidecar(image)["dicomdecode"]["storage"]["Method"]:
            continue
        mine = nib.load(image)
        same = [t for t in theirs if image_mismatch(mine, nib.load(t)) is None]
        assert same, image.name
        ref = nib.load(same[0])
        assert mine.get_data_dtype() == ref.get_data_dtype(), image.name
        assert (mine.dataobj.slope, mine.dataobj.inter) == (ref.dataobj.slope,
                                                            ref.dataobj.inter), image.name
