"""glibc allocator tuning for bulk decoding (Linux only; no-op elsewhere).

Every decoded frame makes a few large temporary buffers (the codec's output, GDCM's
string, our canonical copy). With glibc's defaults each one is handed back to the kernel
when freed and faulted in again for the next frame: on 300 JPEG-lossless CT slices that
was 1.4 s of system time out of 3.7 s (bench/). Keeping 64 MB of headroom at the top of
the heap (M_TOP_PAD) and not trimming below 256 MB (M_TRIM_THRESHOLD) removes it (0.12 s
system time, 2.2 s wall). The cost is that up to that much freed memory stays with the
process. Set DICOMDECODE_NO_MALLOPT=1 to leave the allocator alone.

Setting any of these also freezes glibc's *dynamic* mmap threshold (which otherwise rises
to the size of the largest block freed, up to 32 MiB) at whatever it was then: 128 KiB in
a fresh process, so every frame buffer and every convert chunk above that was a fresh
``mmap`` whose pages the kernel zeroes on first touch, while a process that had freed big
blocks before (a pydicom loop, say) kept a high one: the same call cost a different
amount depending on history. So the threshold is set too, to the ceiling the dynamic rule
would reach (32 MiB): frames and chunks are reused from the heap, a series' stack
(hundreds of MB) is still its own mapping, returned when freed. Measured, whole-process
``convert`` of 300 CT slices to .nii.gz, paired medians of 11: explicit VR system time
0.33 -> 0.19 s, wall 0.91x; 8-bit JPEG wall 0.94x.

It also holds :func:`allocate`, the one place an array sized by a file's header is made,
so that a failed allocation is a typed error naming the file, never a bare MemoryError.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import sys
from collections.abc import Sequence

import numpy as np

from dicomdecode.engine import reuse
from dicomdecode.errors import ResourceLimitError

_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
#: glibc's own ceiling for its dynamic mmap threshold (DEFAULT_MMAP_THRESHOLD_MAX, 64-bit)
_MMAP_THRESHOLD = 32 << 20
_done = False


def tune_for_bulk_decoding() -> bool:
    """Apply the settings once per process; True if they were applied."""
    global _done
    if _done or not sys.platform.startswith("linux") or os.environ.get(
            "DICOMDECODE_NO_MALLOPT"):
        return False
    _done = True
    try:
        # the process's own symbols (libc among them): find_library would run ldconfig
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = mallopt(_M_TOP_PAD, 64 << 20) == 1
    ok = mallopt(_M_TRIM_THRESHOLD, 256 << 20) == 1 and ok
    ok = mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD) == 1 and ok
    return ok


def allocate(shape: Sequence[int], dtype: np.dtype | type, path: str, *,
             what: str = "decoded pixels", shared: bool = False,
             reusable: bool = False) -> np.ndarray:
    """An uninitialised array sized by a header, or a ``ResourceLimitError`` naming `path`.

    The ONE way an array whose size comes from a file's header is made (``decode``'s
    output, a series' stack, the fork pool's shared stack). The guard's budget
    (:func:`dicomdecode.decode.validate.check_budget`) is checked first, but it is a share
    of the memory the *machine* has: a process with less room (an address-space limit, a
    32-bit build, a fragmented heap) gets ``MemoryError`` from numpy, or ``OSError``
    (ENOMEM) from ``mmap``, for a size the budget allowed. That is the file's cost, not a
    crash: it becomes a typed error naming the file and the size, as every other refusal.
    `shared` asks for anonymous shared memory that forked children inherit. `reusable`
    (an output array handed to the caller): a big one takes the memory of one the caller
    dropped, its pages already mapped (:mod:`dicomdecode.engine.reuse`).
    """
    dtype = np.dtype(dtype)
    count = 1
    for n in shape:
        count *= int(n)
    nbytes = count * dtype.itemsize
    try:
        if not shared:
            reused = reuse.empty(shape, dtype, count) if reusable else None
            return reused if reused is not None else np.empty(tuple(shape), dtype=dtype)
        buffer = mmap.mmap(-1, max(nbytes, 1), flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
        return np.frombuffer(buffer, dtype=dtype, count=count).reshape(tuple(shape))
    except (MemoryError, OSError, OverflowError, ValueError) as exc:
        # ValueError: numpy's "array is too big" for sizes beyond the address space
        raise ResourceLimitError(
            f"could not allocate {what}: {nbytes / (1 << 20):.1f} MiB ({nbytes} bytes, shape "
            f"{tuple(int(n) for n in shape)} {dtype}): {type(exc).__name__}: {exc or 'no memory'}"
            " (this process has less memory than the budget allowed; set "
            "DICOMDECODE_MAX_BYTES lower to refuse such files before trying)",
            path, needed=nbytes) from None
