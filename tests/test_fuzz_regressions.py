"""Inputs found by fuzzing stay fixed, and the coverage-guided target runs on the seeds.

``fuzz/regressions/`` keeps the minimised inputs the atheris session (``nox -s atheris``,
fuzz/atheris_target.py) and the mutation harness found; each goes through every road of
the reading layer again here (scan, decode of the file and of the bytes, native handler
only), where anything but a typed ``DicomDecodeError`` fails. The same target over every
test_data file (its seed corpus) must pass too, or the fuzzer starts from a broken seed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fuzz.atheris_target import one_input, replay
from fuzz.differential import check

from .conftest import ROOT, TEST_DATA

REGRESSIONS = sorted(p for p in (ROOT / "fuzz" / "regressions").glob("*") if p.suffix != ".md")


def test_seed_corpus_passes_the_target() -> None:
    assert replay([str(TEST_DATA)]) >= 100


@pytest.mark.parametrize("path", REGRESSIONS, ids=[p.name for p in REGRESSIONS])
def test_found_input_stays_fixed(path: Path) -> None:
    one_input(path.read_bytes())  # raises what it raised when it was found, if unfixed
    verdict = check(path)
    assert not verdict.untyped, verdict.untyped
    assert not verdict.disagree, verdict.disagree


def test_every_regression_is_described() -> None:
    listed = (ROOT / "fuzz" / "regressions" / "README.md").read_text()
    assert REGRESSIONS and all(f"`{p.name}`" in listed for p in REGRESSIONS)
