"""Every entry point gives the same pixels, dtype and handler record for every corpus file.

For each image file of the shared corpus (one at a time, so a file is its own series):
``decode`` (the reference of this test: it is checked against pydicom elsewhere),
``load(rescale=False)``, ``SliceDataset(rescale=False)`` and ``convert --format npy``
must agree exactly: same stored values, same dtype, same handler for every frame. With
rescale on, ``load`` and ``SliceDataset`` must give the same dtype and values too.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import dicomdecode
from dicomdecode.apps.convert import convert
from dicomdecode.apps.ml import SliceDataset
from dicomdecode.errors import DicomDecodeError

from .conftest import corpus_params, read_tsv

ROWS = [r for r in read_tsv("MANIFEST.tsv") if r["pydicom_ok"] == "yes"]


def _frames(volume: dicomdecode.Volume) -> np.ndarray:
    """The volume's 2D images in slice order (4D flattened volume-major)."""
    array = volume.array
    samples = int(volume.meta.get("SamplesPerPixel") or 1)
    image_ndim = 3 if samples > 1 else 2
    return array.reshape(-1, *array.shape[array.ndim - image_ndim:])


@pytest.mark.corpus
@pytest.mark.needs_handler("pylibjpeg", "gdcm", "charls")
@pytest.mark.parametrize("row", corpus_params(ROWS, "relative_path"))
def test_entry_points_agree(corpus: Path, row: dict[str, str], tmp_path: Path) -> None:
    path = corpus / row["relative_path"]
    try:
        reference = dicomdecode.decode(path)
    except DicomDecodeError as exc:  # decode refuses it: every road must refuse it
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert dicomdecode.load(path, rescale=False) == [], exc
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        volumes = dicomdecode.load(path, rescale=False)
    assert volumes, f"decode works but load gives nothing for {path}"
    mosaic = any(v.meta.get("Kind") in ("mosaic", "vframe") for v in volumes)

    # load: every slice is decode's frame, with decode's handler and dtype
    for volume in volumes:
        assert volume.array.dtype == reference.array.dtype
        assert {s.handler for s in volume.slices} == {reference.handler}
        if not mosaic:
            for image, sl in zip(_frames(volume), volume.slices, strict=True):
                np.testing.assert_array_equal(image, reference.array[sl.frame])

    # SliceDataset: every item is load's slice (values and dtype), rescaled or not
    for rescale in (False, "auto"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = volumes if rescale is False else dicomdecode.load(path)
        items = list(SliceDataset(path, rescale=rescale))
        by_series = {v.meta["SeriesUID"]: _frames(v) for v in loaded}
        seen: dict[str, int] = {}
        for item in items:
            k = seen.get(item["series_key"], 0)
            seen[item["series_key"]] = k + 1
            expected = by_series[item["series_key"]][k]
            assert item["image"].dtype == expected.dtype, (rescale, item["index"])
            np.testing.assert_array_equal(item["image"], expected)
        assert sum(seen.values()) == sum(len(f) for f in by_series.values())

    # convert --format npy writes load's arrays
    report = convert(path, tmp_path / "out", fmt="npy", workers=1, rescale=False)
    written = sorted((np.load(p) for p in (tmp_path / "out").glob("*.npy")),
                     key=lambda a: (a.shape, a.tobytes()[:64]))
    expected_arrays = sorted((v.array for v in volumes), key=lambda a: (a.shape,
                                                                       a.tobytes()[:64]))
    assert report.exit_code == 0, [f.reason for f in report.files]
    assert len(written) == len(expected_arrays)
    for ours, theirs in zip(written, expected_arrays, strict=True):
        assert ours.dtype == theirs.dtype
        np.testing.assert_array_equal(ours, theirs)
