"""`convert --format dicom` keeps every element it does not rewrite byte for byte.

The reference is the input file itself, read by pydicom without converting values (raw
elements): every non-pixel element's value bytes must come back identical, sequences
included, however odd the value (issue 12: a Patient Weight of four spaces came back
re-encoded as an empty value). Pixels are compared with pydicom's decoding of the input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataelem import RawDataElement

from tests.conftest import corpus_params, read_tsv

pytestmark = pytest.mark.needs_handler("pylibjpeg", "gdcm", "charls")

# what the writer may change: the pixel description, the lossy flags it adds, the
# encapsulation-only offset tables; group lengths (0xgggg0000) are retired and not written
PIXEL_DESCRIPTION = {0x7FE00010, 0x7FE00001, 0x7FE00002, 0x00280004, 0x00280006,
                     0x00282110, 0x00282112, 0x00282114}
BIG_ENDIAN = "1.2.840.10008.1.2.2"
LOSSLESS = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.5",
            "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80",
            "1.2.840.10008.1.2.4.90"}
ROWS = [r for r in read_tsv("MANIFEST.tsv")
        if r["relative_path"].startswith("pylibjpeg-data/") and r["pydicom_ok"].startswith("yes")
        and r["transfer_syntax_uid"] != BIG_ENDIAN]


def _raw_values(ds: pydicom.Dataset, top: bool = True) -> dict[tuple[int, ...], bytes]:
    """(tag path) -> value bytes as stored, recursing into sequence items."""
    out: dict[tuple[int, ...], bytes] = {}
    for tag in ds.keys():
        if tag.element == 0 or (top and int(tag) in PIXEL_DESCRIPTION):
            continue
        elem = ds.get_item(tag, keep_deferred=True)
        vr = elem.VR or (pydicom.datadict.dictionary_VR(tag)
                         if pydicom.datadict.dictionary_has_tag(tag) else "UN")
        if vr == "SQ" or (isinstance(elem, RawDataElement) and elem.length == 0xFFFFFFFF):
            for i, item in enumerate(ds[tag].value):
                for key, value in _raw_values(item, False).items():
                    out[(int(tag), i, *key)] = value
        elif isinstance(elem, RawDataElement):
            out[(int(tag),)] = bytes(elem.value or b"")
        else:  # pydicom converts Specific Character Set on reading: compare its value
            out[(int(tag),)] = repr(elem.value).encode()
    return out


def _convert(src: Path, tmp_path: Path) -> Path:
    from dicomdecode.writers.dicom import write_decompressed

    return write_decompressed(src, tmp_path / "out.dcm")


def test_invalid_patient_weight_kept_as_it_was(corpus: Path, tmp_path: Path) -> None:
    src = corpus / "pylibjpeg-data/ljdata/ds/JPEGLossless/JPEGLossless_1s_1f_i_16_16_bad.dcm"
    before = pydicom.dcmread(src).get_item(0x00101030, keep_deferred=True).value
    assert before == b" " * 8  # Patient Weight: not a valid DS, the case issue 12 names
    after = pydicom.dcmread(_convert(src, tmp_path)).get_item(0x00101030, keep_deferred=True)
    assert after.VR == "DS" and bytes(after.value) == before


@pytest.mark.parametrize("row", corpus_params(ROWS, "relative_path"))
def test_non_pixel_elements_byte_for_byte(corpus: Path, row: dict[str, str],
                                          tmp_path: Path) -> None:
    src = corpus / row["relative_path"]
    out = _convert(src, tmp_path)
    orig, back = pydicom.dcmread(src, force=True), pydicom.dcmread(out)
    assert back.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    want, got = _raw_values(orig), _raw_values(back)
    lost = sorted(set(want) - set(got))
    changed = [k for k in want if k in got and want[k] != got[k]]
    assert not lost and not changed, (lost[:3], [(k, want[k][:40], got[k][:40])
                                                 for k in changed[:3]])
    if row["transfer_syntax_uid"] in LOSSLESS and int(orig.get("SamplesPerPixel", 1)) == 1:
        np.testing.assert_array_equal(back.pixel_array, orig.pixel_array)
