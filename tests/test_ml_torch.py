"""dicomdecode.ml under a real torch DataLoader with worker processes (fork and spawn).

Every test is marked ``torch`` and imports torch inside the test, so collection works
without it and CI runs these in a session that installs ``torch==2.13.0`` (CPU build). A
missing torch is a failure here, not a skip: deselect with ``-m "not torch"`` instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dicomdecode.ml import SeriesDataset, SliceDataset

from .test_ml import CANON_ENH, GE_CT, PHILIPS_FMRI, assert_slice_matches

pytestmark = pytest.mark.torch

CONTEXTS = ["fork", "spawn"]


def _torch() -> Any:
    import torch  # a hard failure here is intended: these tests need torch

    return torch


def _numpy_item(item: dict[str, Any]) -> dict[str, Any]:
    """An item as the DataLoader returns it (tensors), back to NumPy for comparison."""
    torch = _torch()
    return {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in item.items()}


def _loader(ds: Any, context: str, **kwargs: Any) -> Any:
    torch = _torch()
    return torch.utils.data.DataLoader(ds, num_workers=2, multiprocessing_context=context,
                                       **kwargs)


def _rss_bytes() -> int:
    """Resident set size of this process (Linux /proc), without psutil."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def record_rss(item: dict[str, Any]) -> dict[str, Any]:
    """Transform run inside the worker: tag the item with the worker's pid and RSS."""
    item["pid"] = os.getpid()
    item["rss"] = _rss_bytes()
    return item


@pytest.mark.parametrize("context", CONTEXTS)
def test_slice_dataloader_matches_serial_and_pydicom(corpus: Path, context: str) -> None:
    torch = _torch()
    ds = SliceDataset(corpus / PHILIPS_FMRI)
    serial = [ds[i] for i in range(len(ds))]  # also decodes in the parent before forking
    seen: list[int] = []
    gen = torch.Generator().manual_seed(7)
    for item in _loader(ds, context, batch_size=None, shuffle=True, generator=gen):
        item = _numpy_item(item)
        i = int(item["index"])
        seen.append(i)
        ref = serial[i]
        assert item["image"].dtype == ref["image"].dtype
        assert np.array_equal(item["image"], ref["image"])
        assert np.array_equal(item["position"], ref["position"])
        assert (item["path"], item["frame"], item["series_key"]) == \
            (ref["path"], ref["frame"], ref["series_key"])
        assert_slice_matches(item["image"], item["path"], item["frame"])
    assert sorted(seen) == list(range(len(ds)))  # each item exactly once


@pytest.mark.parametrize("context", CONTEXTS)
def test_slice_dataloader_batches_collate(corpus: Path, context: str) -> None:
    torch = _torch()
    ds = SliceDataset(corpus / GE_CT, as_tensor=True)
    serial = SliceDataset(corpus / GE_CT)
    seen: list[int] = []
    for batch in _loader(ds, context, batch_size=4):
        assert isinstance(batch["image"], torch.Tensor) and batch["image"].ndim == 3
        for j, i in enumerate(batch["index"].tolist()):
            seen.append(i)
            assert np.array_equal(batch["image"][j].numpy(), serial[i]["image"])
    assert sorted(seen) == list(range(len(ds)))


@pytest.mark.parametrize("context", CONTEXTS)
def test_series_dataloader_several_series(corpus: Path, context: str) -> None:
    ds = SeriesDataset([corpus / PHILIPS_FMRI, corpus / GE_CT, corpus / CANON_ENH])
    assert len(ds) >= 3
    serial = [ds[i] for i in range(len(ds))]
    seen: list[int] = []
    for item in _loader(ds, context, batch_size=None):
        item = _numpy_item(item)
        i = int(item["index"])
        seen.append(i)
        ref = serial[i]
        assert item["series_key"] == ref["series_key"]
        assert item["image"].dtype == ref["image"].dtype
        assert np.array_equal(item["image"], ref["image"])
        assert np.array_equal(item["affine"], ref["affine"])
        series = ds.series[i]
        stack = item["image"].reshape(-1, *item["image"].shape[-2:])
        assert stack.shape[0] == len(series.images)
        for k, im in enumerate(series.images):
            assert_slice_matches(stack[k], im.path, im.frame)
    assert sorted(seen) == list(range(len(ds)))


