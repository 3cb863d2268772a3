"""Worker sizing and work splitting (dicomdecode.engine.parallel), allocator tuning."""

from __future__ import annotations

import os

import numpy as np
import pytest

from dicomdecode.engine import allocator, parallel


def test_available_cpus_respects_affinity():
    assert 1 <= parallel.available_cpus() <= len(os.sched_getaffinity(0))


def test_resolve_workers(monkeypatch):
    monkeypatch.delenv("DICOMDECODE_WORKERS", raising=False)
    assert parallel.resolve_workers(1, 100) == 1
    assert parallel.resolve_workers(8, 3) == 3  # never more workers than pieces of work
    # the environment is read once, by Options; the engine takes the resolved number
    from dicomdecode.options import Options

    monkeypatch.setenv("DICOMDECODE_WORKERS", "1")
    assert parallel.resolve_workers(Options.resolve().workers, 100) == 1
    with pytest.raises(ValueError):
        parallel.resolve_workers(0, 10)


@pytest.mark.parametrize("count,parts", [(10, 3), (3, 8), (1, 1), (7, 7)])
def test_split_evenly_keeps_order_and_items(count, parts):
    items = list(range(count))
    chunks = parallel.split_evenly(items, parts)
    assert [x for c in chunks for x in c] == items
    sizes = [len(c) for c in chunks]
    assert max(sizes) - min(sizes) <= 1 and len(chunks) == min(parts, count)


def test_shared_output_is_a_plain_writable_array():
    array = parallel.output_empty((3, 4, 5), np.int16)
    array[...] = 7
    assert array.flags.c_contiguous and array.flags.writeable
    assert int(array.sum()) == 7 * 60


def test_allocator_tuning_applies_once():
    first = allocator.tune_for_bulk_decoding()
    assert allocator.tune_for_bulk_decoding() is False  # once per process
    assert isinstance(first, bool)


# --------------------------------------------------------------- isolation of dying workers


def _double(x: int) -> int:
    return 2 * x


def _abort(x: int) -> int:
    import os

    os.abort()


def _sleep(x: int) -> int:
    import time

    time.sleep(60)
    return x


def _raise(x: int) -> int:
    raise KeyError(x)


@pytest.mark.parametrize("share_memory", [True, False], ids=["fork", "forkserver"])
def test_run_unordered_costs_one_task_per_death_or_hang(share_memory: bool) -> None:
    """An aborting task, a hanging one and a raising one cost themselves only; every task
    gets exactly one result; the deaths are named with their signal."""
    if share_memory and not parallel.fork_is_safe():
        share_memory = False  # other threads in this process: the pool uses forkserver
    tasks = [(_double, (1,)), (_abort, (2,)), (_double, (3,)), (_raise, (4,)),
             (_double, (5,)), (_sleep, (6,)), (_double, (7,))]
    results = {task[1][0]: result for task, result in
               parallel.run_unordered(tasks, 2, share_memory=share_memory, timeout=3)}
    assert sorted(results) == [1, 2, 3, 4, 5, 6, 7]
    assert [results[k] for k in (1, 3, 5, 7)] == [2, 6, 10, 14]
    assert isinstance(results[4], KeyError)
    assert isinstance(results[2], parallel.WorkerDied) and "SIGABRT" in str(results[2])
    assert results[2].exitcode == -6
    assert isinstance(results[6], parallel.WorkerDied) and "hung" in str(results[6])


def test_run_unordered_with_nothing_to_do() -> None:
    assert list(parallel.run_unordered([], 2, isolate=True)) == []
    assert list(parallel.run_unordered([], 1)) == []


# --- threads for codecs that release the GIL ------------------------------------------

def _daemon_resolve(queue) -> None:  # runs in a daemon process
    queue.put((parallel.resolve_workers(None, 10, threads=True),
               parallel.resolve_workers(2, 10, threads=True),
               parallel.resolve_workers(2, 10)))


