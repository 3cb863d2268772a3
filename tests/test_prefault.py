"""The allocator maps a new array's pages on a thread beside the decode
(dicomdecode.engine.prefault): it must never change what is written into the array, and
must not make the fork pool think other threads are running."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from dicomdecode.engine import allocator, parallel, prefault

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="MADV_POPULATE_WRITE is a Linux call")


def _wait_for_prefault_threads(seconds: float = 30) -> None:
    end = time.monotonic() + seconds
    while any(t.name == prefault.THREAD_NAME for t in threading.enumerate()):
        assert time.monotonic() < end, "the page-mapping thread did not finish"
        time.sleep(0.01)


def test_writes_made_while_pages_are_mapped_are_kept() -> None:
    """Frames written from the first one on, while the thread maps the same range, read
    back exactly (compared with the values computed independently)."""
    shape = (64, 256, 256)  # 16 MiB of int32: above MIN_BYTES
    array = allocator.allocate(shape, np.int32, "<test>")
    expected = np.arange(np.prod(shape), dtype=np.int64).reshape(shape) % 65521 - 1024
    for k in range(shape[0]):
        array[k] = expected[k]
    _wait_for_prefault_threads()
    np.testing.assert_array_equal(array, expected)


@linux_only
def test_a_large_array_is_mapped_on_a_thread_and_small_ones_are_not() -> None:
    small = np.empty(prefault.MIN_BYTES // 2, np.uint8)
    assert not prefault.populate_soon(small)
    big = np.empty(prefault.MIN_BYTES * 2, np.uint8)
    started = prefault.populate_soon(big)
    if not started:
        pytest.skip("this kernel has no MADV_POPULATE_WRITE (Linux < 5.14)")
    _wait_for_prefault_threads()


def test_fork_safety_ignores_the_page_mapping_thread() -> None:
    """A mapping thread still running must not send the fork pool to forkserver."""
    if not parallel.fork_is_safe():
        pytest.skip("other threads run in this test process")
    gate = threading.Event()
    thread = threading.Thread(target=gate.wait, name=prefault.THREAD_NAME, daemon=True)
    thread.start()
    try:
        assert parallel.fork_is_safe() == sys.platform.startswith("linux")
    finally:
        gate.set()
        thread.join()
    other = threading.Thread(target=gate.wait, daemon=True)
    gate.clear()
    other.start()
    try:
        assert not parallel.fork_is_safe()
    finally:
        gate.set()
        other.join()


def test_switched_off_by_the_environment() -> None:
    code = ("import numpy as np; from dicomdecode.engine import prefault; "
            "print(prefault.populate_soon(np.empty(64 << 20, np.uint8)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "DICOMDECODE_NO_PREFAULT": "1"},
                         check=True)
    assert out.stdout.strip() == "False"
