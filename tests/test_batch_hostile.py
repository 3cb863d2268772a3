"""A batch survives any single file: hostile inputs cost themselves only.

200 good files (20 series of 10 slices, made from test_data/series with new UIDs) mixed
with 50 hostile ones (the fuzz harness's mutation classes: codestream and frame-count
bombs, truncations, header edits, bad offset tables, corrupt RLE headers) must convert
with every good file converted, every hostile file reported failed or skipped with its
reason (none converted), every file reported exactly once, and exit status 1, with one
worker and with two.
A codec that kills its worker process is simulated by a handler that calls os.abort()
on one file: the batch must still convert every other file and name that one.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

import dicomdecode
from dicomdecode.apps.convert import CONVERTED, FAILED, SKIPPED, convert
from dicomdecode.errors import DicomDecodeError
from fuzz.mutate import KIND_NAMES, SeedSet, mutant_at

from .conftest import ROOT, TEST_DATA

HOSTILE_KINDS = ["decompression_bomb", "frame_count_bomb", "truncate_pixels", "truncate_item",
                 "header_edit", "bad_offset_table", "rle_header", "flip_header", "bad_length",
                 "wrong_ts"]


def _good_series(folder: Path, n_series: int = 20, per_series: int = 10) -> list[Path]:
    sources = sorted((TEST_DATA / "series").glob("A_0*.dcm"))[:per_series]
    out = []
    for s in range(n_series):
        series_uid = generate_uid()
        for k, src in enumerate(sources):
            ds = pydicom.dcmread(src)
            ds.SeriesInstanceUID = series_uid
            ds.SOPInstanceUID = generate_uid()
            ds.SeriesNumber = 100 + s
            path = folder / f"good_{s:02d}_{k:02d}.dcm"
            ds.save_as(path)
            out.append(path)
    return out


def _hostile(folder: Path, count: int = 50) -> list[Path]:
    """`count` mutants of test_data that are really hostile: the one-file decode refuses
    them with a typed error. (A mutation can be harmless: a flipped byte in a text
    element, an offset table on a single frame, which decoders rightly ignore; those are
    dropped, since a batch is right to convert them.)"""
    seeds = SeedSet(sorted(TEST_DATA.glob("*.dcm")))
    out: list[Path] = []
    index = 0
    while len(out) < count:
        assert index < 20 * count, f"only {len(out)} refused mutants in {index}"
        kind = HOSTILE_KINDS[index % len(HOSTILE_KINDS)]
        assert kind in KIND_NAMES
        mutant = mutant_at(seeds, 11, index, kind)
        index += 1
        path = folder / f"hostile_{index - 1:03d}_{kind}.dcm"
        path.write_bytes(mutant.data)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dicomdecode.decode_file(path)
        except DicomDecodeError:
            out.append(path)
            continue
        path.unlink()
    return out


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path], list[Path]]:
    src = tmp_path_factory.mktemp("batch")
    return src, _good_series(src), _hostile(src)


@pytest.mark.parametrize("workers", [1, 2])
def test_every_good_file_converts_among_hostile_ones(batch, tmp_path: Path,
                                                     workers: int) -> None:
    src, good, hostile = batch
    report = convert(src, tmp_path / "out", fmt="npy", workers=workers,
                     report_path=tmp_path / "report.json")
    by_path = {f.path: f for f in report.files}
    assert len(report.files) == len(by_path) == len(good) + len(hostile)
    assert {Path(p) for p in by_path} == set(good) | set(hostile)
    assert all(by_path[str(p)].status == CONVERTED for p in good), [
        (p, by_path[str(p)].reason) for p in good if by_path[str(p)].status != CONVERTED]
    failed = [f for f in report.files if f.status == FAILED]
    assert failed and all(f.reason for f in failed)
    # every hostile file is reported failed or skipped, with its reason; none converted
    not_refused = [(p.name, by_path[str(p)].status) for p in hostile
                   if by_path[str(p)].status not in (FAILED, SKIPPED)
                   or not by_path[str(p)].reason]
    assert not not_refused, not_refused
    assert report.exit_code == 1
    assert (tmp_path / "report.json").is_file()
    # the good series came out whole and equal to loading them alone
    arrays = [np.load(p) for p in (tmp_path / "out").glob("*.npy")]
    (alone,) = dicomdecode.load(good[:10])
    assert sum(a.shape == alone.array.shape and np.array_equal(a, alone.array)
               for a in arrays) == 20


# The abort scenarios run in a fresh interpreter: a handler patched to call os.abort() on
# one file must reach forked workers, which needs a process with no other threads (pytest
# and earlier tests may leave some, e.g. tqdm's monitor), and the abort must not touch us.
_ABORT_SCRIPT = """
import os, sys, json
sys.path.insert(0, {root!r})
from pathlib import Path
from tests.test_batch_hostile import _good_series
import dicomdecode
from dicomdecode.apps.convert import convert
from dicomdecode.decode.handlers import native
from dicomdecode.engine import parallel

src = Path({src!r})
src.mkdir()
good = _good_series(src, n_series={n_series}, per_series=10)
killer = str(good[{killer}])
original = native.NativeHandler.read_into

def aborting(self, source, indices, out):
    if source.path == killer:
        os.abort()
    return original(self, source, indices, out)

native.NativeHandler.read_into = aborting
native.NativeHandler.may_abort = True  # a codec that can abort says so (as GDCM does)
assert parallel.fork_is_safe()
if {mode!r}.startswith("convert"):
    report = convert(src, Path({out!r}), fmt="npy", workers=1 if {mode!r} == "convert1" else 2)
    print(json.dumps({{"killer": killer, "exit": report.exit_code,
                      "files": {{f.path: [f.status, f.reason] for f in report.files}}}}))
else:
    (volume,) = dicomdecode.load(src, workers=2)
    print(json.dumps({{"killer": killer, "slices": [s.path for s in volume.slices],
                      "failed": volume.meta["FailedFiles"], "warnings": volume.warnings}}))
"""


def _run_abort_scenario(tmp_path: Path, mode: str, n_series: int, killer: int) -> dict:
    script = _ABORT_SCRIPT.format(root=str(ROOT), src=str(tmp_path / "src"), mode=mode,
                                  out=str(tmp_path / "out"), n_series=n_series, killer=killer)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", ["convert", "convert1"], ids=["workers2", "workers1"])
def test_a_codec_that_aborts_costs_one_file(tmp_path: Path, mode: str) -> None:
    """convert decodes in worker processes even with workers=1 (a batch tool must not die
    with its input), so the abort costs one file either way."""
    result = _run_abort_scenario(tmp_path, mode, n_series=3, killer=14)
    files, killer = result["files"], result["killer"]
    assert files[killer][0] == FAILED and "SIGABRT" in files[killer][1]
    assert all(status == CONVERTED for path, (status, _) in files.items() if path != killer)
    assert len(files) == 30 and result["exit"] == 1
    outputs = sorted(np.load(p).shape for p in (tmp_path / "out").glob("*.npy"))
    assert outputs == [(9, 32, 32), (10, 32, 32), (10, 32, 32)]
    assert not list((tmp_path / "out").glob(".dicomdecode-tmp-*"))


def test_load_with_workers_survives_an_aborting_codec(tmp_path: Path) -> None:
    result = _run_abort_scenario(tmp_path, "load", n_series=1, killer=3)
    killer = result["killer"]
    assert len(result["slices"]) == 9 and killer not in result["slices"]
    assert "SIGABRT" in result["failed"][killer]
    assert any(killer in w for w in result["warnings"])
