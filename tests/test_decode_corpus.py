"""Real scanner and toolkit files from ../shared/corpus, decoded and checked against
independent references: pydicom's pixel_array, the uncompressed twin of a compressed
file, and each other handler."""

from __future__ import annotations

import re

import numpy as np
import pytest

from dicomdecode import decode, decode_file
from dicomdecode.errors import DecodeError, MissingHandlerError

from .conftest import corpus_params, read_tsv
from .decode_helpers import (
    LOSSY_TOLERANCE,
    assert_same_image,
    installed_for,
    is_lossy,
    max_abs_diff,
    missing_handler_raised,
    pydicom_reference,
)

MANIFEST = read_tsv("MANIFEST.tsv")
DECODABLE = [r for r in MANIFEST if r["pydicom_ok"] == "yes"]
PAIRS = read_tsv("REFERENCE_PAIRS.tsv")


def _missing_handler_expected(path, uid: str) -> bool:
    """True (after checking the error) when this install has no handler for the file."""
    if not installed_for(uid):
        with pytest.raises(MissingHandlerError) as info:
            decode_file(path)
        assert 'pip install "dicomdecode[' in str(info.value)
        assert uid in str(info.value) and str(path) in str(info.value)
        return True
    return missing_handler_raised(lambda: decode_file(path), path)


@pytest.mark.corpus
@pytest.mark.parametrize("row", corpus_params(DECODABLE, "relative_path"))
def test_manifest_file_equals_pydicom(corpus, row):
    path = corpus / row["relative_path"]
    uid = row["transfer_syntax_uid"]
    if _missing_handler_expected(path, uid):
        return
    ours = decode(path)
    ref = pydicom_reference(path)
    assert_same_image(ours.array, ref, lossy=is_lossy(uid), what=f"{path} via {ours.handler}")
    assert ours.array.flags.c_contiguous
    assert ours.handler in installed_for(uid)


def _pair_params():
    return corpus_params(PAIRS, "test_file")


@pytest.mark.corpus
@pytest.mark.parametrize("row", _pair_params())
def test_reference_pair(corpus, row):
    test_path = corpus / row["test_file"]
    ref_path = corpus / row["reference_file"]
    relation = row["expected_relation"]
    expectation = PYDICOM_CANNOT.get(row["test_file"])
    if expectation and expectation[0] == "codec-error" and installed_for(
            decode_info_uid(test_path)):
        with pytest.raises(expectation[1]):
            decode_file(test_path)
        return
    test_uid = decode_info_uid(test_path)
    ref_uid = decode_info_uid(ref_path)
    if _missing_handler_expected(test_path, test_uid) or not installed_for(ref_uid):
        return
    ours = decode_file(test_path)
    ref = decode_file(ref_path)
    if ref.ndim == ours.ndim and ref.shape[0] != ours.shape[0]:
        ref = ref[: ours.shape[0]]
    what = f"{row['test_file']} vs {row['reference_file']} ({relation})"
    if relation.startswith(("lossless", "uncompressed", "broken vs fixed")):
        assert_same_image(ours, ref, lossy=False, what=what)
    elif relation.startswith("lossy (reference"):
        # The reference is the decoded lossy image: equal up to decoder rounding.
        assert_same_image(ours, ref, lossy=True, what=what)
    else:
        # lossy/near-lossless vs lossless: no worse than pydicom measured it.
        measured = re.search(r"max_abs_diff=(\d+)", row["pydicom_result"])
        bound = int(measured.group(1)) if measured else LOSSY_TOLERANCE
        assert ours.shape == ref.shape
        assert max_abs_diff(ours, ref) <= bound, what


_SYNTAX_OF = {r["relative_path"]: r["transfer_syntax_uid"] for r in MANIFEST}


def decode_info_uid(path) -> str:
    """Transfer syntax of a corpus file, from the MANIFEST (readable even when the file's
    dataset is truncated)."""
    for relative, uid in _SYNTAX_OF.items():
        if str(path).endswith(relative) and uid:
            return uid
    from dicomdecode.apps.info import file_info

    return file_info(path)["transfer_syntax"]


# Files pydicom 3 cannot decode (corpus README). Each must decode correctly, or raise a
# typed error that says why; the expectation for each is the standard's, not ours.
PYDICOM_CANNOT = {
    # Se=0 in a sequential scan: we repair the scan header; equal to the fixed file.
    "pylibjpeg-data/ljdata/ds/JPEGExtended/JPEG-lossy.dcm":
        ("equal", "pylibjpeg-data/ljdata/ds/JPEGExtended/JPEGExtended_1s_1f_u_16_12.dcm"),
    "pylibjpeg-data/ljdata/ds/JPEGExtended/RG2_JPLY.dcm":
        ("equal", "pylibjpeg-data/ljdata/ds/JPEGExtended/RG2_JPLY_fixed.dcm"),
    # Invalid COM marker inside the J2K codestream: both codecs refuse it.
    "pylibjpeg-data/ljdata/ds/JPEG2000Lossless/966.dcm": ("codec-error", DecodeError),
    "pydicom-data/data_store/data/liver_deflate.dcm":
        ("equal", "pydicom-data/data_store/data/liver.dcm"),
    "pydicom-data/data_store/data/liver_nonbyte_aligned_deflate.dcm":
        ("equal", "pydicom-data/data_store/data/liver_nonbyte_aligned.dcm"),
    "pydicom-data/data_store/data/liver_rle.dcm":
        ("equal", "pydicom-data/data_store/data/liver.dcm"),
    "pydicom-data/data_store/data/liver_nonbyte_aligned_rle.dcm":
        ("equal", "pydicom-data/data_store/data/liver_nonbyte_aligned.dcm"),
    # No File Meta: implicit VR little endian, inferred from the encoding.
    "pydicom-data/data_store/data/OT-PAL-8-face.dcm": ("pixels-of-force-read", None),
    "pydicom-data/data_store/data/emri_small_jpeg_2k_lossless_too_short.dcm":
        ("error", DecodeError),
}


