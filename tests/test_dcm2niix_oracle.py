"""dcm2niix as the test oracle: every corpus series folder, converted live.

For every folder of the shared corpus that holds DICOM images, dcm2niix (the pip package,
run once per folder per session into a temporary directory) writes its NIfTI files; each of
them must equal one Volume of ``dicomdecode.load(folder's files)``: same shape and voxel
values after ``nibabel.as_closest_canonical`` on both, affine within 0.01 mm; and the file
our NIfTI writer makes of that Volume must too, stored in a type no wider than dcm2niix's. Folders where
dcm2niix converts nothing are not compared. Every deliberate difference is listed in
:data:`DIFFERENCES` with its reason (the same list as README "Differences from dcm2niix");
those outputs are expected to differ (``xfail(strict=True)``: one that starts matching fails
and must be taken off the list), so nothing is skipped silently.

dcm2niix's own ``_Tilt`` / ``_Eq`` outputs are compared with our tilt-corrected and evenly
resampled volumes in ``test_tilt_equalize.py``; here they are left out of the folder run.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from dicomdecode import load
from dicomdecode.volume import Volume
from tests.conftest import read_tsv

pytestmark = [pytest.mark.corpus, pytest.mark.needs_handler("pylibjpeg", "gdcm", "charls")]


def _folders() -> list[str]:
    """Corpus folders (relative) holding at least one DICOM image, from the MANIFEST."""
    rows = read_tsv("MANIFEST.tsv")
    return sorted({r["relative_path"].rsplit("/", 1)[0] for r in rows
                   if not r["pydicom_ok"].startswith("n/a")})


#: Why our volumes deliberately differ from dcm2niix's, one entry per README item
#: ("Differences from dcm2niix"); each reason starts with that item's title.
REASONS = {
    "uneven": "Uneven slice gaps: the Volume's slice axis is the mean step (first and last "
              "slice exact); dcm2niix's main output uses one gap. --equalize-spacing writes the "
              "evenly resampled copy, equal to dcm2niix's _Eq (tested below).",
    "copies": "One UID for several images: test collections store one image in several "
              "files (transfer syntaxes, byte orders, lossy and lossless) under one Series and "
              "SOP Instance UID; the tools keep, stack or drop different copies.",
    "rtdose": "RT Dose in Gy: we apply Dose Grid Scaling (float32) and place frames by the "
              "Grid Frame Offset Vector; dcm2niix writes stored integers with its own spacing.",
    "overlay": "Overlays: dcm2niix also writes an overlay plane (60xx,3000) as an _ROI image; "
               "we decode Pixel Data only.",
    "palette": "PALETTE COLOR: we return the stored indices (the palette is metadata); "
               "dcm2niix writes other values.",
    "lossy": "Lossy JPEG: decoders differ by a few grey levels (IDCT and upsampling "
             "rounding); ours match the pydicom-data decoded references.",
    "corrupt": "Known-bad files: a codestream its source marks as corrupt decodes differently "
               "in every decoder.",
    "ortho3d": "3D acquisitions without Image Orientation: dcm2niix re-orients 3D "
               "acquisitions from a guessed orientation, which mirrors the rows; we keep the "
               "axial guess.",
    "imager": "Imager Pixel Spacing: without Pixel Spacing we use Imager Pixel Spacing "
              "(the detector-plane spacing); dcm2niix uses 1 mm.",
    "rgb_wide": "RGB with 16 or 32 bits per sample: dcm2niix converts one such file as a grey "
                "image; we keep every file as RGB.",
}

_PYD = "pydicom-data/data_store/data/"
_LJ = "pylibjpeg-data/ljdata/ds/"
_SC = "1_0_1.2.826.0.1.3680043.8.498.16157229083793556332623330502397121062"
_OB = "1_0_1.3.46.670589.14.1000.210.3.199999.20110525182826.1.0"
_US1 = "1_0_1.3.6.1.4.1.5962.1.3.13.1.20040826185059.5457"
_MR2 = "1_T1W_SE_1024_1_1.3.6.1.4.1.5962.1.3.5.1.20040826185059.5457"
_CT5 = "2_5_5mm_Plain_0_1.2.276.0.7230010.3.1.3.296485376.1.1521713419.1802493"
_EMRI = "301_0_1.2.826.0.1.3680043.2.1143.3712364435022872412969836992152438492.nii"
_DOSE = "1_0_1.2.777.777.77.7.7777.7777"

#: dcm2niix output (folder/output file name, as `run_dcm2niix` names it) -> reason.
DIFFERENCES: dict[str, str] = {
    "dcm_qa_ct/In/GE/2_0_1.2.826.0.1.3680043.9.4245.3115138630835728997848661150714813892.nii":
        REASONS["uneven"],
    **{_PYD + name: REASONS["copies"] for name in (
        "0_0_.nii", f"{_SC}.nii", f"{_SC}a.nii", f"{_OB}.nii", f"{_OB}a.nii", f"{_US1}.nii",
        f"{_US1}a.nii", f"{_MR2}.nii", f"{_MR2}a.nii", f"{_CT5}.nii", f"{_CT5}a.nii",
        "2_Quad_Capture_0_999.999.2.19941105.112000.2.nii")},
    _PYD + "18_t1_vibe_fs_tra_bh_dyn_0_1.3.12.2.1107.5.2.30.25641."
           "30010005113009191059300000190_ROI1.nii": REASONS["overlay"],
    _PYD + "1_0_1.2.392.200039.102.3.1096.12.20020524.111958.nii": REASONS["palette"],
    _PYD + _EMRI: REASONS["ortho3d"],
    _LJ + "LittleEndianExplicit/" + _EMRI: REASONS["ortho3d"],
    _LJ + "JPEG2000Lossless/1_0_1.2.9.1.5.55669.nii": REASONS["imager"],
    _LJ + "JPEG2000Lossless/4_194_0_1.2.392.200036.9123.100.11."
          "15002200303521616157144550003340146.nii": REASONS["copies"],
    _LJ + f"JPEGBaseline/{_SC}.nii": REASONS["copies"],
    _LJ + "JPEGExtended/1_0_1.2.840.113680.1.103.56887.1017329008.714317.1.nii":
        REASONS["lossy"],
    _LJ + "JPEGLossless/5_0_9.99.999.9999_.nii": REASONS["corrupt"],
    _LJ + f"LittleEndianExplicit/{_SC}.nii": REASONS["rgb_wide"],
    _LJ + f"RLELossless/{_SC}.nii": REASONS["rgb_wide"],
    _LJ + f"LittleEndianImplicit/{_DOSE}.nii": REASONS["rtdose"],
    _LJ + f"LittleEndianImplicit/{_DOSE}a.nii": REASONS["rtdose"],
    _LJ + f"RLELossless/{_DOSE}.nii": REASONS["rtdose"],
}


def dcm2niix_exe() -> str:
    exe = shutil.which("dcm2niix")
    if exe is None:
        try:
            import dcm2niix  # the pip package ships the binary
            exe = str(Path(dcm2niix.bin))
        except (ImportError, AttributeError):
            exe = None
    if exe is None:
        pytest.fail("dcm2niix is not installed (pip install dcm2niix, in the test extra)")
    return exe


def run_dcm2niix(folder: Path, out: Path) -> list[Path]:
    """dcm2niix on one folder (not its subfolders); its NIfTI outputs, _Tilt/_Eq aside."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([dcm2niix_exe(), "-d", "0", "-z", "n", "-b", "n", "-f", "%s_%p_%e_%j",
                    "-o", str(out), str(folder)], check=False, capture_output=True, timeout=300)
    return sorted(p for p in out.glob("*.nii")
                  if "_Tilt" not in p.stem and "_Eq" not in p.stem)


