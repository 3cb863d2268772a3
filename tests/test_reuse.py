"""Big output arrays take the memory of ones the caller dropped (dicomdecode.engine.reuse).

What must hold: memory is reused only when nothing (no view) still uses it; what a load
returns never depends on what a reused mapping held before; what is kept is bounded and
handed back when idle; a forked child starts with nothing kept, and the fork pool still
counts the process as safe to fork."""

from __future__ import annotations

import math
import os
import pickle
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest

import dicomdecode
from dicomdecode.engine import parallel, prefault, reuse

from .test_ml import write_series

pytestmark = pytest.mark.skipif(not reuse._enabled,
                                reason="reuse is Linux-only (or DICOMDECODE_NO_REUSE is set)")

SHAPE = (48, 512, 512)  # 48 MiB of int32: above MIN_BYTES


def _empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray | None:
    return reuse.empty(shape, dtype, math.prod(shape))


def _address(array: np.ndarray) -> int:
    return int(array.__array_interface__["data"][0])


@pytest.fixture(autouse=True)
def _nothing_kept() -> None:
    reuse.release()
    yield
    reuse.release()


def test_a_dropped_array_serves_the_next_one() -> None:
    first = _empty(SHAPE, np.dtype(np.int32))
    assert first is not None and first.shape == SHAPE and first.dtype == np.int32
    assert first.flags.c_contiguous and first.flags.writeable
    first[:] = 7
    address = _address(first)
    del first
    assert reuse.kept() == int(np.prod(SHAPE)) * 4
    second = _empty(SHAPE, np.dtype(np.int32))
    assert second is not None and _address(second) == address
    assert reuse.kept() == 0


def test_a_view_keeps_its_memory_from_reuse() -> None:
    array = _empty(SHAPE, np.dtype(np.int32))
    assert array is not None
    expected = np.arange(5 * 512 * 512, dtype=np.int32).reshape(5, 512, 512)
    array[5:10] = expected
    view = array[5:10]
    del array
    assert reuse.kept() == 0  # the view still uses the mapping
    other = _empty(SHAPE, np.dtype(np.int32))
    assert other is not None
    other[:] = -1
    np.testing.assert_array_equal(view, expected)
    del view
    assert reuse.kept() == int(np.prod(SHAPE)) * 4


def test_a_smaller_array_takes_a_mapping_up_to_twice_its_size() -> None:
    big = _empty(SHAPE, np.dtype(np.int32))
    assert big is not None
    address = _address(big)
    del big
    too_small = _empty((9, 512, 512), np.dtype(np.int64))  # 18 MiB: under MIN_BYTES
    assert too_small is None
    other = _empty((17, 512, 512), np.dtype(np.int64))  # 34 MiB of 48: fits
    assert other is not None and _address(other) == address and other.shape == (17, 512, 512)
    del other
    half = _empty((17, 512, 512), np.dtype(np.int64))
    assert half is not None and _address(half) == address
    half[:] = 3
    assert int(half.sum()) == 3 * 17 * 512 * 512


def test_idle_memory_is_handed_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reuse, "IDLE_SECONDS", 0.05)
    array = _empty(SHAPE, np.dtype(np.int32))
    del array
    deadline = time.monotonic() + 10
    while reuse.kept():
        assert time.monotonic() < deadline, "idle kept memory was not unmapped"
        time.sleep(0.02)