@pytest.mark.parametrize("context", CONTEXTS)
def test_memory_flat_over_three_epochs(corpus: Path, context: str) -> None:
    """Workers stay alive (persistent) over 3 epochs of the 520-frame file; each item
    re-reads a 6.8 MB file, so any per-item cache or leak would show in their RSS."""
    ds = SliceDataset(corpus / CANON_ENH, transform=record_rss)
    loader = _loader(ds, context, batch_size=None, persistent_workers=True)
    worker_rss: list[dict[int, int]] = []
    parent_rss: list[int] = []
    for _epoch in range(3):
        last: dict[int, int] = {}
        count = 0
        for item in loader:
            last[int(item["pid"])] = int(item["rss"])
            count += 1
        assert count == len(ds)
        worker_rss.append(last)
        parent_rss.append(_rss_bytes())
    assert worker_rss[0].keys() == worker_rss[2].keys()  # the same two workers
    limit = 24 * 2**20
    for pid in worker_rss[0]:
        growth = worker_rss[2][pid] - worker_rss[0][pid]
        assert growth < limit, f"worker {pid} grew {growth / 2**20:.1f} MiB over epochs 1-3"
    assert parent_rss[2] - parent_rss[0] < limit


def test_as_tensor_items(corpus: Path) -> None:
    torch = _torch()
    ds = SliceDataset(corpus / PHILIPS_FMRI, as_tensor=True)
    plain = SliceDataset(corpus / PHILIPS_FMRI)
    item = ds[3]
    assert isinstance(item["image"], torch.Tensor) and item["image"].dtype == torch.float32
    assert np.array_equal(item["image"].numpy(), plain[3]["image"])


# --------------------------------------------------------------------------- MONAI reader
# Needs MONAI as well as torch (same CI session: pip install torch==2.13.0 monai).


def test_monai_loadimage_matches_monai_pydicom_reader(corpus: Path) -> None:
    """LoadImage with our reader gives the same array and affine as MONAI's own
    PydicomReader (an independent decode and geometry) on a tilted GE CT series."""
    from monai.data import PydicomReader
    from monai.transforms import LoadImage

    from dicomdecode.monai import DicomDecodeReader

    folder = str(corpus / GE_CT)
    ours = LoadImage(reader=DicomDecodeReader(), image_only=True)(folder)
    ref = LoadImage(reader=PydicomReader(), image_only=True)(folder)
    assert tuple(ours.shape) == tuple(ref.shape)
    np.testing.assert_allclose(ours.affine.numpy(), ref.affine.numpy(), atol=1e-4)
    assert np.array_equal(ours.numpy(), ref.numpy())


def test_monai_reader_4d_and_series_choice(corpus: Path) -> None:
    from monai.transforms import LoadImage

    from dicomdecode.monai import DicomDecodeReader

    img = LoadImage(reader=DicomDecodeReader(), image_only=True)(
        str(corpus / PHILIPS_FMRI))
    series = SeriesDataset(corpus / PHILIPS_FMRI)[0]
    vol = series["image"]  # (volumes, slices, rows, cols)
    assert tuple(img.shape) == (vol.shape[3], vol.shape[2], vol.shape[1], vol.shape[0])
    assert np.array_equal(img.numpy(), np.transpose(vol, (3, 2, 1, 0)).astype(np.float32))
    reader = DicomDecodeReader()
    with pytest.raises(ValueError, match="series"):
        reader.read([str(corpus / PHILIPS_FMRI), str(corpus / GE_CT)])
    chosen = DicomDecodeReader(series=series["series_uid"]).read(
        [str(corpus / PHILIPS_FMRI), str(corpus / GE_CT)])
    assert np.array_equal(chosen.array, vol)
