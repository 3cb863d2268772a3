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
