"""The fuzz harness itself (fuzz/): its mutants are reproducible and its classifier is right.

A fuzzer that silently stops mutating, or that calls a dead worker "ok", reports a clean
library while finding nothing; these tests pin the parts every finding depends on. Only
repo test_data seeds are used, so they run on a fresh clone without the corpus.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fuzz.mutate import KIND_NAMES, SeedSet, mutant_at, mutants
from fuzz.run import run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def seeds() -> SeedSet:
    files = sorted((ROOT / "test_data").glob("*.dcm"))
    files += sorted((ROOT / "test_data" / "series").glob("**/*.dcm"))
    return SeedSet(files, ROOT)


def test_same_seed_same_bytes(seeds: SeedSet) -> None:
    first = [(m.id, m.kind, m.seed_file, m.data) for m in mutants(seeds, 40, seed=7)]
    again = [(m.id, m.kind, m.seed_file, m.data) for m in mutants(seeds, 40, seed=7)]
    other = [m.data for m in mutants(seeds, 40, seed=8)]
    assert first == again
    assert [d for *_, d in first] != other
    # one mutant rebuilt alone (what --only does) is the same as in the run
    assert mutant_at(seeds, 7, 13).data == first[13][3]


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_every_kind_mutates(seeds: SeedSet, kind: str) -> None:
    by_label = {s.label: s.data for s in seeds.seeds}
    for index in range(5):
        m = mutant_at(seeds, 1, index, kind=kind)
        assert m.kind == kind
        assert m.data and m.data != by_label[m.seed_file], m.description


@pytest.mark.parametrize(("api", "expected", "detail"), [
    ("_test_abort", "crash", "SIGABRT"),
    ("_test_sleep", "hang", "killed"),
    ("_test_keyerror", "untyped", "KeyError"),
    ("_test_memory", "bomb", "MemoryError"),
])
def test_classifier(seeds: SeedSet, api: str, expected: str, detail: str) -> None:
    results = run(seeds, [0, 1], 1, [api], every=1, workers=1, timeout=2.0, progress=False)
    assert [r["class"] for r in results] == [expected, expected]  # the worker was replaced
    assert detail in results[0]["detail"]
