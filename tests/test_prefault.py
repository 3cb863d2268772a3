"""The decode maps a series' output pages on a thread a little ahead of the frames it
writes (dicomdecode.engine.prefault): it must never change what is written, never map
far beyond what was decoded (a hostile series must not commit the memory its headers
claim), and must not make the fork pool think other threads are running."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from dicomdecode.engine import allocator, prefault

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="MADV_POPULATE_WRITE is a Linux call")


def _resident_bytes(array: np.ndarray) -> int:
    """Bytes of `array` the kernel has mapped (mincore), counted page by page."""
    import ctypes
    import mmap

    libc = ctypes.CDLL(None, use_errno=True)
    page = mmap.PAGESIZE
    start = array.ctypes.data & ~(page - 1)
    length = array.ctypes.data + array.nbytes - start
    pages = (length + page - 1) // page
    vec = (ctypes.c_ubyte * pages)()
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    assert libc.mincore(ctypes.c_void_p(start), ctypes.c_size_t(length), vec) == 0
    return sum(v & 1 for v in vec) * page


def _wait_until_idle(ahead: prefault.Ahead, seconds: float = 30) -> None:
    end = time.monotonic() + seconds
    while ahead.running:
        assert time.monotonic() < end, "the page-mapping thread did not stop"
        time.sleep(0.01)


def test_writes_made_while_pages_are_mapped_are_kept() -> None:
    """Frames written one after another while the thread maps the same range read back
    exactly (compared with values computed independently)."""
    shape = (64, 256, 256)  # 16 MiB of int32
    array = allocator.allocate(shape, np.int32, "<test>")
    expected = np.arange(np.prod(shape), dtype=np.int64).reshape(shape) % 65521 - 1024
    with prefault.Ahead(array, array[0].nbytes) as ahead:
        for k in range(shape[0]):
            array[k] = expected[k]
            ahead.decoded()
    _wait_until_idle(ahead)
    np.testing.assert_array_equal(array, expected)


@linux_only
def test_never_maps_far_beyond_what_was_decoded() -> None:
    """Nothing decoded: at most one window is mapped, not the 256 MiB the array has."""
    array = np.empty(256 << 20, np.uint8)
    ahead = prefault.Ahead(array, 1 << 20)
    if not ahead.running:
        pytest.skip("this kernel has no MADV_POPULATE_WRITE (Linux < 5.14)")
    time.sleep(0.5)  # plenty for the thread to map all it may
    assert _resident_bytes(array) <= prefault.WINDOW + (4 << 20)  # + one huge page
    for _ in range(64):  # 64 MiB decoded: the mapping follows
        ahead.decoded()
    end = time.monotonic() + 10
    while _resident_bytes(array) < (64 << 20) and time.monotonic() < end:
        time.sleep(0.01)
    assert (64 << 20) <= _resident_bytes(array) <= (64 << 20) + prefault.WINDOW + (4 << 20)
    ahead.stop()
    _wait_until_idle(ahead)


def test_small_arrays_get_no_thread() -> None:
    ahead = prefault.Ahead(np.empty(prefault.MIN_BYTES // 2, np.uint8), 1024)
    assert not ahead.running
    ahead.decoded()  # harmless
    ahead.stop()


def test_fork_safety_ignores_the_page_mapping_thread() -> None:
    """A mapping thread still running must not send the fork pool to forkserver; any
    other thread must. Checked in a fresh interpreter, where no other thread runs (a test
    worker process has threads of its own)."""
    code = """
import sys, threading
from dicomdecode.engine import parallel, prefault
linux = sys.platform.startswith("linux")
assert parallel.fork_is_safe() == linux
gate = threading.Event()
mapping = threading.Thread(target=gate.wait, name=prefault.THREAD_NAME, daemon=True)
mapping.start()
assert parallel.fork_is_safe() == linux
other = threading.Thread(target=gate.wait, daemon=True)
other.start()
assert not parallel.fork_is_safe()
gate.set()
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_switched_off_by_the_environment() -> None:
    code = ("import numpy as np; from dicomdecode.engine import prefault; "
            "print(prefault.Ahead(np.empty(64 << 20, np.uint8), 1 << 20).running)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "DICOMDECODE_NO_PREFAULT": "1"}, check=True)
    assert out.stdout.strip() == "False"