@pytest.fixture(scope="session")
def oracle(corpus: Path, tmp_path_factory: pytest.TempPathFactory):
    """folder -> dcm2niix outputs, each folder converted once per session."""
    cache: dict[str, list[Path]] = {}
    root = tmp_path_factory.mktemp("dcm2niix")

    def outputs(folder: str) -> list[Path]:
        if folder not in cache:
            cache[folder] = run_dcm2niix(corpus / folder, root / folder.replace("/", "__"))
        return cache[folder]
    return outputs


def _canonical_data(img: nib.Nifti1Image) -> np.ndarray:
    """Voxel values; RGB24 images as (..., 3) floats."""
    raw = np.asanyarray(img.dataobj)
    if raw.dtype.names:
        return np.stack([raw[name] for name in raw.dtype.names], axis=-1).astype(float)
    return np.asarray(img.get_fdata())


def mismatch(volume: Volume, ref: nib.Nifti1Image) -> str | None:
    """Why ``volume`` differs from dcm2niix's image ``ref``, or None when it equals it.

    Values: integers exactly; floats within float32 rounding (dcm2niix stores raw integers
    with a float32 scale factor, we store the float32 result)."""
    try:
        ours = volume.to_nifti()
    except Exception as exc:  # e.g. an affine nibabel cannot decompose
        return f"to_nifti failed: {exc}".replace("\n", " ")
    return image_mismatch(ours, ref)


