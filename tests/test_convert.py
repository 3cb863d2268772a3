"""The conversion job on the real corpus: accounting, failures, references, kill + resume.

References are independent of the code under test: the file list comes from ``os.walk``,
"should fail" from the corpus MANIFEST (pydicom with every plugin) plus the README's list of
known-bad files, voxels and affines from dcm2niix's reference NIfTI files.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pydicom
import pytest

from dicomdecode.apps.cli import main
from tests.conftest import ROOT, corpus_params, read_tsv

# These tests exercise the whole pipeline on compressed data too: they need every
# decoder. Reduced-install sessions (nox tests_minimal/_pylibjpeg/_gdcm) deselect them.
pytestmark = pytest.mark.needs_handler("pylibjpeg", "gdcm", "charls")

# README "Files pydicom 3 cannot decode": these two are broken for every decoder
KNOWN_BAD = ("pylibjpeg-data/ljdata/ds/JPEG2000Lossless/966.dcm",
             "pydicom-data/data_store/data/emri_small_jpeg_2k_lossless_too_short.dcm")


def _walk(root: Path) -> list[str]:
    return sorted(os.path.join(d, f) for d, _, files in os.walk(root) for f in files)


@pytest.fixture(scope="module")
def corpus_run(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The whole corpus converted to NIfTI in one command."""
    out = tmp_path_factory.mktemp("nifti")
    report_path = out.parent / "report.json"
    code = main(["convert", str(corpus), str(out / "dst"), "--format", "nifti", "--workers", "2",
                 "--report", str(report_path), "--quiet"])
    report = json.loads(report_path.read_text())
    return {"code": code, "report": report, "dst": out / "dst"}


def test_report_accounts_for_every_file(corpus: Path, corpus_run: dict[str, Any]) -> None:
    report = corpus_run["report"]
    paths = [os.path.abspath(f["path"]) for f in report["files"]]
    assert len(paths) == len(set(paths)), "a file appears twice"
    assert sorted(paths) == [os.path.abspath(p) for p in _walk(corpus)]
    for f in report["files"]:
        assert f["status"] in ("converted", "skipped", "failed")
        if f["status"] == "converted":
            assert f["output"] and Path(f["output"]).is_file() and f["series"]
        else:
            assert f["reason"], f
    # every DICOM file of the MANIFEST that pydicom decodes ends up in an output
    manifest = read_tsv("MANIFEST.tsv")
    by_path = {os.path.abspath(f["path"]): f for f in report["files"]}
    for row in manifest:
        entry = by_path[os.path.abspath(corpus / row["relative_path"])]
        if row["pydicom_ok"] == "yes":
            assert (entry["status"] == "converted" or entry["reason"].startswith("duplicate of")
                    or _lost_with_a_bad_slice(entry)), (row["relative_path"], entry)


def _lost_with_a_bad_slice(entry: dict[str, Any]) -> bool:
    """A good file of a series one of whose KNOWN_BAD slices cannot be decoded: the series
    fails as a whole (never a partial volume called converted), naming the bad file."""
    return (entry["status"] == "failed" and "slices could not be decoded" in entry["reason"]
            and any(os.path.basename(bad) in entry["reason"] for bad in KNOWN_BAD))


def test_known_bad_files_fail_with_reasons(corpus: Path, corpus_run: dict[str, Any]) -> None:
    report = corpus_run["report"]
    assert corpus_run["code"] == 1 and report["exit_code"] == 1
    by_path = {os.path.abspath(f["path"]): f for f in report["files"]}
    for rel in KNOWN_BAD:
        entry = by_path[os.path.abspath(corpus / rel)]
        assert entry["status"] == "failed" and len(entry["reason"]) > 10, entry
        assert entry["output"] is None
    # nothing pydicom (all plugins) decodes is reported failed
    ok = {os.path.abspath(corpus / r["relative_path"]) for r in read_tsv("MANIFEST.tsv")
          if r["pydicom_ok"] == "yes"}
    wrongly = [f["path"] for f in report["files"] if f["status"] == "failed"
               and os.path.abspath(f["path"]) in ok and not _lost_with_a_bad_slice(f)]
    assert not wrongly


def _candidates(img: nib.Nifti1Image) -> list[nib.Nifti1Image]:
    img = nib.as_closest_canonical(img)
    out = [img]
    if img.ndim == 4:
        out += [img.slicer[..., i] for i in range(img.shape[3])]
    return out


def _matches(ours: nib.Nifti1Image, ref: nib.Nifti1Image) -> bool:
    if ours.shape != ref.shape or np.abs(ours.affine - ref.affine).max() > 0.01:
        return False
    a, b = ours.get_fdata(), ref.get_fdata()
    return bool(np.allclose(a, b, rtol=1e-5, atol=2e-5 * max(float(np.abs(b).max()), 1.0)))


REF_ROWS = [r for r in read_tsv("SERIES_REFERENCES.tsv") if r["ref_nifti"]]


