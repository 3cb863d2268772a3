"""How decoding work is spread over threads and processes.

Codecs that release the GIL while decoding (imagecodecs: libjpeg-turbo, CharLS, OpenJPEG,
OpenJPH, libjxl, its RLE) run on threads of this process: no process start, no fork, no
pickling, the same on Linux, macOS and Windows and inside data-loader workers. Those that
hold the GIL (the pylibjpeg plugins, GDCM, pyjpegls: threads measured 0.6-1.0x) or that
may abort the process (GDCM) run in a process pool (1.7-2.0x on 2 cores). Either is sized
to the CPUs this process may use (affinity and cgroup quota respected). ``workers=1``
always works and starts nothing.

Frames are decoded straight into the output array. With the ``fork`` start method the
output lives in an anonymous shared mapping made before the workers start, so workers
write into it and nothing but a few names comes back. Where ``fork`` is not safe (other
threads running, or a platform without it) workers use ``forkserver``/``spawn`` and send
their frames back; results are identical either way.
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from dicomdecode.engine import allocator, prefault, reuse

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

# multiprocessing, concurrent.futures and the process pool are imported where a pool is
# made (12 ms and 4 ms of every command's start-up; a single series converts on threads of
# the command's own process)

T = TypeVar("T")
#: names of the threads :func:`map_threaded` starts beside the caller
THREAD_PREFIX = "dicomdecode_"
R = TypeVar("R")


def available_cpus() -> int:
    """CPUs this process may run on: affinity mask, then any cgroup v2 CPU quota."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max") as fh:
            quota, period = fh.read().split()[:2]
        if quota != "max":
            count = min(count, max(1, int(int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, count)


def resolve_workers(workers: int | None, tasks: int, *, threads: bool = False) -> int:
    """The number of workers (processes, or `threads`) to use for `tasks` pieces of work.

    `workers` is :attr:`Options.workers` (already resolved from ``DICOMDECODE_WORKERS``);
    None means every CPU this process may use. Inside a daemon process (a data-loader or
    pool worker) no pool is nested, unless threads are asked for by number: a data loader
    that gives each worker two decoding threads says so with ``workers=2``."""
    asked = workers is not None
    if workers is None:
        workers = available_cpus()
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if _in_daemon_process() and not (threads and asked):
        return 1
    return max(1, min(workers, tasks))


def _in_daemon_process() -> bool:
    # a pool's worker has multiprocessing imported (its bootstrap runs there): no import
    multiprocessing = sys.modules.get("multiprocessing")
    return multiprocessing is not None and bool(multiprocessing.current_process().daemon)


def fork_is_safe() -> bool:
    """fork copies only the calling thread: unsafe when other threads hold locks.

    The stack decoder's page-mapping threads (:mod:`dicomdecode.engine.prefault`) do not
    count: they hold no lock while mapping (a ``madvise`` call, which fork leaves behind).
    Nor does the thread that unmaps idle kept memory (:mod:`dicomdecode.engine.reuse`): a
    child starts with a new lock and nothing kept."""
    if not sys.platform.startswith("linux"):
        return False
    ours = {prefault.THREAD_NAME, reuse.THREAD_NAME}
    return all(thread is threading.current_thread() or thread.name in ours
               for thread in threading.enumerate())


def shared_empty(shape: Sequence[int], dtype: np.dtype | type, path: str = "<memory>",
                 what: str = "decoded pixels") -> np.ndarray:
    """An uninitialised array in anonymous shared memory, inherited by forked children.

    The array owns its mapping (it is the array's base): it is freed with the array. A
    mapping the OS refuses is a ResourceLimitError naming `path` (see
    :func:`dicomdecode.engine.allocator.allocate`).
    """
    return allocator.allocate(shape, dtype, path, what=what, shared=True)


def output_empty(shape: Sequence[int], dtype: np.dtype | type, path: str = "<memory>",
                 what: str = "decoded pixels") -> np.ndarray:
    """An uninitialised output array for work done in this process (serial or threads).

    Plain ``np.empty``: NumPy asks Linux for transparent huge pages on large arrays, so
    filling it costs few page faults. Measured here, writing 300 x 512 x 512 int32 slices
    into it: np.empty 0.06 s, a private anonymous map 0.29 s (0.07 s with huge pages), a
    shared anonymous map 0.33 s (huge pages are off for shared memory by default). Only
    the fork pool needs :func:`shared_empty`. An allocation the OS refuses is a
    ResourceLimitError naming `path` (:func:`dicomdecode.engine.allocator.allocate`).
    A big one reuses the memory of one the caller dropped (:mod:`dicomdecode.engine.reuse`)."""
    return allocator.allocate(shape, dtype, path, what=what, reusable=True)


def _start_method(share_memory: bool) -> str:
    """fork when memory is to be shared (and it is safe), else forkserver or spawn."""
    import multiprocessing

    if share_memory:
        return "fork"
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def pool(workers: int, *, share_memory: bool) -> ProcessPoolExecutor:
    """A process pool; `share_memory` asks for fork so shared_empty arrays are inherited."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers,
                               mp_context=multiprocessing.get_context(
                                   _start_method(share_memory)),
                               initializer=_worker_setup)


def _worker_setup() -> None:
    """No core dumps from workers: a codec that aborts on a hostile file should cost that
    file, not minutes of dumping a large process (during which the pool waits) and
    gigabytes of core files left behind by a batch."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass


def map_ordered(function: Callable[[T], R], items: Iterable[T], workers: int,
                *, share_memory: bool = False) -> list[R]:
    """``[function(item) for item in items]``, spread over `workers` processes."""
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        return [function(item) for item in items]
    chunks = max(1, len(items) // (workers * 8))
    with pool(workers, share_memory=share_memory) as executor:
        return list(executor.map(function, items, chunksize=chunks))


def map_threaded(function: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    """``[function(item) for item in items]`` on `workers` threads of this process (the
    caller's thread is one of them).

    For work whose heavy part releases the GIL (a codec call): threads share the output
    array and need no pickling. Exceptions propagate as from the loop (the first one
    raised; the other threads stop taking items); `function` is expected to report
    per-item failures in its result.

    Why not ``ThreadPoolExecutor.map``: it made a Future per item and started a thread on
    each of the first submits, and a thread started while another one already decodes
    waits for the GIL up to a switch interval (5 ms) before it runs. convert decodes a
    series in chunks, so that was paid per chunk: cProfile of a 300-slice JPEG convert
    put 0.075 s in ``_adjust_thread_count``, on the critical path. Here the helpers are
    all started before any of them works (they wait for one event), the caller works
    too, and each thread takes the next index from one counter."""
    if workers <= 1 or len(items) <= 1:
        return [function(item) for item in items]
    results: list[Any] = [None] * len(items)
    failed: list[BaseException] = []
    go = threading.Event()
    claim = itertools.count().__next__  # one call under the GIL: every index once

    def work() -> None:
        try:
            while not failed:
                k = claim()
                if k >= len(items):
                    return
                results[k] = function(items[k])
        except BaseException as exc:  # re-raised by the caller, as from the loop
            failed.append(exc)

    def helper() -> None:
        go.wait()
        work()

    helpers = [threading.Thread(target=helper, name=f"{THREAD_PREFIX}{n}", daemon=True)
               for n in range(min(workers, len(items)) - 1)]
    try:
        for thread in helpers:
            thread.start()
        go.set()
        work()
    except BaseException as exc:  # KeyboardInterrupt in the caller: stop the helpers too
        failed.append(exc)
        raise
    finally:
        go.set()
        for thread in helpers:
            thread.join()
    if failed:
        raise failed[0]
    return results


class WorkerDied(RuntimeError):
    """A task's worker process died (a codec aborted, the OOM killer) or hung past the
    timeout, twice: once among others, once alone. ``.exitcode`` is the process's exit
    status (negative: killed by that signal), None for a timeout."""

    def __init__(self, message: str, exitcode: int | None) -> None:
        self.exitcode = exitcode
        super().__init__(message)


Task = tuple[Callable[..., Any], tuple[Any, ...]]


def run_unordered(tasks: Sequence[Task], workers: int, *, share_memory: bool = False,
                  timeout: float | None = None, isolate: bool = False,
                  held: Sequence[int] | None = None, budget: int | None = None
                  ) -> Iterator[tuple[Task, Any]]:
    """Run ``fn(*args)`` for every task; yield ``(task, result)`` as each finishes.

    A task that raises yields its exception as the result (KeyboardInterrupt and
    SystemExit excepted); nothing is lost. With more than one worker the tasks run in a
    process pool; when a worker dies (a codec that aborts the process) or no task
    finishes for `timeout` seconds (a codec that spins), the pool is replaced, the tasks
    that were not finished are run again one at a time, each alone in a fresh process,
    and the one that kills (or hangs) its worker again gets a :class:`WorkerDied` with
    the signal. So one hostile file costs one file, never the batch. ``isolate=True``
    runs even a single task in a worker process (never in the caller's).

    `held` (bytes per task, in `tasks`' order) and `budget` bound the memory the pool's
    tasks hold at once: a task is handed to the pool only while the tasks handed over
    and not finished hold at most `budget` together (one task always runs, whatever its
    size; a later, smaller task may go first). Without them every task is handed over
    at once.
    """
    tasks = list(tasks)
    if not tasks:
        return
    if not isolate and (workers <= 1 or len(tasks) <= 1):
        for task in tasks:
            yield task, _call(task)
        return
    sizes = list(held) if held is not None and budget is not None else [0] * len(tasks)
    if len(sizes) != len(tasks):
        raise ValueError(f"{len(sizes)} sizes for {len(tasks)} tasks")
    unfinished = yield from _pooled(tasks, workers, share_memory, timeout, sizes,
                                    budget if held is not None else None)
    for task in unfinished:  # isolation: each alone, so a death names its task
        yield task, _run_alone(task, share_memory, timeout)


def _run_alone(task: Task, share_memory: bool, timeout: float | None) -> Any:
    """``fn(*args)`` in one child process of our own (not a pool's), so that its exit
    status, the signal that killed it, is known for certain; WorkerDied when it dies or
    does not answer within `timeout` seconds."""
    import multiprocessing

    context = multiprocessing.get_context(_start_method(share_memory))
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child_main, args=(task, sender),  # type: ignore[attr-defined]
                            daemon=True)
    child.start()
    sender.close()
    try:
        if receiver.poll(timeout):
            try:
                return receiver.recv()
            except (EOFError, OSError):
                pass  # it died before answering
        else:
            child.kill()
            child.join()
            return WorkerDied("worker process did not finish in time (hung) and was stopped",
                              None)
        child.join()
        return _died(child.exitcode)
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join()


def _child_main(task: Task, sender: Any) -> None:
    _worker_setup()
    result = _call(task)
    try:
        sender.send(result)
    except Exception as exc:  # an unpicklable result or exception: say what it was
        sender.send(RuntimeError(f"{type(result).__name__}: {result} (not picklable: {exc})"))
    sender.close()


def _died(code: int | None) -> WorkerDied:
    if code is None or code >= 0:
        return WorkerDied(f"worker process exited with status {code}", code)
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    return WorkerDied(f"decoder aborted the worker process ({name})", code)


def _call(task: Task) -> Any:
    fn, args = task
    try:
        return fn(*args)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        return exc


def _pooled(tasks: list[Task], workers: int, share_memory: bool, timeout: float | None,
            sizes: list[int], budget: int | None
            ) -> Generator[tuple[Task, Any], None, list[Task]]:
    """Run `tasks` on one pool, handing them over as `budget` allows (see
    :func:`run_unordered`); yield finished ones; return those a broken pool lost (and
    those not handed over when it broke)."""
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    executor = pool(min(workers, len(tasks)), share_memory=share_memory)
    lost: list[Task] = []
    waiting = list(range(len(tasks)))  # not handed over yet, in order
    futures: dict[Future[Any], int] = {}
    pending: set[Future[Any]] = set()
    in_use = 0

    def hand_over() -> None:
        nonlocal in_use
        for k in list(waiting):
            if pending and budget is not None and in_use + sizes[k] > budget:
                continue  # a smaller one further on may fit
            waiting.remove(k)
            in_use += sizes[k]
            future = executor.submit(_call, tasks[k])
            futures[future] = k
            pending.add(future)

    try:
        hand_over()
        known: dict[int, Any] = {}  # the pool forgets its processes once broken: we don't
        broken = False
        while pending:
            known.update(getattr(executor, "_processes", None) or {})
            done, still = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
            if not done:  # nothing finished in `timeout` seconds: a hang
                lost.extend(tasks[futures[f]] for f in still)
                lost.extend(tasks[k] for k in waiting)
                _stop(list(known.values()))
                return lost
            pending.clear()
            pending.update(still)
            for future in done:
                in_use -= sizes[futures[future]]
                try:
                    result = future.result()
                except BrokenProcessPool:
                    lost.append(tasks[futures[future]])
                    broken = True
                    continue
                yield tasks[futures[future]], result
            if not broken:
                hand_over()
        lost.extend(tasks[k] for k in waiting)  # a broken pool takes no more
        if lost:
            _stop(list(known.values()))
        return lost
    finally:
        executor.shutdown(wait=not lost, cancel_futures=True)


def _stop(processes: list[Any]) -> None:
    """Kill what is left of a broken or hung pool's worker `processes`."""
    for process in processes:
        if process.is_alive():
            process.kill()
    for process in processes:
        process.join(timeout=5)


def split_evenly(items: Sequence[Any], parts: int) -> list[Sequence[Any]]:
    """Contiguous, nearly equal slices of `items` (keeps each worker's files together)."""
    parts = max(1, min(parts, len(items)))
    size, extra = divmod(len(items), parts)
    out, start = [], 0
    for index in range(parts):
        stop = start + size + (1 if index < extra else 0)
        out.append(items[start:stop])
        start = stop
    return out
