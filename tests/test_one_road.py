"""One road through the pipeline: options checked once, the same result on every entry point.

Each test here is one finding of the "one road" issue, written as a user meets it.
References are independent: pydicom's pixel_array, or another entry point's result only
where the claim IS "two entry points agree".
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest

import dicomdecode
from dicomdecode import Options
from dicomdecode.apps.cli import build_parser
from dicomdecode.apps.convert import convert
from dicomdecode.apps.ml import SeriesDataset, SliceDataset

from .conftest import ROOT, TEST_DATA

SERIES = TEST_DATA / "series"
NATIVE_FILE = TEST_DATA / "u16_bs12_mono__explicit_le.dcm"
JPEG_LOSSLESS_FILE = TEST_DATA / "u16_bs12_mono__jpeg_lossless.dcm"


# ------------------------------------------------------------------ options checked once


@pytest.mark.parametrize("path", [NATIVE_FILE, JPEG_LOSSLESS_FILE], ids=["native", "jpeg"])
@pytest.mark.parametrize("entry", ["decode", "decode_file", "load", "slice_dataset",
                                   "series_dataset", "convert", "options"])
def test_typo_in_handlers_fails_at_once_everywhere(path: Path, entry: str,
                                                   tmp_path: Path) -> None:
    calls = {
        "decode": lambda: dicomdecode.decode(path, handlers="gdcmm"),
        "decode_file": lambda: dicomdecode.decode_file(path, handlers="gdcmm"),
        "load": lambda: dicomdecode.load(path, handlers="gdcmm"),
        "slice_dataset": lambda: SliceDataset(path, handlers="gdcmm"),
        "series_dataset": lambda: SeriesDataset(path, handlers="gdcmm"),
        "convert": lambda: convert(path, tmp_path / "out", handlers="gdcmm"),
        "options": lambda: Options(handlers="gdcmm"),
    }
    with pytest.raises(ValueError, match=r"unknown handler name\(s\) \['gdcmm'\]; valid: "
                                          r"charls, gdcm, imagecodecs, libjpeg, native, "
                                          r"pylibjpeg"):
        calls[entry]()
    assert not (tmp_path / "out").exists()  # checked before anything was touched


@pytest.mark.parametrize("field,value,choices", [
    ("rescale", "yes", "'auto', True, False"),
    ("philips_scaling", "exact", "'precise', 'display'"),
    ("mask_padding", "no", "True or False"),
    ("workers", 0, ">= 1"),
    ("max_bytes", "lots", ">= 1"),
])
def test_bad_option_values_name_the_valid_ones(field: str, value: object, choices: str) -> None:
    with pytest.raises(ValueError, match=re.escape(choices)):
        Options(**{field: value})
    with pytest.raises(ValueError, match=re.escape(choices)):
        dicomdecode.load(SERIES, **{field: value})


def test_unknown_option_name_is_a_type_error(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="philips_scalling"):
        convert(SERIES, tmp_path / "out", philips_scalling="display")
    with pytest.raises(TypeError, match="unknown option"):
        Options.resolve(None, rescal=False)


def test_environment_is_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DICOMDECODE_HANDLERS", "gdcm,nope")
    with pytest.raises(ValueError, match="DICOMDECODE_HANDLERS"):
        dicomdecode.load(NATIVE_FILE)
    monkeypatch.setenv("DICOMDECODE_HANDLERS", "")
    monkeypatch.setenv("DICOMDECODE_WORKERS", "two")
    with pytest.raises(ValueError, match="DICOMDECODE_WORKERS"):
        dicomdecode.load(NATIVE_FILE)


# ------------------------------------------------------------------ one dtype, one record


@pytest.mark.needs_handler("gdcm")  # the mixed series holds RLE, JPEG-LS and J2K images
def test_slice_dataset_dtype_equals_load_series_dtype() -> None:
    for rescale in ("auto", False, True):
        volumes = {v.meta["SeriesUID"]: v for v in dicomdecode.load(SERIES, rescale=rescale)}
        items = SliceDataset(SERIES, rescale=rescale)
        for item in items:
            volume = volumes[item["series_key"]]
            assert item["image"].dtype == volume.array.dtype, (rescale, item["path"])
            k = next(i for i, s in enumerate(volume.slices) if s.path == item["path"])
            np.testing.assert_array_equal(item["image"], volume.array[k])


def test_native_file_is_decoded_through_dispatch_and_recorded() -> None:
    decoded = dicomdecode.decode(NATIVE_FILE)
    (volume,) = dicomdecode.load(NATIVE_FILE, rescale=False)
    assert decoded.handler == "native" == volume.slices[0].handler
    np.testing.assert_array_equal(decoded.array[0], pydicom.dcmread(NATIVE_FILE).pixel_array)


@pytest.mark.needs_handler("gdcm")
def test_handlers_option_reaches_every_image_of_a_series() -> None:
    """The mixed-syntax series decodes with one requested order on every image."""
    mixed = SERIES / "A_mixed"
    (volume,) = dicomdecode.load(mixed, handlers="gdcm", rescale=False)
    used = {s.transfer_syntax: s.handler for s in volume.slices}
    assert set(used.values()) == {"native", "gdcm"}
    for sl, k in zip(volume.slices, range(len(volume.slices)), strict=True):
        np.testing.assert_array_equal(volume.array[k], pydicom.dcmread(sl.path).pixel_array)


# ------------------------------------------------------------------ missing and empty inputs


def test_missing_path_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nonexistent"):
        dicomdecode.load(tmp_path / "nonexistent")
    with pytest.raises(FileNotFoundError):
        dicomdecode.decode(tmp_path / "nonexistent.dcm")
    with pytest.raises(FileNotFoundError):
        dicomdecode.load([SERIES, tmp_path / "nonexistent"])


def test_explicit_file_without_image_is_named_in_a_warning() -> None:
    readme = SERIES / "README.txt"
    with pytest.warns(UserWarning, match=r"README\.txt: no image loaded: not DICOM"):
        assert dicomdecode.load(readme) == []


def test_folder_without_dicom_warns(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.warns(UserWarning, match="no DICOM image series found"):
        assert dicomdecode.load(tmp_path) == []


# ------------------------------------------------------------------ convert and the CLI


def _npy(out: Path) -> dict[str, np.ndarray]:
    return {p.stem: np.load(p) for p in sorted(out.glob("*.npy"))}


def test_convert_passes_every_option(corpus: Path, tmp_path: Path) -> None:
    philips = corpus / "dcm_qa_philips" / "In"
    src = tmp_path / "src"
    shutil.copytree(philips, src)
    for kwargs in ({"philips_scaling": "display"}, {"philips_scaling": "precise"},
                   {"rescale": False}):
        out = tmp_path / f"out_{'_'.join(map(str, kwargs.values()))}"
        report = convert(src, out, fmt="npy", workers=1, **kwargs)
        assert report.exit_code == 0
        (array,) = _npy(out).values()
        (volume,) = dicomdecode.load(src, **kwargs)
        np.testing.assert_array_equal(array, volume.array)
        assert array.dtype == volume.array.dtype
    display = next(iter(_npy(tmp_path / "out_display").values()))
    precise = next(iter(_npy(tmp_path / "out_precise").values()))
    assert not np.allclose(display, precise)  # the option really changed the values


def test_cli_convert_has_every_option_flag() -> None:
    help_text = build_parser()._subparsers._group_actions[0].choices["convert"].format_help()
    for flag in ("--handlers", "--rescale", "--philips-scaling", "--invert-monochrome1",
                 "--mask-padding", "--keep-color", "--max-bytes", "--timeout", "--workers",
                 "--strict"):
        assert flag in help_text


def test_cli_mask_padding_equals_the_api(tmp_path: Path) -> None:
    from .test_padding import _write_series

    stored = np.arange(2 * 4 * 4, dtype=np.int16).reshape(2, 4, 4)
    stored[0, 0, :2] = -2000
    (tmp_path / "src").mkdir()
    _write_series(tmp_path / "src", stored, padding=-2000)
    out = tmp_path / "out"
    proc = _cli("convert", str(tmp_path / "src"), str(out), "--format", "npy",
                "--mask-padding", "--workers", "1", "-q")
    assert proc.returncode == 0, proc.stderr
    (array,) = _npy(out).values()
    (volume,) = dicomdecode.load(tmp_path / "src", mask_padding=True)
    assert array.dtype == volume.array.dtype == np.float32
    assert np.isnan(array).sum() == 2
    np.testing.assert_array_equal(array, volume.array)


@pytest.mark.needs_handler("gdcm")
def test_include_patient_names_volume_outputs(tmp_path: Path) -> None:
    patient_id = str(pydicom.dcmread(SERIES / "A_001.dcm", stop_before_pixels=True).PatientID)
    plain = convert(SERIES, tmp_path / "plain", fmt="npy", workers=1)
    named = convert(SERIES, tmp_path / "named", fmt="npy", workers=1, include_patient=True)
    assert not any(patient_id in (f.output or "") for f in plain.files)
    outputs = [f.output for f in named.files if f.output]
    assert outputs and all(patient_id in o for o in outputs)


@pytest.mark.parametrize("flag", ["--size", "--max-series"])
def test_cli_number_messages_name_their_flag(flag: str, tmp_path: Path) -> None:
    proc = _cli("preview", str(SERIES), str(tmp_path / "p.png"), flag, "many")
    assert proc.returncode == 2
    assert f"{flag} needs a whole number" in proc.stderr


def test_every_subcommand_has_a_description() -> None:
    sub = build_parser()._subparsers._group_actions[0]
    for name, parser in sub.choices.items():
        assert parser.description and len(parser.description) > 40, name


@pytest.mark.needs_handler("gdcm")
def test_writers_dicom_reads_the_file_once(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    from dicomdecode.writers import dicom as dicom_writer

    reads: list[str] = []
    original = pydicom.dcmread

    def counting(source, *args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(str(getattr(source, "name", source)))
        return original(source, *args, **kwargs)

    monkeypatch.setattr(pydicom, "dcmread", counting)
    dicom_writer.write_decompressed(JPEG_LOSSLESS_FILE, tmp_path / "out.dcm")
    assert reads == [str(JPEG_LOSSLESS_FILE)]
    monkeypatch.setattr(pydicom, "dcmread", original)
    written = pydicom.dcmread(tmp_path / "out.dcm").pixel_array
    np.testing.assert_array_equal(written, pydicom.dcmread(JPEG_LOSSLESS_FILE).pixel_array)


@pytest.mark.needs_handler("gdcm")
def test_volume_repr_is_one_short_line() -> None:
    (volume, *_) = dicomdecode.load(SERIES)
    text = repr(volume)
    assert "\n" not in text and len(text) < 200
    assert "x".join(map(str, volume.array.shape)) in text and str(volume.array.dtype) in text


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    with warnings.catch_warnings():
        return subprocess.run([sys.executable, "-m", "dicomdecode", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)


def test_scan_json_is_json() -> None:
    proc = _cli("scan", str(SERIES), "--json")
    assert proc.returncode == 0
    assert len(json.loads(proc.stdout)["series"]) == 3



@pytest.mark.needs_handler("gdcm")
def test_convert_honours_dicomdecode_workers(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    """convert's pool is the engine's and its size comes from Options (the environment)."""
    from dicomdecode.engine import parallel

    seen: list[int] = []
    original = parallel.run_unordered

    def spy(tasks, workers, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(workers)
        return original(tasks, workers, **kwargs)

    monkeypatch.setattr(parallel, "run_unordered", spy)
    # three series: a study of one series whose codecs are safe in-process is converted
    # without the pool (tests/test_convert_inprocess.py)
    monkeypatch.setenv("DICOMDECODE_WORKERS", "1")
    report = convert(SERIES, tmp_path / "one", fmt="npy")
    monkeypatch.setenv("DICOMDECODE_WORKERS", "2")
    report2 = convert(SERIES, tmp_path / "two", fmt="npy")
    assert seen == [1, 2]
    assert report.counts == report2.counts
    ones = sorted((tmp_path / "one").glob("*.npy"))
    twos = sorted((tmp_path / "two").glob("*.npy"))
    assert len(ones) == 3 and [p.name for p in ones] == [p.name for p in twos]
    for one, two in zip(ones, twos, strict=True):
        np.testing.assert_array_equal(np.load(one), np.load(two))
