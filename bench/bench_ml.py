"""Slices per second through a data loader: dicomdecode.ml.SliceDataset vs a naive pydicom
Dataset (``dcmread`` + ``pixel_array`` x slope + intercept in ``__getitem__``).

Each cell is the median of ``--runs`` full epochs (default 5) after one warm-up epoch:
0 workers is a plain loop over the dataset (what ``DataLoader(num_workers=0)`` does), 2 is a
torch ``DataLoader(batch_size=None, num_workers=2, persistent_workers=True)`` (``fork``),
so worker start-up is paid once, as in training. Without torch only the 0-worker rows
run. Prints a Markdown table.

    python bench/bench_ml.py [--corpus ../shared/corpus] [--runs 5] [--workers 0 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dicomdecode.ml import SliceDataset  # noqa: E402

CASES = {
    "GE CT 512x512 (28 files)": ["dcm_qa_ct/In/GE"],
    "Philips EPI 64x64 (27 files)": ["dcm_qa_philips/In/Magdeburg_2014/fmri"],
    "Canon enhanced MR, 1 file x 520 frames": ["dcm_qa_canon_61/In/enh/9000.dcm"],
    "J2K lossless multi-frame, 1 file x 10 frames":
        ["pylibjpeg-data/ljdata/ds/JPEG2000Lossless/emri_small_jpeg_2k_lossless.dcm"],
}


class NaivePydicomDataset:
    """What people write first: read and decode the whole file in every __getitem__."""

    def __init__(self, refs: list[tuple[str, int]]) -> None:
        self.refs = refs

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, i: int) -> dict[str, Any]:
        import pydicom

        path, frame = self.refs[i]
        ds = pydicom.dcmread(path)
        pixels = ds.pixel_array
        if int(ds.get("NumberOfFrames", 1) or 1) > 1:
            pixels = pixels[frame]
        slope = float(ds.get("RescaleSlope", 1) or 1)
        intercept = float(ds.get("RescaleIntercept", 0) or 0)
        if slope != 1 or intercept != 0:
            pixels = pixels.astype(np.float32) * slope + intercept
        return {"image": pixels, "path": path, "frame": frame}


def _iterable(ds: Any, workers: int, context: str) -> Any:
    """A plain index loop for 0 workers, else a DataLoader with persistent workers."""
    if workers == 0:
        return ds
    import torch

    return torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers,
                                       multiprocessing_context=context,
                                       persistent_workers=True, prefetch_factor=4)


def epoch_seconds(loader: Any, n: int) -> float:
    """Time one full pass."""
    start = time.perf_counter()
    count = sum(1 for _ in loader)
    elapsed = time.perf_counter() - start
    assert count == n, (count, n)
    return elapsed


def median_rate(ds: Any, workers: int, context: str, runs: int) -> float:
    """Slices/s, median over ``runs`` epochs, after one warm-up epoch (imports, page
    cache, and worker start-up, which persistent workers pay once per training run)."""
    loader = _iterable(ds, workers, context)
    epoch_seconds(loader, len(ds))
    times = [epoch_seconds(loader, len(ds)) for _ in range(runs)]
    del loader
    return len(ds) / statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=os.environ.get("DICOMDECODE_CORPUS",
                                                           str(ROOT.parent / "shared" / "corpus")))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--context", default="fork", choices=["fork", "spawn", "forkserver"])
    args = parser.parse_args(argv)
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
    workers = [w for w in args.workers if w == 0 or have_torch]
    if workers != args.workers:
        print("torch not installed: only 0-worker rows (pip install 'dicomdecode[torch]')",
              file=sys.stderr)
    corpus = Path(args.corpus)
    print(f"slices/s, median of {args.runs} epochs after a warm-up; workers>0: "
          f"DataLoader(batch_size=None, persistent_workers=True, {args.context}); "
          f"{os.cpu_count()} CPUs\n")
    print("| data | workers | naive pydicom | dicomdecode SliceDataset | speed-up |")
    print("|---|---:|---:|---:|---:|")
    for name, rels in CASES.items():
        paths = [corpus / r for r in rels]
        if not all(p.exists() for p in paths):
            print(f"| {name} | - | missing | missing | - |")
            continue
        ours = SliceDataset(paths)
        naive = NaivePydicomDataset([(ours[i]["path"], ours[i]["frame"])
                                     for i in range(len(ours))])
        for w in workers:
            a = median_rate(naive, w, args.context, args.runs)
            b = median_rate(ours, w, args.context, args.runs)
            print(f"| {name} | {w} | {a:,.0f} | {b:,.0f} | {b / a:.1f}x |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
