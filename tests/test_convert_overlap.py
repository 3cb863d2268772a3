"""convert's overlapped road (apps/overlapped.py): the stored-values road decoding a series
chunk by chunk while a writer thread compresses the chunks already decoded.

The road must change nothing but the time: every output file (image, sidecar,
``_slices.json``, the sources record) is byte for byte the file of the decode-then-write
road (``OVERLAP = False``), on every series of test_data and on corpus series; a series
with a slice that fails to decode ends as it does today; nibabel reads back the voxels of
``load()``. The test series are small, so the writer's block is made small (the same for
both roads: both split the voxels into the same pieces) and every series is streamed in
several chunks.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import dicomdecode
from dicomdecode.apps import convert as conv
from dicomdecode.apps import overlapped
from dicomdecode.writers import compact

DATA = Path(__file__).resolve().parents[1] / "test_data"
SERIES = DATA / "series"


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Stream even a one-file series, in chunks of a few slices; the list counts the
    series the overlapped road wrote (in this process)."""
    monkeypatch.setattr(overlapped, "MIN_IMAGES", 1)
    monkeypatch.setattr(compact, "BLOCK_BYTES", 4096)
    taken: list[int] = []
    real = overlapped.write_overlapped

    def counted(*args: object, **kwargs: object) -> object:
        done = real(*args, **kwargs)  # type: ignore[arg-type]
        taken.append(done is not None)
        return done

    monkeypatch.setattr(overlapped, "write_overlapped", counted)
    return taken


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _both_roads(src: Path, dst: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: object
                ) -> tuple[dict[str, bytes], dict[str, bytes], dict, dict]:
    """Convert ``src`` to ``dst`` overlapped, then (``dst`` emptied) decode-then-write:
    every file written and the report of each (same destination: same paths inside)."""
    out: list[tuple[dict[str, bytes], dict]] = []
    for flag in (True, False):
        monkeypatch.setattr(conv, "OVERLAP", flag)
        shutil.rmtree(dst, ignore_errors=True)
        report = conv.convert(src, dst, progress=False, **kwargs)  # type: ignore[arg-type]
        doc = report.to_dict()
        doc.pop("elapsed_s", None)
        out.append((_files(dst), doc))
    (on, report_on), (off, report_off) = out
    return on, off, report_on, report_off


def _assert_same(on: dict[str, bytes], off: dict[str, bytes]) -> None:
    assert sorted(on) == sorted(off)
    differ = [name for name in on if on[name] != off[name]]
    assert not differ, f"files differ between the roads: {differ}"


def _strip_times(doc: dict) -> dict:
    return json.loads(json.dumps(doc), object_hook=lambda d: {
        k: v for k, v in d.items() if not k.endswith(("_s", "_at", "time", "Time"))})


@pytest.mark.parametrize("compress", [True, False])
def test_a_series_is_streamed_and_its_files_are_the_same(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_chunks: list[int],
        compress: bool) -> None:
    files = sorted(SERIES.glob("A_0*.dcm"))  # 12 CT slices: in-process, one series
    src = tmp_path / "src"
    src.mkdir()
    for f in files:
        shutil.copy(f, src / f.name)
    on, off, report_on, report_off = _both_roads(src, tmp_path / "out", monkeypatch,
                                                 compress=compress)
    assert small_chunks == [True]  # the overlapped road wrote it (not a fallback)
    _assert_same(on, off)
    assert _strip_times(report_on) == _strip_times(report_off)
    (image,) = (tmp_path / "out").glob("*.nii.gz" if compress else "*.nii")
    (volume,) = dicomdecode.load(str(src))
    back = np.asarray(nib.load(image).get_fdata())
    np.testing.assert_array_equal(back, np.transpose(volume.array, (2, 1, 0)))


def test_every_test_data_series_gives_the_same_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_chunks: list[int]) -> None:
    """All of test_data (every transfer syntax there, grey and colour, single and
    multi-frame): the roads write the same bytes, the reports agree."""
    on, off, report_on, report_off = _both_roads(DATA, tmp_path / "out", monkeypatch)
    _assert_same(on, off)
    assert _strip_times(report_on) == _strip_times(report_off)


def test_a_slice_that_fails_to_decode_ends_as_today(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_chunks: list[int]) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for f in sorted(SERIES.glob("A_0*.dcm")):
        shutil.copy(f, src / f.name)
    bad = src / "A_005.dcm"
    bad.write_bytes(bad.read_bytes()[:-100])  # pixel data cut short: the guard refuses it
    for partial in (False, True):
        on, off, report_on, report_off = _both_roads(src, tmp_path / f"out{partial}",
                                                     monkeypatch, allow_partial=partial)
        _assert_same(on, off)
        assert _strip_times(report_on) == _strip_times(report_off)
        assert report_on["counts"]["failed"] == (1 if partial else 12)  # A_005, or all
    assert not any(small_chunks)  # the overlapped road gave way every time


