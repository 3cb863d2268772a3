"""Assembly robustness and the rescale policy, against independent references.

Corpus files are only linked or copied into ``tmp_path``; nothing is committed.
References: loading the untouched corpus folder, pydicom's own ``pixel_array`` and its
modality LUT, and the file headers read with pydicom.
"""

from __future__ import annotations

import os
import random
import shutil
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut

from dicomdecode import load, load_series
from dicomdecode.errors import InconsistentSeriesError
from dicomdecode.scan import scan
from dicomdecode.volume import Volume

# These tests exercise the whole pipeline on compressed data too: they need every
# decoder. Reduced-install sessions (nox tests_minimal/_pylibjpeg/_gdcm) deselect them.
pytestmark = pytest.mark.needs_handler("pylibjpeg", "gdcm", "charls")

CANON = "dcm_qa_canon_61/In/cl"
CT_SERIES = "dcm_qa_ct/In/GE"


def _dcmread(path: str | Path, **kw) -> pydicom.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, **kw)


def _same_volume(a: Volume, b: Volume) -> None:
    assert a.array.dtype == b.array.dtype
    np.testing.assert_array_equal(a.array, b.array)
    np.testing.assert_allclose(a.affine, b.affine, atol=1e-9)
    assert [s.sop_instance_uid for s in a.slices] == [s.sop_instance_uid for s in b.slices]


def _link_series(src: Path, dst: Path, pattern: str = "*") -> list[Path]:
    dst.mkdir(parents=True, exist_ok=True)
    out = []
    for f in sorted(src.glob(pattern)):
        target = dst / f.name
        os.symlink(f, target)
        out.append(target)
    return out


def _canon_3000(corpus: Path, dst: Path) -> list[Path]:
    return _link_series(corpus / CANON, dst, "3000_*.dcm")


# ------------------------------------------------------------------ order independence


@pytest.mark.corpus
def test_shuffled_renamed_mixed_folder_gives_identical_volumes(corpus: Path,
                                                               tmp_path: Path) -> None:
    reference = {v.meta["SeriesUID"]: v for v in load(corpus / CANON)}
    reference.update({v.meta["SeriesUID"]: v for v in load(corpus / CT_SERIES)})
    rng = random.Random(7)
    files = sorted((corpus / CANON).iterdir()) + sorted((corpus / CT_SERIES).iterdir())
    rng.shuffle(files)
    for i, f in enumerate(files):  # random names, no suffix, nested folders
        sub = tmp_path / f"d{rng.randrange(3)}" / f"e{rng.randrange(2)}"
        sub.mkdir(parents=True, exist_ok=True)
        os.symlink(f, sub / f"{rng.getrandbits(40):x}{i}")
    (tmp_path / "notes.txt").write_text("not a dicom file")
    (tmp_path / "d0" / "fake.dcm").write_bytes(os.urandom(2000))
    (tmp_path / "d1").mkdir(exist_ok=True)
    (tmp_path / "d1" / "empty").write_bytes(b"")

    result = scan(tmp_path)
    assert {s.path for s in result.skipped} == {
        str(tmp_path / "notes.txt"), str(tmp_path / "d0" / "fake.dcm"),
        str(tmp_path / "d1" / "empty")}
    used = {p for s in result.series for p in s.files}
    assert len(used) + len(result.skipped) == len(files) + 3  # every file accounted for

    volumes = load(tmp_path)
    assert sorted(v.meta["SeriesUID"] for v in volumes) == sorted(reference)
    for v in volumes:
        _same_volume(v, reference[v.meta["SeriesUID"]])