@pytest.mark.corpus
@pytest.mark.parametrize("relative", sorted(PYDICOM_CANNOT))
def test_files_pydicom_cannot_decode(corpus, relative):
    path = corpus / relative
    kind, expected = PYDICOM_CANNOT[relative]
    if kind != "error" and _missing_handler_expected(path, decode_info_uid(path)):
        return
    if kind in ("error", "codec-error"):
        with pytest.raises(expected) as info:
            decode_file(path)
        assert str(path) in str(info.value)
        return
    ours = decode_file(path)
    if kind == "equal":
        np.testing.assert_array_equal(ours, decode_file(corpus / expected))
    else:
        # pydicom reads the dataset when forced; its native decoder is the reference.
        import pydicom

        ds = pydicom.dcmread(path, force=True)
        ds.file_meta = pydicom.dataset.FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
        np.testing.assert_array_equal(ours[0], ds.pixel_array)


@pytest.mark.corpus
@pytest.mark.needs_handler("imagecodecs")
def test_retired_jpeg_processes_decode_alike(corpus):
    """GE CT in the retired progressive processes 6/8 (.53) and 10/12 (.55): no
    uncompressed twin exists, so the two lossy encodings of the same slice must agree
    with each other and lie in a CT's stored-value range."""
    base = corpus / "cornerstone3D/packages/dicomImageLoader/testImages"
    a = decode(base / "CTImage.dcm_JPEGProcess6_8TransferSyntax_1.2.840.10008.1.2.4.53.dcm")
    b = decode(base / "CTImage.dcm_JPEGProcess10_12TransferSyntax_1.2.840.10008.1.2.4.55.dcm")
    assert a.array.shape == b.array.shape == (1, 512, 512)
    assert max_abs_diff(a.array, b.array) <= 64
    assert 0 <= a.array.min() and a.array.max() < 4096 and a.array.std() > 100


LOSSLESS = [r for r in DECODABLE if not is_lossy(r["transfer_syntax_uid"])]
LOSSY = [r for r in DECODABLE if is_lossy(r["transfer_syntax_uid"])]


def _declined(error: DecodeError) -> bool:
    """A handler's deliberate refusal of a case we measured it gets wrong (it raises
    HandlerDeclined instead of returning garbage)."""
    return all(reason.startswith("HandlerDeclined") for _, reason in error.failures)


def _parity(path, uid: str, lossy: bool) -> None:
    if _missing_handler_expected(path, uid):
        return
    names = installed_for(uid)  # each forced in turn; a refusal is a HandlerDeclined
    results = {}
    for name in names:
        try:
            results[name] = decode(path, handlers=name).array
        except DecodeError as error:
            if not _declined(error):
                raise
    assert results, f"no handler decoded {path}"
    if len(results) == 1:  # one decoder here (HTJ2K, 12-bit JPEG...): pydicom is the other
        results["pydicom"] = pydicom_reference(path)
    first_name, first = next(iter(results.items()))
    for name, array in results.items():
        assert_same_image(array, first, lossy=lossy, what=f"{path}: {name} vs {first_name}")


@pytest.mark.corpus
@pytest.mark.parametrize("row", corpus_params(LOSSLESS, "relative_path"))
def test_handler_parity_lossless(corpus, row):
    _parity(corpus / row["relative_path"], row["transfer_syntax_uid"], lossy=False)


@pytest.mark.corpus
@pytest.mark.parametrize("row", corpus_params(LOSSY, "relative_path"))
def test_handler_parity_lossy(corpus, row):
    _parity(corpus / row["relative_path"], row["transfer_syntax_uid"], lossy=True)


@pytest.mark.needs_handler("pylibjpeg", "gdcm", "charls")
def test_every_common_compressed_syntax_has_two_handlers():
    """RLE, JPEG 50/51/57/70, JPEG-LS 80/81 and J2K 90/91 each have a fallback handler."""
    for suffix in ("5", "4.50", "4.51", "4.57", "4.70", "4.80", "4.81", "4.90", "4.91"):
        uid = f"1.2.840.10008.1.2.{suffix}"
        assert len(installed_for(uid)) >= 2, uid
