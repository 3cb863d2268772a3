"""Series that lose slices, re-runs into the same folder, and the console's words for both.

References are independent of the code under test: which slices a decoder set can decode
comes from pydicom's reading of each file's transfer syntax; "an install without decoder
libraries" is made real by putting modules that refuse to import first on the path of the
command (and of its worker processes).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nibabel as nib
import pydicom
import pytest

from dicomdecode.apps.cli import main
from tests.conftest import ROOT

MIXED = ROOT / "test_data" / "series" / "A_mixed"
JPEG_LS_OR_NATIVE = {"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.1",
                     "1.2.840.10008.1.2", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}
DECODER_MODULES = ("gdcm", "jpeg_ls", "libjpeg", "openjpeg", "rle", "pylibjpeg", "imagecodecs")


def _syntaxes() -> dict[str, str]:
    return {p.name: str(pydicom.dcmread(p, stop_before_pixels=True).file_meta.TransferSyntaxUID)
            for p in sorted(MIXED.glob("*.dcm"))}


def _cli(*args: str, blocked: Path | None = None) -> subprocess.CompletedProcess[str]:
    path = [str(ROOT)] if blocked is None else [str(blocked), str(ROOT)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "dicomdecode", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def _report(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def _mixed_row(report: dict[str, Any]) -> dict[str, Any]:
    (row,) = [r for r in report["series"] if "mixed" in r["name"]]
    return dict(row)


@pytest.mark.needs_handler("charls")
def test_series_missing_slices_fails_whole_unless_allowed(tmp_path: Path) -> None:
    syntaxes = _syntaxes()
    decodable = sorted(n for n, uid in syntaxes.items() if uid in JPEG_LS_OR_NATIVE)
    lost = len(syntaxes) - len(decodable)
    assert 0 < lost < len(syntaxes)
    dst = tmp_path / "out"
    result = _cli("convert", "test_data/series", str(dst), "--handlers", "charls",
                  "--report", str(tmp_path / "r.json"))
    assert result.returncode == 1
    row = _mixed_row(_report(tmp_path / "r.json"))
    assert row["status"] == "failed" and not row["outputs"]
    assert row["reason"].startswith(f"{lost} of {len(syntaxes)} slices could not be decoded")
    assert not list(dst.glob("*mixed*"))  # nothing written that looks converted
    # one line for the series on the console; each path at most once per line
    lines = [ln for ln in result.stderr.splitlines() if "mixed" in ln]
    assert len(lines) == 1 and lines[0].startswith("failed: series ")
    assert all(ln.count(str(MIXED.relative_to(ROOT))) <= 1 for ln in result.stderr.splitlines())
    # --allow-partial: written without them, status partial, the lost files failed
    dst2 = tmp_path / "partial"
    assert main(["convert", "test_data/series", str(dst2), "--handlers", "charls", "-q",
                 "--allow-partial", "--report", str(tmp_path / "p.json")]) == 1
    report = _report(tmp_path / "p.json")
    row = _mixed_row(report)
    assert row["status"] == "partial" and row["reason"].startswith(f"{lost} of")
    img = nib.load(row["outputs"][0])
    assert len(decodable) in img.shape  # the slices pydicom says charls/native can read
    by_name = {Path(f["path"]).name: f for f in report["files"] if "A_mixed" in f["path"]}
    assert sorted(n for n, f in by_name.items() if f["status"] == "converted") == decodable


def test_no_decoder_installed_gives_the_pip_hint(tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    for name in DECODER_MODULES:
        (blocked / f"{name}.py").write_text('raise ImportError("not installed (test)")\n')
    j2k = next(MIXED.glob("*j2k.dcm"))
    assert "2000" in pydicom.dcmread(j2k, stop_before_pixels=True).file_meta.TransferSyntaxUID.name
    result = _cli("convert", "test_data/series", str(tmp_path / "out"), blocked=blocked)
    assert result.returncode == 1
    assert 'pip install "dicomdecode[' in result.stderr
    assert "could not be decoded" in result.stderr
    info = _cli("info", str(j2k), "--json", blocked=blocked)
    facts = json.loads(info.stdout)
    assert facts["handlers"] == [] and 'pip install "dicomdecode[' in facts["install"]
    # RLE needs no library: the built-in decoder (read/rlecore) is always there
    rle = next(MIXED.glob("*rle.dcm"))
    facts = json.loads(_cli("info", str(rle), "--json", blocked=blocked).stdout)
    assert facts["handlers"] == ["native"]


def test_dst_that_is_a_file_is_said_plainly(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.write_text("x")
    result = _cli("convert", "test_data/series/B_001.dcm", str(target))
    assert result.returncode == 2
    assert "is a file" in result.stderr and "Errno" not in result.stderr


def _copy_series(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    shutil.copytree(ROOT / "test_data" / "series", src,
                    ignore=shutil.ignore_patterns("A_mixed"))
    return src


@pytest.mark.parametrize("fmt", ["nifti", "dicom"])
def test_rerun_says_once_and_resume_keeps_only_unchanged(tmp_path: Path, fmt: str) -> None:
    src = _copy_series(tmp_path)
    n_images = len(list(src.glob("*.dcm")))
    dst = tmp_path / "out"
    assert main(["convert", str(src), str(dst), "-f", fmt, "-q", "--workers", "1"]) == 0
    outputs = {p: p.stat().st_mtime_ns for p in dst.rglob("*")
               if p.is_file() and ".dicomdecode" not in p.parts}
    # again, no flag: one line for all existing outputs, nothing touched, exit 1
    again = _cli("convert", str(src), str(dst), "-f", fmt, "--report", str(tmp_path / "a.json"))
    assert again.returncode == 1
    assert [ln for ln in again.stderr.splitlines() if ln.startswith("not rewritten:")] and \
        len(again.stderr.splitlines()) == 2, again.stderr
    assert {p: p.stat().st_mtime_ns for p in outputs} == outputs
    # --resume: every output kept, nothing written, and the summary says so
    resumed = _cli("convert", str(src), str(dst), "-f", fmt, "--resume", "--report",
                   str(tmp_path / "r.json"))
    assert resumed.returncode == 0, resumed.stderr
    assert f"0 converted, {n_images} kept" in resumed.stderr
    assert {p: p.stat().st_mtime_ns for p in outputs} == outputs
    report = _report(tmp_path / "r.json")
    assert {r["status"] for r in report["series"]} == {"kept"}
    # a changed source: its output is rewritten, the others kept
    changed = src / "B_003.dcm"
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    assert main(["convert", str(src), str(dst), "-f", fmt, "-q", "--resume",
                 "--report", str(tmp_path / "r2.json")]) == 0
    files = {Path(f["path"]).name: f for f in _report(tmp_path / "r2.json")["files"]}
    rewritten = {n for n, f in files.items() if f["status"] == "converted"}
    expected = {"B_003.dcm"} if fmt == "dicom" else {p.name for p in src.glob("B_*.dcm")}
    assert rewritten == expected
    assert all(f["status"] == "kept" for n, f in files.items()
               if n.endswith(".dcm") and n not in expected)
