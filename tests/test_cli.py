"""The ``dicomdecode`` command as a user runs it: subcommands, output, exit codes, progress."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pydicom
import pytest

from dicomdecode.apps.cli import main
from tests.conftest import ROOT

# These tests exercise the whole pipeline on compressed data too: they need every
# decoder. Reduced-install sessions (nox tests_minimal/_pylibjpeg/_gdcm) deselect them.
pytestmark = pytest.mark.needs_handler("pylibjpeg", "gdcm", "charls")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "dicomdecode.apps.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_help_and_version() -> None:
    assert main(["--help"]) == 0
    assert main([]) == 2
    result = _cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("dicomdecode ")


def test_handlers_json_lists_installed_decoders() -> None:
    result = _cli("handlers", "--json")
    assert result.returncode == 0
    table = {row["uid"]: row for row in json.loads(result.stdout)}
    assert table["1.2.840.10008.1.2.1"]["handlers_installed"] == ["native"]
    # what is importable here must show up as installed for its syntaxes
    for module, uid, name in [("gdcm", "1.2.840.10008.1.2.4.90", "gdcm"),
                              ("openjpeg", "1.2.840.10008.1.2.4.90", "pylibjpeg"),
                              ("libjpeg", "1.2.840.10008.1.2.4.50", "libjpeg"),
                              ("imagecodecs", "1.2.840.10008.1.2.4.110", "imagecodecs")]:
        try:
            __import__(module)
        except ImportError:
            continue
        assert name in table[uid]["handlers_installed"], (uid, table[uid])
    text = _cli("handlers")
    assert text.returncode == 0 and "1.2.840.10008.1.2.4.90" in text.stdout


def test_info_matches_pydicom_header(corpus: Path) -> None:
    path = corpus / "dcm_qa_ts/In/7.dcm"
    result = _cli("info", str(path), "--json")
    assert result.returncode == 0, result.stderr
    info: dict[str, Any] = json.loads(result.stdout)
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert info["transfer_syntax"] == ds.file_meta.TransferSyntaxUID
    assert (info["rows"], info["columns"]) == (ds.Rows, ds.Columns)
    assert info["bits_allocated"] == ds.BitsAllocated
    assert _cli("info", str(corpus / "dcm_qa_ts/README.md")).returncode == 1
    assert _cli("info", str(corpus / "no-such-file")).returncode == 2


def test_scan_json_accounts_for_files(corpus: Path) -> None:
    src = corpus / "dcm_qa_canon_61/In/cl"  # two series in one folder
    result = _cli("scan", str(src), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    on_disk = sorted(str(p) for p in src.rglob("*") if p.is_file())
    in_series = {im["path"] for s in data["series"] for im in s["images"]}
    skipped = {s["path"] for s in data["skipped"]}
    assert sorted(in_series | skipped) == on_disk and not in_series & skipped
    series_uids = {pydicom.dcmread(p, stop_before_pixels=True).SeriesInstanceUID
                   for p in on_disk if p.endswith(".dcm")}
    assert {s["series_uid"] for s in data["series"]} == series_uids
    table = _cli("scan", str(src))
    assert table.returncode == 0 and f"{len(data['series'])} series" in table.stdout


def test_progress_only_on_terminal_or_when_asked(corpus: Path, tmp_path: Path) -> None:
    src = str(corpus / "dcm_qa_nih/In/20180918Si/mr_0003")
    piped = _cli("convert", src, str(tmp_path / "a"), "--workers", "1")
    assert piped.returncode == 0, piped.stderr
    assert "converting" not in piped.stderr and "\r" not in piped.stderr
    assert "converted" in piped.stderr.splitlines()[-1]  # the one summary line
    asked = _cli("convert", src, str(tmp_path / "b"), "--workers", "1", "--progress")
    assert asked.returncode == 0 and "converting" in asked.stderr
    quiet = _cli("convert", src, str(tmp_path / "c"), "--workers", "1", "--quiet")
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""


def test_failures_listed_and_exit_1(corpus: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    good = corpus / "dcm_qa_ts/In/1.dcm"
    (src / "good.dcm").write_bytes(good.read_bytes())
    # a truncated copy: header intact, pixel data cut short
    data = (corpus / "dcm_qa_ts/In/2.dcm").read_bytes()  # another instance of the series
    (src / "cut.dcm").write_bytes(data[: len(data) - 5000])
    (src / "notes.txt").write_text("not DICOM")
    result = _cli("convert", str(src), str(tmp_path / "out"), "--format", "npy",
                  "--report", str(tmp_path / "r.json"))
    assert result.returncode == 1
    assert "failed: " in result.stderr and "cut.dcm" in result.stderr
    files = {Path(f["path"]).name: f for f in json.loads((tmp_path / "r.json").read_text())["files"]}
    assert files["good.dcm"]["status"] == "converted"
    assert files["cut.dcm"]["status"] == "failed" and files["cut.dcm"]["reason"]
    assert files["notes.txt"]["status"] == "skipped"


def test_broken_copy_of_a_duplicate_instance_does_not_hide_the_good_one(
        corpus: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    data = (corpus / "dcm_qa_ts/In/1.dcm").read_bytes()
    (src / "a_cut.dcm").write_bytes(data[: len(data) - 5000])  # same SOP Instance UID
    (src / "b_good.dcm").write_bytes(data)
    assert main(["convert", str(src), str(tmp_path / "out"), "-f", "npz", "-q",
                 "--report", str(tmp_path / "r.json")]) == 1
    files = {Path(f["path"]).name: f for f in json.loads((tmp_path / "r.json").read_text())["files"]}
    assert files["a_cut.dcm"]["status"] == "failed"
    good = files["b_good.dcm"]
    assert good["status"] == "converted" and Path(good["output"]).is_file()
    import numpy as np

    with np.load(good["output"]) as z:
        assert int(z["array"].astype(np.int64).sum()) == int(
            pydicom.dcmread(corpus / "dcm_qa_ts/In/1.dcm").pixel_array.astype(np.int64).sum())


@pytest.mark.parametrize("fmt", ["dicom", "npz"])
def test_single_file_source(corpus: Path, tmp_path: Path, fmt: str) -> None:
    src = corpus / "pylibjpeg-data/ljdata/ds/JPEG2000Lossless/MR_small_jp2klossless.dcm"
    if not src.exists():
        pytest.skip("file not in corpus")
    assert main(["convert", str(src), str(tmp_path), "-f", fmt, "-q"]) == 0
    outputs = [p for p in tmp_path.iterdir() if p.name != ".dicomdecode"]  # resume records
    assert len(outputs) == 1
    if fmt == "dicom":
        assert outputs[0].name == src.name


def test_dicom_output_names_hide_patient_name(corpus: Path, tmp_path: Path) -> None:
    good = corpus / "dcm_qa_ts/In/1.dcm"
    ds = pydicom.dcmread(good, stop_before_pixels=True)
    family = str(ds.PatientName).split("^")[0]
    if len(family) < 3:
        pytest.skip("patient name too short to test")
    src = tmp_path / "src" / f"{family}_study"
    src.mkdir(parents=True)
    (src / f"{family}_1.dcm").write_bytes(good.read_bytes())
    dst = tmp_path / "out"
    assert main(["convert", str(tmp_path / "src"), str(dst), "-f", "dicom", "-q"]) == 0
    (out,) = [p for p in dst.rglob("*") if p.is_file() and ".dicomdecode" not in p.parts]
    assert family.lower() not in str(out.relative_to(dst)).lower()
    for record in (dst / ".dicomdecode").rglob("*"):  # --resume's records name no patient
        assert family.lower() not in str(record.relative_to(dst)).lower()
        assert record.is_dir() or family.lower() not in record.read_text().lower()
    assert pydicom.dcmread(out).SOPInstanceUID == ds.SOPInstanceUID


def test_progress_bar_on_a_terminal(corpus: Path, tmp_path: Path) -> None:
    pty = pytest.importorskip("pty")
    src = str(corpus / "dcm_qa_nih/In/20180918Si/mr_0003")
    code = ("import sys; from dicomdecode.apps.cli import main; "
            f"sys.exit(main(['convert', {src!r}, {str(tmp_path / 'o')!r}, '--workers', '1']))")
    pid, fd = pty.fork()
    if pid == 0:  # child: stderr is the pseudo-terminal
        os.environ["PYTHONPATH"] = str(ROOT)
        os.execvp(sys.executable, [sys.executable, "-W", "ignore", "-c", code])
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0
    assert "converting" in text and "100%" in text


def test_index_command_saves_the_scan(tmp_path: Path) -> None:
    """`dicomdecode index` writes an index that loads back to the same series as a
    fresh scan of the same folder."""
    import dicomdecode
    from dicomdecode.index import load_index

    out = tmp_path / "series.json"
    assert main(["index", str(ROOT / "test_data" / "series"), str(out)]) == 0
    saved = load_index(out)
    fresh = dicomdecode.scan(ROOT / "test_data" / "series")
    assert [s.uid for s in saved.series] == [s.uid for s in fresh.series]
    assert [len(s.images) for s in saved.series] == [len(s.images) for s in fresh.series]
    assert main(["index", str(tmp_path / "missing"), str(out)]) == 2


def test_convert_of_a_folder_without_dicom_is_not_success(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "notes.txt").write_text("no images here")
    result = _cli("convert", str(src), str(tmp_path / "out"), "-q")
    assert result.returncode == 1
    assert "no DICOM image found" in result.stderr


def test_preview_refuses_a_name_it_would_not_honour(tmp_path):
    result = _cli("preview", "test_data/series", str(tmp_path / "p.jpq"))
    assert result.returncode == 2
    assert ".jpq" in result.stderr and not (tmp_path / "p.jpq").exists()