def image_mismatch(ours: nib.Nifti1Image, ref: nib.Nifti1Image) -> str | None:
    """Why NIfTI image ``ours`` differs from dcm2niix's ``ref`` (same rules as
    :func:`mismatch`), or None."""
    try:
        ours = nib.as_closest_canonical(ours)
    except Exception as exc:
        return f"as_closest_canonical failed: {exc}".replace("\n", " ")
    ref = nib.as_closest_canonical(ref)
    a, b = _canonical_data(ours), _canonical_data(ref)
    if a.ndim == 4 and a.shape[3] == 1:
        a = a[..., 0]
    if b.ndim == 4 and b.shape[3] == 1:
        b = b[..., 0]
    if a.shape != b.shape:
        return f"shape {a.shape} != {b.shape}"
    aff = float(np.abs(ours.affine - ref.affine).max())
    if aff > 0.01:
        return f"affine differs by {aff:.4g} mm"
    if not np.allclose(a, b, rtol=1e-6, atol=1e-6 * max(float(np.abs(b).max()), 1.0)):
        return f"values differ, max |diff| {float(np.abs(a - b).max()):.4g}"
    return None


def written_mismatch(volume: Volume, ref: nib.Nifti1Image) -> str | None:
    """Our NIfTI writer's file for ``volume`` (compact dtype, .nii) against dcm2niix's
    ``ref``: same voxels and affine as :func:`image_mismatch` says, and stored in a type no
    wider than dcm2niix's when dcm2niix stores integers (its rule: stored values, the
    slope/intercept in scl_slope/scl_inter). None when it holds."""
    import tempfile

    from dicomdecode.writers import WriteOptions, write_volume

    with tempfile.TemporaryDirectory() as tmp:
        image = write_volume(volume, Path(tmp) / "ours", "nifti",
                             WriteOptions(compress=False))[0]
        ours = nib.load(image)
        why = image_mismatch(ours, ref)
        if why is not None:
            return f"written file: {why}"
        mine, theirs = ours.get_data_dtype(), ref.get_data_dtype()
        if theirs.kind in "iu" and not theirs.names and mine.itemsize > theirs.itemsize:
            return f"written as {mine}, wider than dcm2niix's {theirs}"
        ours.uncache()
    return None


def compare_folder(corpus: Path, folder: str, outputs: list[Path]) -> dict[str, str | None]:
    """dcm2niix output name -> None when one of our volumes equals it, else the reasons."""
    files = sorted(str(p) for p in (corpus / folder).iterdir()
                   if p.is_file() and p.suffix not in (".txt", ".md", ".json"))
    try:
        volumes = load(files)
    except Exception as exc:  # reported per output, the assertion names it
        return {o.name: f"load failed: {type(exc).__name__}: {exc}" for o in outputs}
    result: dict[str, str | None] = {}
    for out in outputs:
        ref = nib.load(out)
        reasons = [mismatch(v, ref) for v in volumes]
        if None in reasons:
            result[out.name] = written_mismatch(volumes[reasons.index(None)], ref)
            continue
        close = [f"volume {i}: {r}" for i, r in enumerate(reasons) if not r.startswith("shape")]
        result[out.name] = "; ".join(close) if close else (
            f"no volume of shape {ref.shape} (ours: {sorted({v.array.shape for v in volumes})})")
    return result


def _params() -> list:
    folders = _folders()
    if not folders:
        return [pytest.param(None, id="no-corpus")]
    return [pytest.param(f, id=f) for f in folders]