@pytest.mark.parametrize("bound", ["count", "bytes"])
def test_what_is_kept_is_bounded(monkeypatch: pytest.MonkeyPatch, bound: str) -> None:
    """One mapping at most (the one dropped last), and never more bytes than the bound."""
    size = int(np.prod(SHAPE)) * 4
    if bound == "bytes":
        monkeypatch.setattr(reuse, "KEEP_COUNT", 5)
        monkeypatch.setattr(reuse, "keep_bytes", lambda: size + size // 2)
    first = _empty(SHAPE, np.dtype(np.int32))
    second = _empty(SHAPE, np.dtype(np.int32))
    assert first is not None and second is not None
    newest = _address(second)
    del first, second
    assert reuse.kept() == size  # one mapping fits the bound: the one dropped last
    again = _empty(SHAPE, np.dtype(np.int32))
    assert again is not None and _address(again) == newest


def test_small_arrays_and_the_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _empty((4, 64, 64), np.dtype(np.int16)) is None
    monkeypatch.setattr(reuse, "_enabled", False)
    assert _empty(SHAPE, np.dtype(np.int32)) is None


def test_pickled_arrays_are_plain_copies() -> None:
    array = _empty(SHAPE, np.dtype(np.int32))
    assert array is not None
    array[:] = np.arange(SHAPE[2], dtype=np.int32)
    copy = pickle.loads(pickle.dumps(array, protocol=5))
    del array
    assert reuse.kept() > 0  # the copy does not hold the mapping
    np.testing.assert_array_equal(copy[7, 3], np.arange(SHAPE[2], dtype=np.int32))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_a_forked_child_starts_with_nothing_kept() -> None:
    array = _empty(SHAPE, np.dtype(np.int32))
    del array
    assert reuse.kept() > 0
    # the thread that unmaps idle memory does not make forking unsafe (threads other tests
    # left running may, so they are counted out)
    janitors = [t for t in threading.enumerate() if t.name == reuse.THREAD_NAME]
    assert janitors and janitors[0].is_alive()
    others = [t for t in threading.enumerate() if t is not threading.current_thread()
              and t.name not in (reuse.THREAD_NAME, prefault.THREAD_NAME)]
    assert parallel.fork_is_safe() == (not others)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        ok = reuse.kept() == 0 and _empty(SHAPE, np.dtype(np.int32)) is not None
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def _reference(folder: Path) -> np.ndarray:
    """The series' HU by pydicom, ordered on the slice normal (z here)."""
    slices = sorted((pydicom.dcmread(p) for p in folder.iterdir()),
                    key=lambda ds: float(ds.ImagePositionPatient[2]))
    return np.stack([ds.pixel_array.astype(np.int64) * int(ds.RescaleSlope)
                     + int(ds.RescaleIntercept) for ds in slices])


def test_loads_on_reused_memory_equal_pydicom(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Two series of one shape, different values, loaded in turn with the first dropped:
    the second sits in the first's memory and still equals pydicom's values exactly, on
    threads and serially."""
    monkeypatch.setattr(reuse, "MIN_BYTES", 0)
    write_series(tmp_path / "a", n=6, rows=32, cols=24, seed=1)
    write_series(tmp_path / "b", n=6, rows=32, cols=24, seed=2)
    for workers in (1, 2):
        (first,) = dicomdecode.load(tmp_path / "a", workers=workers)
        np.testing.assert_array_equal(first.array, _reference(tmp_path / "a"))
        address = _address(first.array)
        del first
        assert reuse.kept() > 0
        (second,) = dicomdecode.load(tmp_path / "b", workers=workers)
        assert _address(second.array) == address, "the dropped series' memory was not used"
        np.testing.assert_array_equal(second.array, _reference(tmp_path / "b"))
        del second


def test_convert_hands_kept_memory_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    """A study's memory bound counts what a series task holds while it runs: convert keeps
    nothing after it (reuse.release at the end of each series task)."""
    monkeypatch.setattr(reuse, "MIN_BYTES", 0)
    write_series(tmp_path / "src", n=6, rows=32, cols=24)
    report = dicomdecode.convert(tmp_path / "src", tmp_path / "out", fmt="npy", workers=1)
    assert report.exit_code == 0
    assert reuse.kept() == 0
    written = sorted((tmp_path / "out").rglob("*.npy"))
    assert written
    np.testing.assert_array_equal(np.load(written[0]), _reference(tmp_path / "src"))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
