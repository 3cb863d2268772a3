"""The rescale fused into the copy into the stack (decode/store.rescale_into) against the
plain formula computed independently: exact integers in Python's own arithmetic (int64
here, never overflowing for these ranges) or float64 rounded once; and ``load`` with the
fused road against stored values rescaled by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dicomdecode.decode.store import rescale_into

RNG = np.random.default_rng(19)


def _exact(stored: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    return stored.astype(np.int64) * int(slope) + int(intercept)


@pytest.mark.parametrize(("stored_dtype", "out_dtype", "slope", "intercept", "bits"), [
    (np.int16, np.int32, 1.0, -1024.0, 16),   # CT declaring 16 stored bits: widened
    (np.int16, np.int16, 1.0, -1024.0, 12),   # CT of 12 bits stays int16 (in place)
    (np.uint16, np.int32, 1.0, -1024.0, 16),
    (np.uint16, np.int16, 1.0, -32768.0, 16),  # uint16 into int16: wraps, still exact
    (np.uint16, np.int32, 3.0, -7.0, 16),
    (np.uint8, np.int16, -2.0, 300.0, 8),
    (np.int32, np.int64, 2.0, 5.0, 32),
    (np.int16, np.int32, 1.0, 0.0, 16),       # identity: a cast
])
def test_integer_rescale_is_exact(stored_dtype: type, out_dtype: type, slope: float,
                                  intercept: float, bits: int) -> None:
    info = np.iinfo(stored_dtype)
    low = max(info.min, -(1 << (bits - 1)) if info.min < 0 else 0)
    high = min(info.max, (1 << (bits - 1)) - 1 if info.min < 0 else (1 << bits) - 1)
    stored = RNG.integers(low, high, (37, 41), endpoint=True).astype(stored_dtype)
    stored[0, :2] = (low, high)
    expected = _exact(stored, slope, intercept)
    out_info = np.iinfo(out_dtype)
    assert out_info.min <= expected.min() and expected.max() <= out_info.max  # the policy
    out = np.empty(stored.shape, out_dtype)
    rescale_into(stored, out, slope, intercept)
    assert out.dtype == out_dtype
    assert np.array_equal(out.astype(np.int64), expected)


def test_in_place_rescale() -> None:
    stored = RNG.integers(-2048, 2047, (16, 16), endpoint=True).astype(np.int16)
    expected = _exact(stored, 1, -1024)
    rescale_into(stored, stored, 1.0, -1024.0)
    assert np.array_equal(stored.astype(np.int64), expected)


def test_intercept_outside_the_output_dtype_still_exact() -> None:
    # into uint16 the intercept fits but the slope -1 does not: the int64 road
    stored = np.arange(101, dtype=np.uint8).reshape(1, -1)
    out = np.empty(stored.shape, np.uint16)
    rescale_into(stored, out, -1.0, 40000.0)
    assert np.array_equal(out[0].astype(np.int64), 40000 - np.arange(101))
    out32 = np.empty(stored.shape, np.int32)
    rescale_into(stored, out32, 1.0, 70000.0)
    assert np.array_equal(out32[0], np.arange(101) + 70000)


@pytest.mark.parametrize("out_dtype", [np.float32, np.float64])
def test_float_rescale_rounds_once(out_dtype: type) -> None:
    stored = RNG.integers(0, 4095, (23, 29), endpoint=True).astype(np.uint16)
    slope, intercept = 0.24420166, -500.123
    expected = (stored.astype(np.float64) * slope + intercept).astype(out_dtype)
    out = np.empty(stored.shape, out_dtype)
    rescale_into(stored, out, slope, intercept)
    assert out.tobytes() == expected.tobytes()


def test_load_fused_equals_stored_rescaled_by_hand() -> None:
    """The fused road of load (output values written as each slice is stored: int32 HU
    and float32 series) against the stored values of rescale=False, rescaled here by
    hand with each slice's own Rescale Slope/Intercept read by pydicom."""
    import pydicom

    import dicomdecode

    folder = Path(__file__).resolve().parent.parent / "test_data" / "series"
    for workers in (1, None):
        fused = dicomdecode.load(folder, workers=workers)
        stored = dicomdecode.load(folder, rescale=False, workers=workers)
        assert {v.array.dtype.kind for v in fused} >= {"i", "f"}
        for volume, raw in zip(fused, stored, strict=True):
            expected = []
            for frame, info in zip(raw.array, volume.slices, strict=True):
                ds = pydicom.dcmread(info.path, stop_before_pixels=True)
                slope = float(ds.get("RescaleSlope", 1))
                intercept = float(ds.get("RescaleIntercept", 0))
                if volume.array.dtype.kind == "f":
                    expected.append(frame.astype(np.float64) * slope + intercept)
                else:
                    expected.append(_exact(frame, slope, intercept))
            assert np.array_equal(volume.array,
                                  np.stack(expected).astype(volume.array.dtype))