@pytest.mark.parametrize("relative", [
    "dcm_qa_canon_61/In/cl",                 # Canon MR, 80 files
    "dcm_qa_ct/In/GE",                       # GE CT
    "dcm_qa_nih/In/20180918GE/mr_0004",      # GE MR, 150 files
    "dcm_qa_uih/In/DTI_134434/dti_tra_dir16_PA_SaveBySlc__135612",  # 4D: not streamed
    "dcm_qa_ts/In",                          # several transfer syntaxes
    "dcm_qa_enh/In/Philips",                 # enhanced MR, one file of 64 frames
    "dcm_qa_canon_61/In/enh",                # enhanced MR, 520 frames
])
def test_corpus_series_give_the_same_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_chunks: list[int],
        corpus: Path, relative: str) -> None:
    src = corpus / relative
    if not src.is_dir():
        pytest.skip(f"{relative} not in this corpus")
    on, off, report_on, report_off = _both_roads(src, tmp_path / "out", monkeypatch)
    _assert_same(on, off)
    assert _strip_times(report_on) == _strip_times(report_off)


@pytest.mark.parametrize("name", [
    "u16_mf3__explicit_be.dcm", "u16_mf3__explicit_le.dcm", "u16_mf3__rle.dcm",
    pytest.param("u16_mf3__jpegls_lossless.dcm", marks=pytest.mark.needs_handler("imagecodecs")),
    pytest.param("u16_mf3__jpeg_lossless_sv1.dcm",
                 marks=pytest.mark.needs_handler("imagecodecs"))])
def test_a_multi_frame_file_is_streamed_in_chunks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_chunks: list[int],
        name: str) -> None:
    """One multi-frame file (an enhanced series in small): the overlapped road takes it,
    decoding the frames chunk by chunk, and writes the bytes of the ordinary road."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(DATA / name, src / name)
    monkeypatch.setattr(compact, "BLOCK_BYTES", 64)  # a chunk of one or two frames
    on, off, report_on, report_off = _both_roads(src, tmp_path / "out", monkeypatch)
    _assert_same(on, off)
    assert _strip_times(report_on) == _strip_times(report_off)
    assert small_chunks[:1] == [True]  # the overlapped road wrote it


def test_a_header_that_changes_falls_back_and_leaves_nothing_behind(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_chunks: list[int]) -> None:
    """When the finished volume's header is not the one streamed (here: the geometry
    moved between the two), the streamed file is dropped and the ordinary road writes
    the series: the same files as with the road off, and no temporary left."""
    import dataclasses

    src = tmp_path / "src"
    src.mkdir()
    for f in sorted(SERIES.glob("A_0*.dcm")):
        shutil.copy(f, src / f.name)
    real = overlapped._stand_in
    calls: list[int] = []

    def moved(*args: object) -> object:
        volume = real(*args)  # type: ignore[arg-type]
        calls.append(1)
        if len(calls) % 2 == 0 and volume is not None:  # the finished volume
            affine = volume.affine.copy()
            affine[0, 3] += 1.0
            volume = dataclasses.replace(volume, affine=affine)
        return volume

    monkeypatch.setattr(overlapped, "_stand_in", moved)
    on, off, report_on, report_off = _both_roads(src, tmp_path / "out", monkeypatch)
    assert small_chunks == [False] and len(calls) == 2
    _assert_same(on, off)
    assert _strip_times(report_on) == _strip_times(report_off)


def test_a_study_hands_the_pool_what_each_series_holds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """convert tells the pool how much each series holds at its peak: nothing for one
    that streams, its decoded array (4 bytes a sample) for one that does not; the
    budget is 1.3x the largest, at least HELD_FLOOR."""
    from dicomdecode.engine import parallel

    seen: dict[str, object] = {}
    real = parallel.run_unordered

    def spy(tasks, workers, **kwargs):  # type: ignore[no-untyped-def]
        seen.update(kwargs, tasks=list(tasks))
        return real(tasks, workers, **kwargs)

    monkeypatch.setattr(parallel, "run_unordered", spy)
    monkeypatch.setattr(overlapped, "MIN_IMAGES", 10)  # series A (12 slices) streams
    conv.convert(SERIES, tmp_path / "out", fmt="nifti", workers=2, progress=False)
    assert "held" in seen  # (a session without some codecs fails some files: no matter)
    held = dict(zip((args[0].uid for _fn, args in seen["tasks"]), seen["held"], strict=True))
    for _fn, (series, *_rest) in seen["tasks"]:
        if overlapped.eligible(series):
            assert held[series.uid] == 0
        else:
            im = series.images[0]
            assert held[series.uid] == len(series.images) * im.rows * im.columns * 4 * max(
                im.samples_per_pixel, 1)
    assert seen["budget"] == max(int(1.3 * max(seen["held"])), conv.HELD_FLOOR)
    assert any(h == 0 for h in seen["held"]) and any(h > 0 for h in seen["held"])
