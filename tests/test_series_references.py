"""Assembled volumes against dcm2niix's reference NIfTI files from the corpus.

For every SERIES_REFERENCES.tsv row with a reference NIfTI, one Volume from
``dicomdecode.load(files)`` must equal the reference after ``as_closest_canonical`` on
both: same voxel values (nibabel ``get_fdata``) and affine within 0.01 mm.
"""

from __future__ import annotations

import glob
import json
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from dicomdecode import load
from dicomdecode.volume import Volume
from tests.conftest import corpus_params, read_tsv

# These tests exercise the whole pipeline on compressed data too: they need every
# decoder. Reduced-install sessions (nox tests_minimal/_pylibjpeg/_gdcm) deselect them.
pytestmark = pytest.mark.needs_handler("pylibjpeg", "gdcm", "charls")

ROWS = [r for r in read_tsv("SERIES_REFERENCES.tsv") if r["ref_nifti"]]


def _reference(corpus: Path, row: dict[str, str]) -> nib.Nifti1Image:
    img = nib.as_closest_canonical(nib.load(corpus / row["ref_nifti"]))
    if row["ref_volume_subset"].strip() == "volume 0" and img.ndim == 4:
        img = img.slicer[..., 0]
    return img


def mismatch(volume: Volume, ref: nib.Nifti1Image) -> str | None:
    """Why ``volume`` differs from the reference image, or None when it equals it."""
    ours = nib.as_closest_canonical(volume.to_nifti())
    if ours.shape != ref.shape:
        return f"shape {ours.shape} != {ref.shape}"
    aff = float(np.abs(ours.affine - ref.affine).max())
    if aff > 0.01:
        return f"affine differs by {aff:.4g} mm"
    a, b = ours.get_fdata(), ref.get_fdata()
    # Tolerance: dcm2niix keeps raw integers and a float32 scale factor (Philips: computed
    # in float32 as dcm2niix does, so the field map's 0.24420166 is ours too); we store the
    # float32 result, so allow float32 rounding; integer data must be exactly equal anyway.
    if not np.allclose(a, b, rtol=1e-6, atol=1e-6 * max(float(np.abs(b).max()), 1.0)):
        return f"values differ, max |diff| {float(np.abs(a - b).max()):.4g}"
    return None


@pytest.mark.corpus
@pytest.mark.parametrize("row", corpus_params(ROWS, "ref_nifti"))
def test_volume_equals_dcm2niix_reference(corpus: Path, row: dict[str, str]) -> None:
    files = sorted(glob.glob(str(corpus / row["dicom_files"])))
    files = [f for f in files if not f.endswith(".txt")]
    assert files, row["dicom_files"]
    volumes = load(files)
    ref = _reference(corpus, row)
    reasons = [mismatch(v, ref) for v in volumes]
    assert None in reasons, f"no volume matches {row['ref_nifti']}: {reasons}"


def _row(name_part: str) -> list[dict[str, str]]:
    return [r for r in ROWS if name_part in r["ref_nifti"]]


@pytest.mark.corpus
def test_philips_one_file_gives_magnitude_and_field_map(corpus: Path) -> None:
    rows = _row("Philips_WIP_B0_NS_801")
    assert len(rows) == 2
    volumes = load(corpus / rows[0]["dicom_files"])
    assert len(volumes) == 2
    for row in rows:  # each reference matched by exactly one of the two volumes
        matches = [mismatch(v, _reference(corpus, row)) is None for v in volumes]
        assert matches.count(True) == 1, row["ref_nifti"]
    assert all(v.meta["PhilipsScaling"].startswith("philips-precise") for v in volumes)


@pytest.mark.corpus
def test_canon_folder_with_two_series_gives_two_volumes(corpus: Path) -> None:
    rows = [r for r in ROWS if r["dicom_files"].startswith("dcm_qa_canon_61/In/cl/")]
    assert len(rows) == 2
    volumes = load(corpus / "dcm_qa_canon_61/In/cl")
    assert len(volumes) == 2
    for row in rows:
        matches = [mismatch(v, _reference(corpus, row)) is None for v in volumes]
        assert matches.count(True) == 1, row["ref_nifti"]


@pytest.mark.corpus
def test_ge_ct_gantry_tilt_is_reported_and_affine_sheared(corpus: Path) -> None:
    folder = corpus / "dcm_qa_ct/In/GE"
    sidecar = json.loads((corpus / "dcm_qa_ct/Ref/_2.json").read_text())
    (volume,) = load(folder)
    assert volume.array.shape[0] == len(list(folder.iterdir()))

    # Tilt expected from dcm2niix's recorded orientation: angle of the plane normal to z
    iop = np.asarray(sidecar["ImageOrientationPatientDICOM"], float)
    normal = np.cross(iop[:3], iop[3:])
    expected_tilt = np.degrees(np.arccos(abs(normal[2]) / np.linalg.norm(normal)))
    assert any("tilt" in w for w in volume.warnings)
    assert volume.meta["GantryTiltDegrees"] == pytest.approx(expected_tilt, abs=0.05)
    assert any("spacing" in w and "worst deviation" in w for w in volume.warnings)

    # Every slice's position (read independently with pydicom) lies on the affine's slice
    # axis, and the first/last slice indices map exactly onto the end positions.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        positions = np.array([[float(v) for v in pydicom.dcmread(p, stop_before_pixels=True)
                               .ImagePositionPatient] for p in sorted(folder.iterdir())])
    origin, axis = volume.affine[:3, 3], volume.affine[:3, 0]
    t = (positions - origin) @ axis / (axis @ axis)
    off_line = positions - (origin + np.outer(t, axis))
    assert np.abs(off_line).max() < 0.01
    assert not np.allclose(axis / np.linalg.norm(axis), normal / np.linalg.norm(normal),
                           atol=1e-3)  # sheared, not along the plane normal
    n = volume.array.shape[0]
    ends = volume.affine @ np.array([[0, 0, 0, 1], [n - 1, 0, 0, 1]], float).T
    got = {tuple(np.round(p, 3)) for p in ends[:3].T}
    proj = positions @ normal
    want = {tuple(np.round(positions[i], 3)) for i in (int(np.argmin(proj)), int(np.argmax(proj)))}
    assert got == want


@pytest.mark.corpus
def test_classic_and_enhanced_exports_of_one_acquisition_give_the_same_volume(
        corpus: Path) -> None:
    """Canon DTI exported twice: classic files (the corpus keeps the first volume, b=0) and
    one enhanced multi-frame file (13 volumes). The same split and ordering rules must give
    the classic volume as the enhanced export's first volume, voxel for voxel."""
    classic = [v for v in load(corpus / "dcm_qa_canon_61/In/cl")
               if v.meta.get("SeriesNumber") == 9000]
    (enhanced,) = load(corpus / "dcm_qa_canon_61/In/enh")
    assert len(classic) == 1 and enhanced.meta["Kind"] == "enhanced"
    assert enhanced.array.shape == (13, *classic[0].array.shape)
    np.testing.assert_array_equal(enhanced.array[0], classic[0].array)
    np.testing.assert_allclose(enhanced.affine, classic[0].affine, atol=1e-4)
