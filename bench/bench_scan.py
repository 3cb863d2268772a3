"""Header scan speed: files per second on a generated series, warm page cache.

Methods (in this process, alternating, median of --repeats rounds):
  pydicom      for each file: pydicom.dcmread(path, stop_before_pixels=True)
  dd           dicomdecode.scan.scan(dir) (default workers)
  dd_w1        dicomdecode.scan.scan(dir, workers=1)

Plus the same in a fresh subprocess (--subprocess, default on), where interpreter
start-up and imports count. Goal (issue 5): >= 3,000 files/s on the 300-file series.

Usage:
  python bench/bench_scan.py                       # explicit, 300 files
  python bench/bench_scan.py --syntaxes explicit j2k --slices 300 1000 --repeats 7
Writes bench/results/scan_<date>.md and .json.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from results_io import write_results  # noqa: E402  (bench/ is on sys.path as the script's folder)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
METHODS = ["pydicom", "dd", "dd_w1"]


def run_method(method: str, d: str) -> int:
    """Scan `d` with `method`; return the number of images/files accounted for."""
    if method == "pydicom":
        import pydicom

        n = 0
        for root, _dirs, files in os.walk(d):
            for f in files:
                try:
                    pydicom.dcmread(os.path.join(root, f), stop_before_pixels=True)
                    n += 1
                except Exception:
                    pass
        return n
    from dicomdecode.scan import scan

    res = scan(d) if method == "dd" else scan(d, workers=1)
    n = 0
    for s in res.series:
        files = getattr(s, "files", None)
        n += len(files) if files is not None else len(getattr(s, "images", []))
    return n


def child(method: str, d: str) -> None:
    t0 = time.perf_counter()
    n = run_method(method, d)
    print(json.dumps({"n": n, "t": time.perf_counter() - t0}))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--syntaxes", nargs="+", default=["explicit"])
    ap.add_argument("--slices", type=int, nargs="+", default=[300])
    ap.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--no-subprocess", action="store_true")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0

    sys.path.insert(0, str(HERE))
    if str(REPO) not in sys.path:
        sys.path.insert(1, str(REPO))
    import make_series

    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    rows = []
    for n in args.slices:
        dirs = make_series.make(n, args.syntaxes, quiet=True)
        for syn, d in dirs.items():
            for p in d.iterdir():  # warm the cache
                p.read_bytes()
            inproc: dict[str, list[float]] = {m: [] for m in args.methods}
            subp: dict[str, list[float]] = {m: [] for m in args.methods}
            counts: dict[str, int | str] = {}
            na: set[str] = set()
            for m in args.methods:  # warm-up (imports, first pool)
                try:
                    counts[m] = run_method(m, str(d))
                except Exception as exc:
                    counts[m] = f"n/a: {type(exc).__name__}: {exc}"[:200]
                    na.add(m)
            for rep in range(args.repeats):
                order = args.methods if rep % 2 == 0 else args.methods[::-1]
                for m in order:
                    if m in na:
                        continue
                    t0 = time.perf_counter()
                    run_method(m, str(d))
                    inproc[m].append(time.perf_counter() - t0)
                    if not args.no_subprocess:
                        t0 = time.perf_counter()
                        subprocess.run([sys.executable, __file__, "--child", m, str(d)],
                                       env=env, check=True, capture_output=True)
                        subp[m].append(time.perf_counter() - t0)
            nfiles = sum(1 for p in d.iterdir() if p.suffix == ".dcm")
            for m in args.methods:
                r = {"slices": n, "syntax": syn, "method": m, "files": nfiles,
                     "accounted": counts.get(m)}
                if inproc[m]:
                    t = statistics.median(inproc[m])
                    r.update(inproc_s=t, inproc_files_per_s=nfiles / t)
                if subp[m]:
                    t = statistics.median(subp[m])
                    r.update(subproc_s=t, subproc_files_per_s=nfiles / t)
                rows.append(r)

    head = ["files", "syntax", "method", "in-process s", "files/s", "fresh process s",
            "files/s (with start-up)", "files accounted"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    labels = {"pydicom": "pydicom dcmread(stop_before_pixels)", "dd": "dicomdecode scan",
              "dd_w1": "dicomdecode scan workers=1"}
    for r in rows:
        def f(k, nd=3, r=r):
            return f"{r[k]:.{nd}f}" if k in r else "n/a"
        lines.append("| " + " | ".join([
            str(r["files"]), r["syntax"], labels[r["method"]], f("inproc_s"),
            f("inproc_files_per_s", 0), f("subproc_s"), f("subproc_files_per_s", 0),
            str(r["accounted"])]) + " |")
    stamp = _dt.datetime.now()
    cmd = "python bench/bench_scan.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = (f"# Header scan speed {stamp.isoformat(timespec='seconds')}\n\n`{cmd}`: warm page "
            f"cache, medians of {args.repeats} alternating rounds, "
            f"{len(os.sched_getaffinity(0))} cores, load average "
            f"{os.getloadavg()[0]:.1f}.\n\n" + "\n".join(lines) + "\n")
    print(text)
    if not args.no_write:
        write_results(f"scan_{stamp.strftime('%Y%m%d-%H%M')}", text,
                      {"command": cmd, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
