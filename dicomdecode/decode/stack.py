"""Decode a series' images into one preallocated stack of stored values, in parallel.

This is the hot path of ``load``. One output array ``(images, rows, cols[, samples])`` is
allocated once (after the guard and the memory budget); every file's frames are written
into their place in it through the one road, :func:`dicomdecode.decode.dispatch.
decode_into` (native pixels are read by offset straight into it). Where every file's
codec releases the GIL, threads of this process write into it. Otherwise, with more than
one worker, the stack lives in shared memory and forked workers write into it directly
(see :mod:`dicomdecode.engine.parallel`), so no frame is pickled or copied twice; a
worker that dies or hangs costs the file that killed it, nothing else. Results do not depend on the worker count: each frame is decoded by the same
code into the same place.

What is the same for every file (the header checks and handler choice per header
layout, the options, the rescale) is worked out once per series (:class:`_Series`).
When the assembler asks for output values, each file's canonical frames are rescaled as
they are copied into the stack (:mod:`dicomdecode.decode.store`), so CT's int16 becomes
int32 HU in one pass over each slice, while it is in the CPU cache.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dicomdecode.decode import validate
from dicomdecode.decode.canonical import frames_shape, target_dtype
from dicomdecode.decode.dispatch import Checked, check_decodable, decode_into
from dicomdecode.decode.store import rescale_into
from dicomdecode.engine import allocator, parallel, prefault
from dicomdecode.errors import DicomDecodeError
from dicomdecode.options import Options
from dicomdecode.read import transfer_syntax as ts
from dicomdecode.read.pixel_source import PixelSource, pixel_source_of_image

# The output stack that forked workers inherit (set only around a fork-based pool).
_SHARED_STACK: np.ndarray | None = None


@dataclass(frozen=True)
class FileJob:
    """The frames one file contributes, and where they go in the stack."""

    path: str
    frames: tuple[int, ...]
    positions: tuple[int, ...]
    source: PixelSource  # pixel description from the header (no pixel bytes yet)


@dataclass(frozen=True)
class FileResult:
    path: str
    handler: str
    photometric: str
    error: str | None
    frames: np.ndarray | None = None  # only when workers cannot share memory


def plan(images: Sequence[Any]) -> list[FileJob]:
    """One job per file, in the order files first appear in `images`."""
    by_path: dict[str, list[tuple[int, int]]] = defaultdict(list)
    order: list[str] = []
    first: dict[str, Any] = {}
    for position, image in enumerate(images):
        if image.path not in by_path:
            order.append(image.path)
            first[image.path] = image
        by_path[image.path].append((image.frame, position))
    jobs = []
    for path in order:
        pairs = sorted(by_path[path], key=lambda fp: fp[1])
        image = first[path]
        jobs.append(FileJob(path, tuple(f for f, _ in pairs), tuple(p for _, p in pairs),
                            pixel_source_of_image(image)))
    return jobs


def _contiguous(positions: Sequence[int]) -> bool:
    return all(b == a + 1 for a, b in zip(positions, positions[1:], strict=False))


Scales = Sequence[tuple[float, float]]  # (slope, intercept) per stack position

# a file's frames larger than this get a buffer of their own instead of the thread's
_SCRATCH_MAX_BYTES = 64 * 1024 * 1024


class _Series:
    """What is the same for every file of one stack decode, worked out once: the output,
    the options, the rescale to fuse into the copy, the handler checks (per header
    layout, :class:`~dicomdecode.decode.dispatch.Checked`) and one reusable buffer per
    thread for files whose frames are not decoded straight into the output."""

    def __init__(self, stack: np.ndarray | None, options: Options,
                 scales: Scales | None) -> None:
        self.stack = stack
        self.options = options
        self.scales = scales
        self.checked = Checked(options.handlers)
        self._scratch: dict[int, np.ndarray] = {}

    def scratch(self, shape: tuple[int, ...], dtype: np.dtype, path: str) -> np.ndarray:
        """An uninitialised buffer of `shape` and `dtype`, reused by this thread's next
        file (it stays in the CPU cache): nothing keeps it past the copy into the stack."""
        key = threading.get_ident()
        buffer = self._scratch.get(key)
        if buffer is not None and buffer.shape == shape and buffer.dtype == dtype:
            return buffer
        buffer = allocator.allocate(shape, dtype, path)
        if buffer.nbytes <= _SCRATCH_MAX_BYTES:
            self._scratch[key] = buffer
        return buffer


def _store(frames: np.ndarray, stack: np.ndarray, positions: Sequence[int],
           scales: Scales | None, in_place: bool) -> None:
    """Canonical `frames` into their `positions` of `stack`: cast, or rescaled in the same
    pass (:func:`~dicomdecode.decode.store.rescale_into`). `in_place`: `frames` already
    is that part of `stack`."""
    if scales is None:
        if in_place:
            return
        if _contiguous(positions):  # a slice assignment casts without a gather
            stack[positions[0]:positions[-1] + 1] = frames
        else:
            stack[list(positions)] = frames
        return
    for k, position in enumerate(positions):
        slope, intercept = scales[position]
        if in_place and slope == 1 and intercept == 0:
            continue
        rescale_into(frames[k], stack[position], slope, intercept)


def _decode_job(job: FileJob, series: _Series) -> FileResult:
    """Decode one file's frames into the stack (or return them when there is none)."""
    stack = series.stack
    source = job.source
    dtype = target_dtype(source)
    shape = frames_shape(source, len(job.frames))
    # a stack of the canonical dtype is decoded into in place; one of a wider dtype (the
    # assembler's output dtype) gets each file's canonical frames cast (or rescaled) into it
    direct = (stack is not None and stack.dtype == dtype and _contiguous(job.positions))
    if direct:
        target = stack[job.positions[0]:job.positions[-1] + 1]  # type: ignore[index]
    elif stack is not None:
        target = series.scratch(shape, dtype, job.path)
    else:
        target = allocator.allocate(shape, dtype, job.path)
    try:
        handler, photometric = decode_into(source, job.frames, target, series.options,
                                           checked=series.checked)
    except (DicomDecodeError, OSError, ValueError, IndexError) as exc:
        # ValueError: this file's header disagrees with the series' (another size/dtype)
        return FileResult(job.path, "", "", str(exc))
    if stack is None:
        return FileResult(job.path, handler, photometric, None, target)
    _store(target, stack, job.positions, series.scales, direct)
    return FileResult(job.path, handler, photometric, None)


