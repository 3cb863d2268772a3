"""The compiled integer rescale (dicomdecode.decode.widen) against NumPy's rule.

The witness is NumPy: ``stored * slope + intercept`` computed in int64 and cast to the
output dtype, the rule :mod:`dicomdecode.decode.store` states. Both the installed module
(the extension in CI, ``DICOMDECODE_REQUIRE_COMPILED=1``) and the same source loaded
interpreted must give it, for every pair of dtypes the loop handles, at the extremes of
each stored dtype. Then the whole road: a load of real CT files (pydicom's, whose int16
frames become int32 HU) equals pydicom's stored values plus the intercept.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

import dicomdecode
from dicomdecode.decode import store, widen
from tests.conftest import interpreted_source

INTERPRETED = interpreted_source("dicomdecode/decode/widen.py")
SOURCES = sorted(widen.SOURCE_CHARS)
OUTPUTS = sorted(widen.OUTPUT_CHARS)


def _case(source: str, output: str) -> tuple[np.ndarray, int, int] | None:
    """Every value of the stored dtype's extremes and a few between, and a slope and
    intercept whose results all fit the output dtype (the assembler's guarantee); None
    when no such pair is worth testing."""
    s, o = np.iinfo(np.dtype(source)), np.iinfo(np.dtype(output))
    stored = np.array([s.min, s.min + 1, -1 if s.min < 0 else 1, 0, 1, 7, s.max - 1, s.max],
                      np.dtype(source))
    for slope, intercept in ((1, -1024), (2, 5), (1, 0), (-1, 3)):
        exact = stored.astype(np.int64) * slope + intercept
        if o.min <= exact.min() and exact.max() <= o.max:
            return stored, slope, intercept
    return None


#: every pair the loop handles where some slope/intercept maps the whole stored range into
#: the output (uint16 into int16, say, has none: the assembler never asks for it)
PAIRS = [(s, o) for s in SOURCES for o in OUTPUTS if _case(s, o) is not None]


def test_pairs_cover_every_output_and_source() -> None:
    assert {s for s, _ in PAIRS} == set(SOURCES) and {o for _, o in PAIRS} == set(OUTPUTS)


@pytest.mark.parametrize("core", [pytest.param(widen, id="installed"),
                                  pytest.param(INTERPRETED, id="interpreted")])
@pytest.mark.parametrize(("source", "output"), PAIRS)
def test_rescale_equals_numpy_rule(core, source: str, output: str) -> None:
    case = _case(source, output)
    assert case is not None
    stored, slope, intercept = case
    expected = (stored.astype(np.int64) * slope + intercept).astype(np.dtype(output))
    out = np.full(stored.shape, 99, np.dtype(output))
    if core is widen and widen.COMPILED:
        core.rescale_into(stored, out, slope, intercept)
    else:  # interpreted: Python memoryviews (items are Python ints)
        core.rescale_into(memoryview(stored), memoryview(out), slope, intercept)
    assert out.tolist() == expected.tolist()


def test_length_mismatch_is_refused() -> None:
    stored = np.arange(10, dtype=np.int16)
    out = np.zeros(9, np.int32)
    with pytest.raises(ValueError, match="10 stored values for 9 outputs"):
        if widen.COMPILED:
            widen.rescale_into(stored, out, 1, 0)
        else:
            widen.rescale_into(memoryview(stored), memoryview(out), 1, 0)


def test_store_rule_same_with_and_without_the_loop(monkeypatch) -> None:
    """store.rescale_into through the compiled loop and through NumPy (the loop turned
    off): identical frames, for a CT frame into an int32 slice and into part of a stack."""
    rng = np.random.default_rng(3)
    frame = rng.integers(-2000, 4000, (64, 48)).astype(np.int16)
    via_loop = np.empty((3, 64, 48), np.int32)
    store.rescale_into(frame, via_loop[1], 1.0, -1024.0)
    monkeypatch.setattr(widen, "COMPILED", False)
    via_numpy = np.empty((3, 64, 48), np.int32)
    store.rescale_into(frame, via_numpy[1], 1.0, -1024.0)
    assert np.array_equal(via_loop[1], via_numpy[1])
    assert np.array_equal(via_loop[1], frame.astype(np.int64) - 1024)


def test_loaded_ct_equals_pydicom_plus_intercept(tmp_path) -> None:
    """The whole road on pydicom's CT: int16 stored values with intercept -1024 become
    the int32 (or wider) HU of pydicom's own stored values."""
    path = Path(get_testdata_file("CT_small.dcm"))
    ds = pydicom.dcmread(path)
    (volume,) = dicomdecode.load(path)
    expected = (ds.pixel_array.astype(np.int64) * int(ds.RescaleSlope)
                + int(ds.RescaleIntercept))
    assert volume.array.dtype.kind == "i"
    assert np.array_equal(volume.array.reshape(expected.shape), expected)
