"""Every compressed file of test_data/, decoded by every installed handler for its syntax,
against the uncompressed original it was encoded from (read by pydicom): bit-exact for
lossless files (JPEG XL and HTJ2K included), within the tolerance the generator recorded
for lossy ones. The header/codestream colour mismatches (a JFIF codestream under an RGB
header, an Adobe RGB codestream under a YBR header) must come out as the original RGB."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

from dicomdecode import decode
from dicomdecode.errors import DecodeError, MissingHandlerError

from .conftest import TEST_DATA
from .decode_helpers import installed_for, psnr

MANIFEST: dict[str, Any] = json.loads((TEST_DATA / "MANIFEST.json").read_text())
COMPRESSED = [e for e in MANIFEST["files"] if e["reference"] is not None]


def _reference(entry: dict[str, Any]) -> np.ndarray:
    array = pydicom.dcmread(TEST_DATA / entry["reference"]).pixel_array
    array = array.astype(array.dtype.newbyteorder("="), copy=False)
    return array if entry["frames"] > 1 else array[None]


@pytest.mark.parametrize("entry", COMPRESSED, ids=[e["name"] for e in COMPRESSED])
def test_every_handler_decodes_to_the_original(entry: dict[str, Any]) -> None:
    path = TEST_DATA / entry["name"]
    names = installed_for(entry["transfer_syntax_uid"])
    if not names:  # a reduced install: the error must say which extra decodes it
        with pytest.raises(MissingHandlerError, match=r'pip install "dicomdecode\['):
            decode(path)
        return
    reference = _reference(entry)
    decoded = 0
    for name in names:
        try:
            result = decode(path, handlers=name)
        except DecodeError as error:
            # a measured refusal (HandlerDeclined) only, never a failure
            assert all(r.startswith("HandlerDeclined") for _, r in error.failures), error
            continue
        decoded += 1
        array = result.array
        assert array.shape == reference.shape and array.dtype == reference.dtype, name
        if entry["samples"] == 3:
            assert result.photometric_interpretation == "RGB", name
        if not entry["lossy"]:
            np.testing.assert_array_equal(array, reference, err_msg=f"{path.name} via {name}")
            continue
        tolerance = entry["tolerance"]
        if "max_abs_error" in tolerance:
            error_ = np.abs(array.astype(np.int64) - reference.astype(np.int64)).max()
            assert error_ <= tolerance["max_abs_error"], (name, error_)
        if "min_psnr_db" in tolerance:
            value = psnr(array, reference, entry["bits_stored"])
            assert value >= tolerance["min_psnr_db"], (name, value)
    assert decoded, f"no handler decoded {path.name}"


def test_jpeg_xl_and_htj2k_are_covered() -> None:
    """The syntaxes only imagecodecs writes are in test_data, lossless and lossy."""
    uids = {e["transfer_syntax_uid"] for e in COMPRESSED}
    assert {"1.2.840.10008.1.2.4.110", "1.2.840.10008.1.2.4.111", "1.2.840.10008.1.2.4.112",
            "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202",
            "1.2.840.10008.1.2.4.203"} <= uids


@pytest.mark.needs_handler("imagecodecs")
def test_lossy_htj2k_is_clamped_not_wrapped() -> None:
    """OpenJPH wraps out-of-range samples of these files (255 -> 0); the decode must
    not: every handler lies within the file's tolerance of the original (checked above)
    and at least one sample of the original's white sits at the top of the range."""
    names = [e for e in COMPRESSED if e["name"] in ("rgb8__htj2k.dcm", "u8_mono__htj2k.dcm")]
    assert len(names) == 2
    for entry in names:
        path = Path(TEST_DATA / entry["name"])
        array = decode(path).array
        reference = _reference(entry)
        top = reference == 255
        assert top.any() and np.all(array[top] >= 250)
