"""Helpers for decode tests: an independent reference decode, and comparisons."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pydicom

from dicomdecode.decode.dispatch import candidates
from dicomdecode.read import transfer_syntax as ts

# Largest difference we accept between two decoders of the same lossy codestream.
# Measured: JPEG baseline RGB differs by up to 2-3 between GDCM, libjpeg and pydicom's
# choice of decoder (IDCT and upsampling implementations differ).
LOSSY_TOLERANCE = 3


def pydicom_reference(path: str | Path) -> np.ndarray:
    """pydicom 3's own pixel_array (default corrections), as (frames, rows, cols[, s])
    in native byte order: the independent reference."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, force=True)
        array = ds.pixel_array
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames == 1:
        array = array[None]
    return array.astype(array.dtype.newbyteorder("="), copy=False)


def installed_for(uid: str) -> list[str]:
    return [h.name for h in candidates(uid)]


def is_lossy(uid: str) -> bool:
    row = ts.lookup(uid)
    return bool(row and row.lossy)


def psnr(a: np.ndarray, b: np.ndarray, bits_stored: int) -> float:
    """Peak signal-to-noise ratio in dB, relative to 2**bits_stored - 1 (as the test_data
    generator records its lossy tolerances)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    peak = float(2**bits_stored - 1)
    return math.inf if mse == 0 else 10 * math.log10(peak * peak / mse)


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
    return float(np.max(np.abs(a.astype(np.int64) - b.astype(np.int64)))) if a.size else 0.0


def assert_same_image(ours: np.ndarray, ref: np.ndarray, *, lossy: bool, what: str) -> None:
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != {ref.shape}"
    assert ours.dtype == ref.dtype, f"{what}: dtype {ours.dtype} != {ref.dtype}"
    if lossy:
        diff = max_abs_diff(ours, ref)
        assert diff <= LOSSY_TOLERANCE, f"{what}: lossy difference {diff} > {LOSSY_TOLERANCE}"
    else:
        np.testing.assert_array_equal(ours, ref, err_msg=what)


def full_install() -> bool:
    """True when every optional decoder is installed (the main `tests` session)."""
    from .conftest import fully_installed_handlers

    return {"imagecodecs", "pylibjpeg", "gdcm", "charls"} <= fully_installed_handlers()


def missing_handler_raised(call, path) -> bool:
    """In a reduced install: True (after checking the message) when `call()` raises
    MissingHandlerError for `path`. In the full install this never excuses a test."""
    from dicomdecode.errors import MissingHandlerError

    if full_install():
        return False
    try:
        call()
    except MissingHandlerError as error:
        assert 'pip install "dicomdecode[' in str(error)
        assert str(path) in str(error)
        return True
    except Exception:
        return False
    return False
