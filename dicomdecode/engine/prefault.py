"""Map a series' output array on another thread, a little ahead of the decode filling it.

A fresh array's pages are mapped by the kernel on first write. For a 300 x 512 x 512
int32 series (300 MiB) that is paid by the thread copying the first frame into each page:
measured on 2 cores (a VM, Linux 6.18), 0.18 s with 4 KiB pages, 0.03-0.05 s with the
transparent huge pages NumPy asks for, and 0.5-0.7 s of system time when the kernel must
first compact memory to find huge pages (``defrag=madvise``, the common default): a load
of 300 JPEG-LS slices spent 1.4 s of 5.6 in the copies into the stack under a profiler,
almost all of it there, and the time varied 2x from run to run.

``MADV_POPULATE_WRITE`` (Linux 5.14) maps a range as if written, without touching its
contents, so it is safe while other threads write into the same range. One daemon thread
asks for the array from its start, which is the order the frames are filled in: on two
cores the mapping runs beside the decode instead of inside it (bench: JPEG-LS load
0.75-0.96 s -> 0.74-0.78 s on threads, 1.4-2.2 s -> 1.36-1.42 s serial; HTJ2K 0.41-0.59 s
-> 0.37-0.43 s; system time 0.1-0.9 s -> 0.05-0.13 s).

It never maps more than :data:`WINDOW` bytes beyond what the decode has already written
successfully (:meth:`Ahead.decoded`). Mapping a whole array at once would commit memory
that a hostile series never fills: a folder of small files whose headers claim big frames
gets an array the guard's budget allows but no file writes (the bomb tests went from 0.1
to 18 GiB of resident memory that way). Gated, such a series costs one window at most.

Nothing is done where the call does not exist (another OS, a kernel before 5.14: the first
refusal turns it off for the process) or with ``DICOMDECODE_NO_PREFAULT=1``.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from typing import Any

import numpy as np

#: arrays smaller than this are mapped fast enough by the writes themselves (NumPy asks
#: for huge pages from 4 MiB on)
MIN_BYTES = 4 << 20
#: how far the mapping may run ahead of the last successful write
WINDOW = 32 << 20
#: the threads' name (:func:`dicomdecode.engine.parallel.fork_is_safe` looks for it)
THREAD_NAME = "dicomdecode-prefault"
_STEP = 8 << 20
_PAGE = 4096
_MADV_POPULATE_WRITE = 23  # <linux/mman.h>; EINVAL before 5.14
_EINVAL, _ENOSYS = 22, 38

_madvise: Any = None
_enabled = sys.platform.startswith("linux") and not os.environ.get("DICOMDECODE_NO_PREFAULT")


def _load_madvise() -> Any:
    global _madvise, _enabled
    if _madvise is None:
        try:
            function = ctypes.CDLL(None, use_errno=True).madvise
        except (OSError, AttributeError):
            _enabled = False
            return None
        function.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        function.restype = ctypes.c_int
        _madvise = function
    return _madvise


class Ahead:
    """Maps `array`'s pages on a daemon thread, at most :data:`WINDOW` bytes past what
    :meth:`decoded` has reported, each report worth `unit_bytes` (one file's frames).

    Use as a context manager around the decode: leaving it stops the thread. Does nothing
    (and costs nothing) for small arrays, non-contiguous ones, or where the call is
    missing. The thread holds a reference to `array`, so its memory is not handed back
    while being mapped."""

    def __init__(self, array: np.ndarray, unit_bytes: int) -> None:
        self._lock = threading.Condition()
        self._allowed = 0
        self._unit = max(int(unit_bytes), 0)
        self._stopped = False
        self._thread: threading.Thread | None = None
        if not _enabled or array.nbytes < MIN_BYTES or not array.flags.c_contiguous:
            return
        madvise = _load_madvise()
        if madvise is None:
            return
        self._start = (array.ctypes.data + _PAGE - 1) & ~(_PAGE - 1)
        self._end = (array.ctypes.data + array.nbytes) & ~(_PAGE - 1)
        if self._end <= self._start:
            return
        self._allowed = self._start + WINDOW
        self._thread = threading.Thread(target=self._run, args=(madvise, array),
                                        name=THREAD_NAME, daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def decoded(self) -> None:
        """One more unit was written successfully: the mapping may go one unit further."""
        if self._thread is None:
            return
        with self._lock:
            self._allowed += self._unit
            self._lock.notify()

    def stop(self) -> None:
        if self._thread is None:
            return
        with self._lock:
            self._stopped = True
            self._lock.notify()

    def __enter__(self) -> Ahead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _limit(self) -> int:
        """How far the mapping may go now (page-aligned; under the lock)."""
        return min(self._allowed, self._end) & ~(_PAGE - 1)

    def _run(self, madvise: Any, keep_alive: np.ndarray) -> None:
        global _enabled
        at = self._start
        while at < self._end:
            with self._lock:
                while not self._stopped and self._limit() <= at:
                    self._lock.wait()
                if self._stopped:
                    return
                limit = self._limit()
            while at < limit:
                size = min(_STEP, limit - at)
                if madvise(at, size, _MADV_POPULATE_WRITE) != 0:
                    if ctypes.get_errno() in (_EINVAL, _ENOSYS):  # this kernel lacks it
                        _enabled = False
                    return  # ENOMEM and the rest: the writes fault the pages as before
                at += size
        del keep_alive


__all__ = ["MIN_BYTES", "THREAD_NAME", "WINDOW", "Ahead"]
