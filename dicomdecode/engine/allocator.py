"""glibc allocator tuning for bulk decoding (Linux only; no-op elsewhere).

Every decoded frame makes a few large temporary buffers (the codec's output, GDCM's
string, our canonical copy). With glibc's defaults each one is handed back to the kernel
when freed and faulted in again for the next frame: on 300 JPEG-lossless CT slices that
was 1.4 s of system time out of 3.7 s (bench/). Keeping 64 MB of headroom at the top of
the heap (M_TOP_PAD) and not trimming below 256 MB (M_TRIM_THRESHOLD) removes it (0.12 s
system time, 2.2 s wall). The cost is that up to that much freed memory stays with the
process. Set DICOMDECODE_NO_MALLOPT=1 to leave the allocator alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_done = False


def tune_for_bulk_decoding() -> bool:
    """Apply the settings once per process; True if they were applied."""
    global _done
    if _done or not sys.platform.startswith("linux") or os.environ.get(
            "DICOMDECODE_NO_MALLOPT"):
        return False
    _done = True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = mallopt(_M_TOP_PAD, 64 << 20) == 1
    ok = mallopt(_M_TRIM_THRESHOLD, 256 << 20) == 1 and ok
    return ok
