"""What running convert on a Dask cluster costs against the local engine, on one machine.

The archive: 20 series x 100 slices (2,000 files) of 512x512 JPEG-LS lossless CT, made
from the benchmark phantom (``make_series.py``, encoded by pyjpegls/CharLS), each series a
copy with its own Series/SOP Instance UIDs (pixels untouched), in a temporary folder that
is deleted afterwards. It is converted to ``npy`` by

* the local engine (``convert(..., fmt="npy")``: a process pool over the CPUs), and
* a ``LocalCluster`` of N worker processes (``convert(..., client=client)``), the cluster
  started before the clock (its start-up is reported on its own);

alternating, ``--repeats`` times each, each in a fresh process. The overhead ratio is
cluster time / local time (goal <= 1.2), best to best and median to median. Also measured: what the client holds per file after the scan
(pickled size of the scan result, and Python heap growth while it is held), the basis of
the README's scale model.

Usage: python bench/bench_cluster.py [--series 20] [--slices 100] [--workers 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from make_series import make  # noqa: E402
from results_io import write_results  # noqa: E402


def build_archive(root: Path, series: int, slices: int) -> int:
    """`series` copies of the phantom JPEG-LS series under `root`; returns the file count."""
    import pydicom
    from pydicom.uid import generate_uid

    source = make(slices, ["jpegls"], quiet=True)["jpegls"]
    files = sorted(source.glob("*.dcm"))
    for s in range(series):
        folder = root / f"study{s // 5:02d}" / f"series{s:02d}"
        folder.mkdir(parents=True)
        uid = generate_uid()
        for k, path in enumerate(files):
            ds = pydicom.dcmread(path)
            ds.SeriesInstanceUID = uid
            ds.SOPInstanceUID = generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.SeriesNumber = s + 1
            ds.save_as(folder / f"{k:04d}.dcm", enforce_file_format=True)
    return series * len(files)


def _timed(fn, *args, **kwargs) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


_RUN = """
import json, sys, time
from dicomdecode.apps.convert import convert
src, dst, workers, engine = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
extra, start = {"workers": workers}, 0.0
if engine == "cluster":
    import distributed
    t0 = time.perf_counter()
    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                       processes=True, dashboard_address=None)
    extra = {"client": distributed.Client(cluster)}
    start = time.perf_counter() - t0
t0 = time.perf_counter()
report = convert(src, dst, fmt="npy", progress=False, **extra)
print(json.dumps({"s": time.perf_counter() - t0, "start": start, "counts": report.counts}))
"""


def run_once(src: Path, dst: Path, workers: int, engine: str) -> dict:
    """One conversion in a fresh process (so the local engine may fork, as it would from
    the CLI, and neither run inherits the other's threads or caches); time inside it,
    imports and cluster start-up excluded."""
    import json
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(HERE.parent), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", _RUN, str(src), str(dst), str(workers),
                           engine], capture_output=True, text=True, env=env, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def client_holdings(src: Path, client) -> dict[str, float]:
    """Bytes per file the client holds once the cluster's scan is grouped."""
    from dicomdecode.scan import scan

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    result = scan(src, client=client)
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    files = sum(len(s.files) for s in result.series) + len(result.skipped)
    return {"files": files, "pickled_bytes_per_file": len(pickle.dumps(result)) / files,
            "heap_bytes_per_file": held / files}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=20)
    parser.add_argument("--slices", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    import distributed

    from dicomdecode.engine.parallel import available_cpus

    tmp = Path(tempfile.mkdtemp(prefix="dicomdecode-bench-cluster-"))
    try:
        src = tmp / "archive"
        t_make, n_files = _timed(build_archive, src, args.series, args.slices)
        print(f"archive: {n_files} files in {t_make:.1f} s", file=sys.stderr)
        local_times, cluster_times, starts = [], [], []
        counts = {}
        for r in range(args.repeats):
            for label, times in (("local", local_times), ("cluster", cluster_times)):
                dst = tmp / f"{label}{r}"
                run = run_once(src, dst, args.workers, label)
                counts[label] = run["counts"]
                times.append(run["s"])
                if label == "cluster":
                    starts.append(run["start"])
                print(f"{label} run {r}: {run['s']:.2f} s {run['counts']}", file=sys.stderr)
                shutil.rmtree(dst)
        with distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                      processes=True, dashboard_address=None) as cluster, \
                distributed.Client(cluster) as client:
            holdings = client_holdings(src, client)
        t_start = min(starts)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    import statistics

    best_local, best_cluster = min(local_times), min(cluster_times)
    ratio = best_cluster / best_local
    median_ratio = statistics.median(cluster_times) / statistics.median(local_times)
    payload = {"files": n_files, "series": args.series, "slices": args.slices,
               "syntax": "JPEG-LS lossless 512x512 int16", "format": "npy",
               "cpus": available_cpus(), "cluster_workers": args.workers,
               "local_s": local_times, "cluster_s": cluster_times,
               "cluster_start_s": t_start, "overhead_ratio": ratio,
               "overhead_ratio_median": median_ratio, "counts": counts,
               "client": holdings, "python": sys.version.split()[0],
               "distributed": distributed.__version__}
    per_million = holdings["heap_bytes_per_file"] * 1e6 / 2**30
    text = "\n".join([
        f"# convert: local engine vs LocalCluster({args.workers})",
        "",
        f"{n_files} files ({args.series} series x {args.slices} slices, JPEG-LS lossless "
        f"512x512 int16) to npy, {available_cpus()} CPUs, best of {args.repeats}.",
        "",
        "| engine | best s | runs s |",
        "|---|---|---|",
        f"| local process pool ({args.workers} workers) | {best_local:.2f} | "
        f"{', '.join(f'{t:.2f}' for t in local_times)} |",
        f"| LocalCluster({args.workers}) | {best_cluster:.2f} | "
        f"{', '.join(f'{t:.2f}' for t in cluster_times)} |",
        "",
        f"Overhead ratio (cluster / local): **{ratio:.2f}x** best to best, "
        f"{median_ratio:.2f}x median to median (goal <= 1.2x). "
        f"Cluster start-up, not in the times: {t_start:.1f} s.",
        "",
        f"Client holdings after the scan: {holdings['pickled_bytes_per_file']:.0f} bytes "
        f"pickled and {holdings['heap_bytes_per_file']:.0f} bytes of Python heap per file "
        f"(~{per_million:.1f} GiB per million files).",
        "",
    ])
    print(text)
    write_results(f"cluster_{time.strftime('%Y%m%d-%H%M')}", text, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