def _run_chunks(chunks: list[list[FileJob]], count: int, shared: bool, options: Options,
                scales: Scales | None, by_path: dict[str, FileResult]
                ) -> list[list[FileJob]]:
    """Run `chunks` on the engine's pool, filling `by_path`; return what to run again.

    A chunk whose worker died (a codec abort) or hung is split into one-file chunks and
    run again, so the innocent files of that chunk are decoded and the file that kills
    its worker alone is failed with the signal: one hostile file costs one file."""
    tasks = [(_run_chunk, ((chunk, options, shared, scales),)) for chunk in chunks]
    timeout = options.file_timeout * max(len(c) for c in chunks)
    again: list[list[FileJob]] = []
    for task, result in parallel.run_unordered(tasks, count, share_memory=shared,
                                               timeout=timeout):
        chunk: list[FileJob] = task[1][0][0]
        if isinstance(result, parallel.WorkerDied) and len(chunk) > 1:
            again.extend([job] for job in chunk)
        elif isinstance(result, BaseException):
            for job in chunk:
                by_path[job.path] = FileResult(job.path, "", "", f"{result}")
        else:
            by_path.update((r.path, r) for r in result)
    return again


def _run_chunk(args: tuple[list[FileJob], Any, bool, Scales | None]) -> list[FileResult]:
    jobs, options, shared, scales = args
    series = _Series(_SHARED_STACK if shared else None, options, scales)
    return [_decode_job(job, series) for job in jobs]


# Below this output size (and unless workers are asked for) a pool costs more than it saves.
_PARALLEL_MIN_BYTES = 16 * 1024 * 1024
_THREADS_MIN_BYTES = 2 * 1024 * 1024  # threads start in microseconds
# Syntaxes whose frames decode in less time than the per-file Python around them (a file
# read and a byte copy; RLE's run-length expansion, ~0.5 ms a 512 x 512 frame): on threads
# the files mostly wait for the GIL, and a thread back from a GIL-free read or codec call
# waits up to a switch interval for it (the convoy effect). Measured on 300 512 x 512 CT
# slices, 2 cores: quiet machine, the default (threads) 0.77x of workers=1 for both
# (bench at a92c837); loaded, threads +30% CPU time for explicit, +40% for RLE, the same
# for JPEG-LS. By default these decode serially; ``workers=N`` still asks for threads.
# RLE again with the GIL-free built-in decoder written into the stack (issue 19): the
# decode is ~0.3 ms of a file's ~0.8 ms, the rest per-file Python and the stack's first
# touch (page zeroing, on the allocator's thread); loaded 2-core machine, paired medians
# of 11 in one process: workers=2 at 0.92x, then 1.03x (a tie) the speed of workers=1,
# so still serial.
# Then the integer rescale became one GIL-free loop too (decode/widen.py) and the threads
# stopped paying a Future per file and a GIL wait per thread start
# (engine.parallel.map_threaded): 300 RLE CT slices, one process, alternating, medians of
# 12 (three runs): workers=2 0.156-0.254 s against workers=1 0.187-0.30 s, so RLE decodes
# on threads now. Native data still ties (0.151-0.153 s either way): serial.
_SERIAL_FAMILIES = frozenset({"native"})