@pytest.mark.corpus
def test_mixed_transfer_syntaxes_in_one_series_give_identical_volume(corpus: Path,
                                                                     tmp_path: Path) -> None:
    from pydicom.uid import RLELossless

    src = sorted((corpus / CANON).glob("3000_*.dcm"))
    (original,) = load(src)
    for i, f in enumerate(src):
        ds = _dcmread(f)
        if i % 2:  # every other slice re-encoded as RLE Lossless (pydicom's own encoder)
            ds.compress(RLELossless, encoding_plugin="pydicom", generate_instance_uid=False)
        ds.save_as(tmp_path / f.name)
    syntaxes = {str(_dcmread(p, stop_before_pixels=True).file_meta.TransferSyntaxUID)
                for p in tmp_path.iterdir()}
    assert len(syntaxes) == 2
    (mixed,) = load(tmp_path)
    _same_volume(mixed, original)
    assert {s.transfer_syntax for s in mixed.slices} == syntaxes


# ------------------------------------------------------------------ broken inputs


def _middle_file(files: list[Path]) -> Path:
    """The file whose position is in the middle of the stack (by header, via pydicom)."""
    def proj(p: Path) -> float:
        ds = _dcmread(p, stop_before_pixels=True)
        iop = np.asarray(ds.ImageOrientationPatient, float)
        return float(np.asarray(ds.ImagePositionPatient, float) @ np.cross(iop[:3], iop[3:]))
    return sorted(files, key=proj)[len(files) // 2]


@pytest.mark.corpus
def test_missing_slice(corpus: Path, tmp_path: Path) -> None:
    files = _canon_3000(corpus, tmp_path)
    gone = _middle_file(files)
    gone.unlink()
    (series,) = scan(tmp_path).series
    with pytest.raises(InconsistentSeriesError) as err:
        load_series(series, strict=True)
    assert err.value.paths and all(p.startswith(str(tmp_path)) for p in err.value.paths)
    vol = load_series(series)
    assert vol.array.shape[0] == len(files) - 1
    assert any("missing" in w for w in vol.warnings)


@pytest.mark.corpus
def test_duplicated_file_is_skipped_and_reported(corpus: Path, tmp_path: Path) -> None:
    files = _canon_3000(corpus, tmp_path / "a")
    (reference,) = load(tmp_path / "a")
    copy = tmp_path / "a" / "zz_copy"
    shutil.copy(files[5], copy)
    result = scan(tmp_path)
    assert [s.path for s in result.skipped] == [str(copy)]
    assert "duplicate" in result.skipped[0].reason
    with pytest.raises(InconsistentSeriesError) as err:
        load_series(result.series[0], strict=True)
    assert str(copy) in err.value.paths
    vol = load_series(result.series[0])
    _same_volume(vol, reference)
    assert any("duplicate" in w for w in vol.warnings)


@pytest.mark.corpus
def test_duplicated_position_with_new_uid_is_split_with_warning(corpus: Path,
                                                                tmp_path: Path) -> None:
    files = _canon_3000(corpus, tmp_path)
    ds = _dcmread(_middle_file(files))
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(tmp_path / "extra")
    result = scan(tmp_path)
    assert not result.skipped
    assert sum(len(s.images) for s in result.series) == len(files) + 1
    main = max(result.series, key=lambda s: len(s.images))
    with pytest.raises(InconsistentSeriesError):
        load_series(main, strict=True)
    vol = load_series(main)
    assert vol.array.shape[0] == len(files)
    assert any("irregular" in w for w in vol.warnings)


@pytest.mark.corpus
def test_slice_with_other_size(corpus: Path, tmp_path: Path) -> None:
    files = _canon_3000(corpus, tmp_path)
    odd = _middle_file(files)
    ds = _dcmread(odd)
    arr = ds.pixel_array[:40, :48].copy()
    ds.Rows, ds.Columns = arr.shape
    ds.PixelData = arr.tobytes()
    odd.unlink()
    ds.save_as(odd)
    result = scan(tmp_path)
    assert len(result.series) == 2  # the odd slice cannot join the stack
    small = [s for s in result.series if s.images[0].rows == 40]
    assert [s.files for s in small] == [[str(odd)]]
    main = next(s for s in result.series if s.images[0].rows != 40)
    with pytest.raises(InconsistentSeriesError):
        load_series(main, strict=True)
    assert any("missing" in w for w in load_series(main).warnings)


@pytest.mark.corpus
def test_corrupt_pixel_data(corpus: Path, tmp_path: Path) -> None:
    files = _canon_3000(corpus, tmp_path)
    bad = _middle_file(files)
    data = Path(os.readlink(bad)).read_bytes()
    bad.unlink()
    bad.write_bytes(data[: len(data) - 4000])  # header intact, pixel data truncated
    (series,) = scan(tmp_path).series
    with pytest.raises(InconsistentSeriesError) as err:
        load_series(series, strict=True)
    assert str(bad) in err.value.paths or str(bad) in str(err.value)
    vol = load_series(series)
    assert vol.array.shape[0] == len(files) - 1
    assert any(str(bad) in w for w in vol.warnings)


@pytest.mark.corpus
def test_garbage_file_is_skipped(corpus: Path, tmp_path: Path) -> None:
    files = _canon_3000(corpus, tmp_path)
    bad = _middle_file(files)
    bad.unlink()
    bad.write_bytes(os.urandom(5000))
    result = scan(tmp_path)
    assert [s.path for s in result.skipped] == [str(bad)]
    assert len(result.series[0].images) == len(files) - 1


# ------------------------------------------------------------------ rescale policy


def _pydicom_file(name: str) -> str:
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name)
    if path is None:
        pytest.skip(f"pydicom test file {name} not available")
    return str(path)