@pytest.mark.parametrize("folder", _params())
def test_every_dcm2niix_output_equals_one_volume(corpus: Path, oracle, folder: str) -> None:
    outputs = oracle(folder)
    result = compare_folder(corpus, folder, outputs)
    unexpected = {name: why for name, why in result.items()
                  if why is not None and f"{folder}/{name}" not in DIFFERENCES}
    assert not unexpected, unexpected
    listed = [k for k in DIFFERENCES if k.rsplit("/", 1)[0] == folder]
    for key in listed:  # a listed difference that is gone or now matches must leave the list
        name = key.rsplit("/", 1)[1]
        assert name in result, f"dcm2niix no longer writes {key}: unlist it"
        assert result[name] is not None, f"{key} now matches: unlist it"


def test_differences_are_documented_in_readme() -> None:
    """Each listed difference's reason is an item of README "Differences from dcm2niix"."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "## Differences from dcm2niix" in readme
    section = readme.split("## Differences from dcm2niix", 1)[1].split("\n## ", 1)[0]
    for reason in set(DIFFERENCES.values()):
        title = reason.split(":")[0]
        assert f"**{title}**" in section, title


# --------------------------------------------------------------------------- tilt and _Eq

CT_TILT = "dcm_qa_ct/In/GE"


def _same_within_rounding(ours: nib.Nifti1Image, ref: nib.Nifti1Image) -> None:
    """Stated tolerance of our resampled copies against dcm2niix's: same shape, affine within
    0.01 mm, integer voxels within 1 (dcm2niix rounds half away from zero, numpy to even,
    after each of its two passes) and at least 99.9 % of them identical."""
    ours, ref = nib.as_closest_canonical(ours), nib.as_closest_canonical(ref)
    assert ours.shape == ref.shape
    assert np.abs(ours.affine - ref.affine).max() < 0.01
    a, b = ours.get_fdata(), ref.get_fdata()
    diff = np.abs(a - b)
    assert diff.max() <= 1.0, float(diff.max())
    assert (diff == 0).mean() >= 0.999, float((diff == 0).mean())


def test_tilt_corrected_evenly_spaced_copy_equals_dcm2niix(corpus: Path, oracle) -> None:
    from dicomdecode.assemble.resample import equalize_spacing, tilt_correct

    (ref_path,) = sorted(oracle(CT_TILT)[0].parent.glob("*_Tilt_Eq*.nii"))
    (volume,) = load(corpus / CT_TILT)
    corrected = equalize_spacing(tilt_correct(volume))
    _same_within_rounding(corrected.to_nifti(), nib.load(ref_path))
    assert corrected.meta["GantryTiltCorrected"] and corrected.meta["SpacingEqualized"]
    assert not any("tilt" in w or "spacing" in w for w in corrected.warnings)


def test_convert_writes_tilt_eq_copy_and_one_line_per_series(corpus: Path, oracle,
                                                              tmp_path: Path) -> None:
    ref_path = sorted(oracle(CT_TILT)[0].parent.glob("*_Tilt_Eq*.nii"))[0]
    runs = {}
    for name, flags in {"plain": [], "strict": ["--strict"],
                        "resampled": ["--tilt-correct", "--equalize-spacing"]}.items():
        proc = subprocess.run([sys.executable, "-m", "dicomdecode", "convert",
                               str(corpus / CT_TILT), str(tmp_path / name), *flags],
                              capture_output=True, text=True, timeout=300)
        runs[name] = proc
    lines = {k: [ln for ln in p.stderr.splitlines() if ln.startswith(("warning:", "failed:"))]
             for k, p in runs.items()}
    # one line for the series (28 files), never one per file; the hint names the options
    assert len(lines["plain"]) == 1 and "--tilt-correct" in lines["plain"][0]
    assert len(lines["strict"]) == 1 and "28 files" in lines["strict"][0]
    assert len(lines["resampled"]) == 1 and "--tilt-correct" not in lines["resampled"][0]
    (copy,) = (tmp_path / "resampled").glob("*_Tilt_Eq.nii.gz")
    _same_within_rounding(nib.load(copy), nib.load(ref_path))
    assert not list((tmp_path / "plain").glob("*_Tilt*")), "copies only when asked"