def _light(jobs: Sequence[FileJob]) -> bool:
    """True when every file's syntax is of :data:`_SERIAL_FAMILIES`."""
    families = set()
    for syntax in {job.source.transfer_syntax for job in jobs}:
        row = ts.lookup(syntax)
        families.add(row.family if row is not None else "")
    return families <= _SERIAL_FAMILIES


def _threads_suffice(jobs: Sequence[FileJob], options: Options) -> bool:
    """True when every file's first handler releases the GIL (and none can abort the
    process): its frames then decode on threads of this process, no pool needed."""
    seen: set[str] = set()
    for job in jobs:  # the handler order depends on the syntax alone: one look per syntax
        if job.source.transfer_syntax in seen:
            continue
        seen.add(job.source.transfer_syntax)
        try:
            first = check_decodable(job.source, options.handlers)[0]
        except DicomDecodeError:
            continue  # reported by the decode itself
        if not first.releases_gil or first.may_abort:
            return False
    return True


def decode_stack(images: Sequence[Any], options: Options, dtype: np.dtype | None = None,
                 scales: Scales | None = None) -> tuple[np.ndarray, list[FileResult]]:
    """Stored values of `images` as one array, and one result per file (errors included).

    `dtype` (default: the canonical dtype) may be a wider integer dtype that every stored
    value casts to exactly: the assembler passes its output dtype so that a rescale which
    widens (int16 CT to int32 HU) happens in place, without a second full-size array.
    `scales` (one ``(slope, intercept)`` per image; needs `dtype`) asks for output values
    instead of stored ones: each frame is rescaled as it is copied into the stack, in the
    one pass of :func:`~dicomdecode.decode.store.rescale_into`; `dtype` must then hold
    every value the header allows (the assembler's policy guarantees it).
    Frames of files that failed are left uninitialised: callers must drop them (every
    failure is in the results).
    """
    global _SHARED_STACK
    allocator.tune_for_bulk_decoding()
    jobs = plan(images)
    validate.check_header(jobs[0].source)
    shape = frames_shape(jobs[0].source, len(images))
    canonical = target_dtype(jobs[0].source)
    dtype = canonical if dtype is None else np.dtype(dtype)
    if scales is not None and len(scales) != len(images):
        raise ValueError(f"{len(scales)} scales for {len(images)} images")
    if scales is None and not np.can_cast(canonical, dtype, "safe"):
        raise ValueError(f"a {dtype} stack cannot hold {canonical} frames exactly")
    validate.check_budget(int(np.prod(shape, dtype=np.int64)) * dtype.itemsize, jobs[0].path,
                          validate.memory_budget(options.max_bytes), what="the series' pixels")
    nbytes = int(np.prod(shape)) * dtype.itemsize
    if _threads_suffice(jobs, options):
        count = parallel.resolve_workers(options.workers, len(jobs), threads=True)
        if options.workers is None and (nbytes < _THREADS_MIN_BYTES or _light(jobs)):
            count = 1
        stack = parallel.output_empty(shape, dtype, jobs[0].path, "the series' pixels")
        # one level of threads: files across threads, or a multi-frame file's frames
        per_file = dataclasses.replace(options, workers=1) if count > 1 else options
        series = _Series(stack, per_file, scales)
        # the stack's pages are mapped on another thread, just ahead of the files written
        with prefault.Ahead(stack, nbytes // len(jobs)) as ahead:
            def decode_one(job: FileJob) -> FileResult:
                result = _decode_job(job, series)
                if result.error is None:
                    ahead.decoded()
                return result

            return stack, parallel.map_threaded(decode_one, jobs, count)
    count = parallel.resolve_workers(options.workers, len(jobs) - 1)
    if count <= 1 or (options.workers is None and nbytes < _PARALLEL_MIN_BYTES):
        stack = parallel.output_empty(shape, dtype, jobs[0].path, "the series' pixels")
        series = _Series(stack, options, scales)
        return stack, [_decode_job(job, series) for job in jobs]

    shared = parallel.fork_is_safe()
    stack = (parallel.shared_empty(shape, dtype, jobs[0].path, "the series' pixels") if shared
             else allocator.allocate(shape, dtype, jobs[0].path, what="the series' pixels"))
    # Import the codecs here, once, so forked workers inherit them; the files themselves
    # are all decoded in workers, where a codec that aborts costs one file, not us.
    try:
        check_decodable(jobs[0].source, options.handlers)
    except DicomDecodeError:
        pass  # reported per file by the workers
    by_path: dict[str, FileResult] = {}
    _SHARED_STACK = stack if shared else None
    try:
        pending = [list(c) for c in parallel.split_evenly(jobs, count * 4)]
        while pending:
            pending = _run_chunks(pending, count, shared, options, scales, by_path)
    finally:
        _SHARED_STACK = None
    results = [by_path[job.path] for job in jobs]
    if not shared:
        for job, result in zip(jobs, results, strict=True):
            if result.frames is not None:
                _store(result.frames, stack, job.positions, scales, False)
    return stack, results