def test_ct_rescale_auto_dtype_from_header_range() -> None:
    """The dtype holds every value the header allows: CT_small stores 16 signed bits with
    intercept -1024, so HU can reach -33792: int32 (whatever the pixels happen to hold)."""
    path = _pydicom_file("CT_small.dcm")
    ds = _dcmread(path)
    assert (ds.BitsStored, ds.PixelRepresentation, float(ds.RescaleIntercept)) == (16, 1, -1024)
    expected = apply_modality_lut(ds.pixel_array, ds)
    (vol,) = load(path)
    assert vol.array.dtype == np.int32
    np.testing.assert_array_equal(vol.array[0], expected)

    (raw,) = load(path, rescale=False)
    np.testing.assert_array_equal(raw.array[0], ds.pixel_array)
    assert raw.slices[0].slope == float(ds.RescaleSlope)
    assert raw.slices[0].intercept == float(ds.RescaleIntercept)

    (flt,) = load(path, rescale=True)
    assert flt.array.dtype == np.float32
    np.testing.assert_allclose(flt.array[0], expected)


@pytest.mark.corpus
def test_philips_precise_and_display_scaling(corpus: Path) -> None:
    folder = corpus / "dcm_qa_philips/In/Magdeburg_2014/fmri"
    path = sorted(folder.iterdir())[0]
    ds = _dcmread(path)
    rs, ri = float(ds.RescaleSlope), float(ds.RescaleIntercept)
    ss = float(ds[0x2005, 0x100E].value)
    sv = ds.pixel_array.astype(np.float64)
    (precise,) = load([path])
    (display,) = load([path], philips_scaling="display")
    np.testing.assert_allclose(precise.array[0], (sv * rs + ri) / (rs * ss), rtol=1e-6)
    np.testing.assert_allclose(display.array[0], sv * rs + ri, rtol=1e-6)
    assert precise.array.dtype == display.array.dtype == np.float32
    assert precise.meta["PhilipsScaling"].startswith("philips-precise")
    assert display.meta["PhilipsScaling"].startswith("philips-display")


@pytest.mark.corpus
def test_dtype_does_not_depend_on_file_order(corpus: Path) -> None:
    files = sorted((corpus / CT_SERIES).iterdir())
    (a,) = load(files)
    (b,) = load(list(reversed(files)))
    assert a.array.dtype == b.array.dtype


def test_monochrome1_is_flagged_not_inverted() -> None:
    path = _pydicom_file("MR_small.dcm")
    (vol,) = load(path)
    assert vol.meta["MONOCHROME1"] is False
    assert "PixelPaddingValue" in vol.meta
