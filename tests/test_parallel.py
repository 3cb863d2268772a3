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