def test_threads_inside_a_daemon_only_when_asked_for_by_number():
    """A data-loader worker nests no pool by default; asked for threads by number, it
    gets them (they start no process)."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_daemon_resolve, args=(queue,), daemon=True)
    child.start()
    child.join(60)
    assert queue.get(timeout=5) == (1, 2, 1)


def test_map_threaded_keeps_order_and_raises():
    assert parallel.map_threaded(lambda x: x * x, list(range(20)), 4) == [x * x
                                                                          for x in range(20)]

    def boom(x: int) -> int:
        if x == 7:
            raise ValueError("seven")
        return x

    with pytest.raises(ValueError, match="seven"):
        parallel.map_threaded(boom, list(range(20)), 3)


def test_map_threaded_uses_the_caller_and_helpers_then_leaves_no_thread():
    """Every item once, on the caller's thread and `workers - 1` helpers that end with
    the call (a helper left behind would make fork unsafe for the next pool)."""
    import threading
    import time

    seen: list[tuple[int, str]] = []

    def record(x: int) -> int:
        time.sleep(0.002)  # long enough for every thread to take items
        seen.append((x, threading.current_thread().name))
        return x

    before = set(threading.enumerate())
    assert parallel.map_threaded(record, list(range(60)), 3) == list(range(60))
    assert sorted(x for x, _ in seen) == list(range(60))
    names = {name for _, name in seen}
    assert threading.current_thread().name in names
    assert {n for n in names if n.startswith(parallel.THREAD_PREFIX)} <= {
        f"{parallel.THREAD_PREFIX}{k}" for k in range(2)}
    assert len(names) >= 2
    assert set(threading.enumerate()) == before


@pytest.mark.needs_handler("imagecodecs", "gdcm", "charls")
def test_threads_processes_and_serial_decode_the_same_stack(tmp_path, monkeypatch):
    """Series A of test_data re-encoded as JPEG-LS (pyjpegls, in the test): decoded on
    threads (imagecodecs releases the GIL), on the process pool and serially it gives the
    same array, equal to GDCM's decode and to the uncompressed originals."""
    import pydicom

    import dicomdecode
    from dicomdecode.decode import stack

    from .conftest import TEST_DATA

    folder = tmp_path / "jpegls"
    folder.mkdir()
    for path in sorted((TEST_DATA / "series").glob("A_*.dcm")):
        ds = pydicom.dcmread(path)
        ds.compress("1.2.840.10008.1.2.4.80", encoding_plugin="pyjpegls")
        ds.save_as(folder / path.name)
    calls: list[int] = []
    real = parallel.map_threaded

    def spy(function, items, workers):
        calls.append(workers)
        return real(function, items, workers)

    monkeypatch.setattr(parallel, "map_threaded", spy)
    threaded = dicomdecode.load(folder, workers=2)
    assert 2 in calls  # the files went to two threads
    serial = dicomdecode.load(folder, workers=1)
    monkeypatch.setattr(stack, "_threads_suffice", lambda jobs, options: False)
    pooled = dicomdecode.load(folder, workers=2)
    by_gdcm = dicomdecode.load(folder, workers=1, handlers="gdcm")
    original = dicomdecode.load(sorted((TEST_DATA / "series").glob("A_*.dcm")), workers=1)
    assert len(threaded) == 1 and threaded[0].array.shape[0] == 12
    for volumes in (serial, pooled, by_gdcm, original):
        assert [v.array.tobytes() for v in volumes] == [v.array.tobytes() for v in threaded]


def _timed_task(path: str, name: str, seconds: float) -> str:
    """Append 'start name' and 'end name' lines (with times) to `path`."""
    import time

    with open(path, "a") as log:
        log.write(f"{time.monotonic()} start {name}\n")
    time.sleep(seconds)
    with open(path, "a") as log:
        log.write(f"{time.monotonic()} end {name}\n")
    return name


def _most_at_once(path: str, sizes: dict[str, int]) -> tuple[int, int]:
    """From the log: the most tasks, and the most bytes, running at one time."""
    events = sorted((float(t), kind, name) for t, kind, name in
                    (line.split() for line in open(path).read().splitlines()))
    running: set[str] = set()
    most_tasks = most_bytes = 0
    for _t, kind, name in events:
        if kind == "start":
            running.add(name)
        else:
            running.discard(name)
        most_tasks = max(most_tasks, len(running))
        most_bytes = max(most_bytes, sum(sizes[n] for n in running))
    return most_tasks, most_bytes


def test_run_unordered_keeps_held_memory_within_the_budget(tmp_path):
    """Two workers, tasks that say what they hold: the big ones never run together (each
    alone is allowed), the small ones run beside each other and beside a big one, and
    every task is run once."""
    log = str(tmp_path / "log")
    sizes = {"big1": 100, "big2": 100, "big3": 90, "small1": 5, "small2": 5, "small3": 5}
    tasks = [(_timed_task, (log, name, 0.3)) for name in sizes]
    done = [r for _t, r in parallel.run_unordered(tasks, 2, held=list(sizes.values()),
                                                  budget=130)]
    assert sorted(done) == sorted(sizes)
    most_tasks, most_bytes = _most_at_once(log, sizes)
    assert most_bytes <= 130 and most_tasks == 2
    # without a budget the two workers take the big ones side by side
    log2 = str(tmp_path / "log2")
    tasks = [(_timed_task, (log2, name, 0.3)) for name in sizes]
    assert len(list(parallel.run_unordered(tasks, 2))) == len(sizes)
    assert _most_at_once(log2, sizes)[1] > 130
