"""Big output arrays whose memory is used again once the caller has dropped them.

Why: the kernel zeroes every page of a fresh array on first touch. A 300 x 512 x 512
int32 series is 315 MB: 0.03-0.05 s of zeroing with huge pages on bare metal, and
0.15-0.35 s of system time on a VM whose freed memory goes back to the host (virtio-balloon
free page reporting: each freed block is faulted in from the host again when mapped anew).
A data loader, a notebook or a service loads one series after another, mostly of the same
size: the memory of the volume just dropped is what the next one needs. glibc keeps and
reuses its heap for blocks under its mmap threshold (32 MiB here,
:mod:`dicomdecode.engine.allocator`), but a series' stack is above it: each one is a
fresh mapping, unmapped when freed.

How: an output array of at least :data:`MIN_BYTES` lives on a private anonymous mapping
(with huge pages, as NumPy asks for its own), wrapped in one ``ctypes`` array that every
NumPy view leads back to. When that wrapper is collected (the array and every view of it
are gone), a finalizer files the mapping instead of unmapping it; the next output array
that fits takes it, its pages already mapped. Contents are not cleared: an output array
is uninitialised either way, as ``np.empty``'s are, and every frame of it is written or
reported failed (:func:`dicomdecode.decode.stack.decode_stack`).

What is kept is bounded: one mapping (:data:`KEEP_COUNT`, the one dropped last) of at
most :func:`keep_bytes` (1 GiB, or an eighth of the machine's memory if less), and a
mapping nobody took for :data:`IDLE_SECONDS` is unmapped by a daemon thread.
``DICOMDECODE_NO_REUSE=1`` turns it off (every output array is then a plain
``np.empty``); :func:`release` unmaps what is kept now.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import sys
import threading
import time
import weakref
from collections.abc import Sequence

import numpy as np

#: below this an array comes from glibc's heap, which is reused anyway
MIN_BYTES = 32 << 20
#: a kept mapping unused this long is unmapped
IDLE_SECONDS = 30.0
#: a mapping is used for an array of at least this share of its size
FIT = 0.5
#: mappings kept at once: a loop of loads needs one (the volume dropped while the next
#: loads); each process keeps its own, so a data loader's N workers keep N at most
KEEP_COUNT = 1
#: the name of the thread that unmaps idle mappings (fork-safe: it holds no lock while
#: it waits, and a child starts with an empty list)
THREAD_NAME = "dicomdecode-reuse"

_enabled = (sys.platform.startswith("linux") and hasattr(mmap, "MAP_PRIVATE")
            and not os.environ.get("DICOMDECODE_NO_REUSE"))
_lock = threading.Condition()
_kept: list[tuple[float, mmap.mmap]] = []  # (when it was filed, the mapping)
_janitor: threading.Thread | None = None


def keep_bytes() -> int:
    """The most memory kept for reuse: 1 GiB, or an eighth of the machine's if less."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        physical = 8 << 30
    return int(min(1 << 30, physical // 8))


def empty(shape: Sequence[int], dtype: np.dtype, count: int) -> np.ndarray | None:
    """An uninitialised C-order array of `count` items (the product of `shape`, as
    :func:`~dicomdecode.engine.allocator.allocate` computed it) on a reused (or new,
    reusable) mapping, or None when this does not apply (too small, turned off, not
    Linux): the caller then makes it."""
    nbytes = count * dtype.itemsize
    if not _enabled or nbytes < MIN_BYTES or nbytes > keep_bytes():
        return None
    mapping = _take(nbytes)
    if mapping is None:
        mapping = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        if hasattr(mmap, "MADV_HUGEPAGE"):
            try:
                mapping.madvise(mmap.MADV_HUGEPAGE)
            except OSError:
                pass  # a kernel without transparent huge pages
    wrapper = (ctypes.c_char * nbytes).from_buffer(mapping)
    # not at exit: the interpreter's teardown unmaps everything anyway
    weakref.finalize(wrapper, _file, mapping).atexit = False
    view = memoryview(wrapper).cast("B")  # NumPy reads a ctypes array as bytes
    return np.frombuffer(view, dtype=dtype, count=count).reshape(tuple(shape))


def release() -> int:
    """Unmap every kept mapping now; the bytes given back."""
    with _lock:
        mappings = [mapping for _, mapping in _kept]
        _kept.clear()
    size = sum(len(mapping) for mapping in mappings)
    for mapping in mappings:
        mapping.close()
    return size


def kept() -> int:
    """Bytes kept for reuse now."""
    with _lock:
        return sum(len(mapping) for _, mapping in _kept)


def _take(nbytes: int) -> mmap.mmap | None:
    """The smallest kept mapping of `nbytes` to ``nbytes / FIT`` bytes, taken off the list."""
    with _lock:
        fitting = [(len(m), i) for i, (_, m) in enumerate(_kept)
                   if nbytes <= len(m) <= nbytes / FIT]
        if not fitting:
            return None
        _, index = min(fitting)
        return _kept.pop(index)[1]


def _file(mapping: mmap.mmap) -> None:
    """The finalizer: file `mapping` for reuse, dropping the oldest kept beyond the bound."""
    global _janitor
    dropped: list[mmap.mmap] = []
    with _lock:
        _kept.append((time.monotonic(), mapping))
        limit = keep_bytes()
        while len(_kept) > KEEP_COUNT or sum(len(m) for _, m in _kept) > limit:
            dropped.append(_kept.pop(0)[1])
        if _janitor is None or not _janitor.is_alive():
            _janitor = threading.Thread(target=_unmap_idle, name=THREAD_NAME, daemon=True)
            _janitor.start()
        _lock.notify()
    for old in dropped:
        old.close()


def _unmap_idle() -> None:
    """Unmap mappings kept longer than :data:`IDLE_SECONDS`; end when none is kept."""
    while True:
        with _lock:
            if not _kept:
                return
            now = time.monotonic()
            idle = [mapping for filed, mapping in _kept if now - filed >= IDLE_SECONDS]
            _kept[:] = [(f, m) for f, m in _kept if now - f < IDLE_SECONDS]
            if not idle:
                _lock.wait(timeout=min(f for f, _ in _kept) + IDLE_SECONDS - now)
                continue
        for mapping in idle:
            mapping.close()


def _forget_in_child() -> None:
    """A forked child starts with nothing kept and no janitor (its thread is not copied)."""
    global _lock, _janitor
    _lock = threading.Condition()
    _kept.clear()
    _janitor = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)
