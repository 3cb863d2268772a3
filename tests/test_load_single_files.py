"""Every single-frame corpus image loaded through the whole pipeline (scan -> stack decode
-> assemble, rescale off) equals pydicom's pixel_array: the fast paths (header view,
read-by-offset, shared-memory stack) change nothing."""

from __future__ import annotations

import numpy as np
import pytest

import dicomdecode
from dicomdecode.errors import InconsistentSeriesError

from .conftest import corpus_params, read_tsv
from .decode_helpers import (
    assert_same_image,
    full_install,
    installed_for,
    is_lossy,
    pydicom_reference,
)

SINGLE = [
    r for r in read_tsv("MANIFEST.tsv")
    if r["pydicom_ok"] == "yes" and r["frames"] in ("", "1")
    and "MOSAIC" not in r["relative_path"].upper()
]


@pytest.mark.corpus
@pytest.mark.parametrize("row", corpus_params(SINGLE, "relative_path"))
def test_loaded_single_image_equals_pydicom(corpus, row):
    path = corpus / row["relative_path"]
    result = dicomdecode.scan(path)
    assert len(result.series) == 1, result.skipped
    series = result.series[0]
    if not installed_for(row["transfer_syntax_uid"]):
        with pytest.raises(InconsistentSeriesError, match=r"pip install \"dicomdecode\["):
            dicomdecode.load_series(series, rescale=False, workers=1)
        return
    if not full_install():
        try:
            dicomdecode.load_series(series, rescale=False, workers=1)
        except InconsistentSeriesError as error:  # its decoders refuse this variant
            assert 'pip install "dicomdecode[' in str(error)
            return
    volume = dicomdecode.load_series(series, rescale=False, workers=1)
    ref = pydicom_reference(path)
    if series.kind in ("mosaic", "vframe"):
        # un-tiled into slices (voxels checked against dcm2niix in test_series_references);
        # the padding tiles are zero, so the stored values must sum to the file's sum
        assert int(volume.array.astype(np.int64).sum()) == int(ref.astype(np.int64).sum())
        return
    ours = volume.array.reshape(ref.shape)
    assert_same_image(ours, ref, lossy=is_lossy(row["transfer_syntax_uid"]),
                      what=str(path))
    assert volume.array.dtype == ref.dtype


@pytest.mark.corpus
def test_parallel_load_is_identical_to_serial(corpus):
    """workers=2 (forked workers writing into shared memory) == workers=1, bit for bit."""
    folder = corpus / "dcm_qa_ct/In/GE"
    serial = dicomdecode.load(folder, workers=1)
    parallel = dicomdecode.load(folder, workers=2)
    assert len(serial) == len(parallel) >= 1
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a.array, b.array)
        assert a.array.dtype == b.array.dtype
        np.testing.assert_array_equal(a.affine, b.affine)
        assert [s.path for s in a.slices] == [s.path for s in b.slices]