@pytest.mark.parametrize("row", corpus_params(REF_ROWS, "ref_nifti"))
def test_nifti_outputs_equal_dcm2niix(corpus: Path, corpus_run: dict[str, Any],
                                      row: dict[str, str]) -> None:
    by_path = {os.path.abspath(f["path"]): f for f in corpus_run["report"]["files"]}
    files = [f for f in sorted(glob.glob(str(corpus / row["dicom_files"])))
             if not f.endswith(".txt")]
    entries = [by_path[os.path.abspath(f)] for f in files]
    outputs = sorted({o for e in entries for o in e["outputs"]})
    assert outputs, f"no output for {row['dicom_files']}"
    ref = nib.as_closest_canonical(nib.load(corpus / row["ref_nifti"]))
    if row["ref_volume_subset"].strip() == "volume 0" and ref.ndim == 4:
        ref = ref.slicer[..., 0]
    assert any(_matches(c, ref) for o in outputs for c in _candidates(nib.load(o))), (
        f"no output of {row['dicom_files']} equals {row['ref_nifti']}: {outputs}")


def test_ts_1_nifti_equals_reference(corpus: Path, corpus_run: dict[str, Any]) -> None:
    """The issue's named case: dcm_qa_ts/In/1.dcm against Ref/1.nii, via its sidecar."""
    by_path = {os.path.abspath(f["path"]): f for f in corpus_run["report"]["files"]}
    src = os.path.abspath(corpus / "dcm_qa_ts/In/1.dcm")
    entry = by_path[src]
    assert entry["status"] == "converted" and entry["output"].endswith(".nii.gz")
    provenance = Path(entry["output"][: -len(".nii.gz")] + "_slices.json")
    slices = json.loads(provenance.read_text())["slices"]
    index = next(i for i, s in enumerate(slices) if os.path.abspath(s["path"]) == src)
    n_per_volume = sum(1 for s in slices if s["path"] == slices[0]["path"])
    ours = nib.as_closest_canonical(nib.load(entry["output"]))
    if ours.ndim == 4:
        ours = ours.slicer[..., index // max(n_per_volume, 1)]
    ref = nib.as_closest_canonical(nib.load(corpus / "dcm_qa_ts/Ref/1.nii"))
    assert ours.shape == ref.shape
    assert np.abs(ours.affine - ref.affine).max() < 0.01
    np.testing.assert_array_equal(ours.get_fdata(), ref.get_fdata())


# --------------------------------------------------------------------------- small jobs


def _cli(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "dicomdecode.apps.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600, **kw)


def test_clean_folder_exit_0_and_resume_force(corpus: Path, tmp_path: Path) -> None:
    src = corpus / "dcm_qa_ts"
    dst = tmp_path / "out"
    assert main(["convert", str(src), str(dst), "--format", "npz", "-q", "--workers", "1",
                 "--report", str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    dicoms = [f for f in report["files"] if f["path"].endswith(".dcm")]
    assert len(dicoms) == 9 and all(f["status"] == "converted" for f in dicoms)
    assert all(f["status"] == "skipped" for f in report["files"] if f not in dicoms)
    # the same image in 9 transfer syntaxes, saved as series numbers 1-9 (as dcm2niix's
    # Ref/1..9.nii): each volume's voxel sum equals pydicom's sum of the mosaic (its
    # padding tiles are zero, README sum_check)
    outputs = sorted({f["output"] for f in dicoms})
    assert len(outputs) == 9
    expected = int(pydicom.dcmread(src / "In/1.dcm").pixel_array.astype(np.int64).sum())
    for npz in outputs:
        with np.load(npz) as z:
            arr = z["array"]
            assert arr.shape == (35, 64, 64)
            assert int(arr.astype(np.int64).sum()) == expected
    # again without --resume/--force: outputs exist, so files fail (exit 1), nothing changes
    mtimes = {p: p.stat().st_mtime_ns for p in dst.iterdir() if p.name != ".dicomdecode"}
    assert main(["convert", str(src), str(dst), "--format", "npz", "-q"]) == 1
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    assert main(["convert", str(src), str(dst), "--format", "npz", "-q", "--resume"]) == 0
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    assert main(["convert", str(src), str(dst), "--format", "npz", "-q", "--force"]) == 0
    assert all(p.stat().st_mtime_ns != mtimes[p] for p in mtimes)


def test_all_formats_one_series(corpus: Path, tmp_path: Path) -> None:
    src = corpus / "dcm_qa_nih/In/20180918Si/mr_0003"
    expected = None
    for fmt in ("nifti", "npy", "npz", "zarr"):
        dst = tmp_path / fmt
        assert main(["convert", str(src), str(dst), "-f", fmt, "-q", "--workers", "1"]) == 0
        (main_out,) = [p for p in dst.iterdir() if p.suffix != ".json" and p.name != ".dicomdecode"]
        if fmt == "nifti":
            arr = np.asarray(nib.load(main_out).dataobj).transpose(3, 2, 1, 0)
        elif fmt == "npy":
            arr = np.load(main_out)
        elif fmt == "npz":
            arr = np.load(main_out)["array"]
        else:
            import zarr

            arr = zarr.open_array(str(main_out), mode="r")[...]
        expected = arr if expected is None else expected
        np.testing.assert_array_equal(arr, expected)
    assert expected is not None and expected.shape == (2, 5, 72, 72)


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert main(["convert", str(tmp_path / "missing"), str(tmp_path / "o")]) == 2
    assert main(["convert", str(tmp_path), str(tmp_path / "o"), "--format", "jpeg"]) == 2
    assert main(["convert", str(tmp_path), str(tmp_path / "o"), "--resume", "--force"]) == 2
    assert main(["convert", str(tmp_path), str(tmp_path / "o"), "--workers", "0"]) == 2
    assert main(["convert", str(tmp_path), str(tmp_path / "o"), "--handlers", "nope"]) == 2
    assert main(["convert", str(tmp_path), str(tmp_path / "inside")]) == 2  # DST inside SRC
    assert main(["frobnicate"]) == 2


def _convert_until_five_outputs(src: Path, dst: Path, *extra: str) -> subprocess.Popen[bytes]:
    """Start a CLI conversion to DICOM and return once five outputs are complete."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen([sys.executable, "-m", "dicomdecode.apps.cli", "convert", str(src),
                             str(dst), "--format", "dicom", "--workers", "1", "--quiet", *extra],
                            cwd=ROOT, env=env, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        if dst.exists() and sum(1 for p in dst.rglob("*.dcm")
                                 if not p.name.startswith(".dicomdecode-tmp-")) >= 5:
            break
        time.sleep(0.005)
    return proc


def test_killed_conversion_leaves_no_partial_output_and_resumes(corpus: Path,
                                                                tmp_path: Path) -> None:
    # the largest folder of the corpus, so the kill lands well before the end on any machine
    src = corpus / "dcm_qa_nih/In"
    n_inputs = len([p for p in _walk(src) if not p.endswith(".txt")])
    dst = tmp_path / "dst"
    proc = _convert_until_five_outputs(src, dst)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole run: the command and its worker
    proc.wait()
    finished = [p for p in dst.rglob("*.dcm") if not p.name.startswith(".dicomdecode-tmp-")]
    assert 5 <= len(finished) < n_inputs, "kill came too late to test anything"
    for p in finished:  # every output under its final name is whole
        ds = pydicom.dcmread(p)
        assert ds.pixel_array.size == int(ds.Rows) * int(ds.Columns)
    # resume: finishes the job, keeps what was done, leaves no temporaries
    report_path = tmp_path / "r.json"
    done = {p: p.stat().st_mtime_ns for p in finished}
    result = _cli("convert", str(src), str(dst), "--format", "dicom", "--resume", "--quiet",
                  "--report", str(report_path))
    assert result.returncode == 0, result.stderr
    report = json.loads(report_path.read_text())
    converted = [f for f in report["files"] if f["status"] in ("converted", "kept")]
    assert len(converted) == n_inputs
    assert sum(f["status"] == "kept" for f in converted) == len(done)
    assert all(p.stat().st_mtime_ns == t for p, t in done.items())
    assert not [p for p in dst.rglob("*") if p.name.startswith(".dicomdecode-tmp-")]
    assert len(list(dst.rglob("*.dcm"))) == n_inputs
    # each input's "output" is the uncompressed copy of that very instance
    for f in converted[::25]:
        a = pydicom.dcmread(f["path"], stop_before_pixels=True)
        b = pydicom.dcmread(f["output"], stop_before_pixels=True)
        assert a.SOPInstanceUID == b.SOPInstanceUID
        assert b.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"


def test_interrupted_conversion_still_writes_a_complete_report(corpus: Path,
                                                                tmp_path: Path) -> None:
    """Ctrl-C: exit 130, and the report names every input once, the files not reached
    marked failed as interrupted (nothing silently missing)."""
    src = corpus / "dcm_qa_nih/In"
    n_inputs = len(list(_walk(src)))
    dst, report_path = tmp_path / "dst", tmp_path / "r.json"
    proc = _convert_until_five_outputs(src, dst, "--report", str(report_path))
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130
    report = json.loads(report_path.read_text())
    paths = [f["path"] for f in report["files"]]
    assert len(paths) == len(set(paths)) == n_inputs
    interrupted = [f for f in report["files"] if "interrupted" in f["reason"]]
    converted = [f for f in report["files"] if f["status"] == "converted"]
    assert interrupted and converted, "the interrupt came too early or too late to test"
    assert all(f["status"] == "failed" and f["output"] is None for f in interrupted)
    assert not [p for p in dst.rglob("*") if p.name.startswith(".dicomdecode-tmp-")]
