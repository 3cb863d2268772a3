"""Whole-process `dicomdecode convert` against dcm2niix, paired, on the 300-slice bench series.

For each syntax's series (bench/make_series.py: explicit, rle, jpegsv1, jpegls, j2k, htj2k,
jpeg8) four commands run as fresh processes, in turn, round after round (A B C D A B C D ...,
so a drift in the machine's speed hits all of them alike):

  dd_gz    dicomdecode convert -q SRC DST                (.nii.gz, default level)
  dd_nii   dicomdecode convert -q --no-compress SRC DST  (.nii)
  d2n_gz   dcm2niix -z y -o DST SRC
  d2n_nii  dcm2niix -z n -o DST SRC

Each run writes into a new empty folder (deleted after). Reported per command: median wall
seconds (the clock around the child, start-up included), median CPU seconds (user+system of
the child and every process it waited for), peak RSS (largest single process, from wait4),
and the image's size. The ratios dd/d2n are taken round by round, then the median.
After the timed runs the outputs are compared once: voxels (nibabel get_fdata after
as_closest_canonical) and affine of ours against dcm2niix's, and the two dtypes.

Usage:
  python bench/bench_convert.py                          # every syntax present, 5 rounds
  python bench/bench_convert.py --syntaxes explicit rle --repeats 3

Writes bench/results/convert_<date>.md and .json.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from results_io import write_results  # noqa: E402  (bench/ is on sys.path as the script's folder)

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work"
SYNTAXES = ("explicit", "rle", "jpegsv1", "jpegls", "j2k", "htj2k", "jpeg8")
#: study_<N> (bench/make_series.py --study): several of those series in one folder, each
#: its own series, converted by one command (not in the default list: opt in by name)
STUDY = "study"
METHODS = ("dd_gz", "dd_nii", "d2n_gz", "d2n_nii")


def dcm2niix() -> str:
    """The dcm2niix binary itself (the pip package's console script is a Python wrapper
    whose start-up would be counted against dcm2niix)."""
    try:
        import dcm2niix as pkg

        exe = str(pkg.bin)
    except (ImportError, AttributeError):
        exe = shutil.which("dcm2niix") or ""
    if not exe or not Path(exe).exists():
        sys.exit("dcm2niix not found (pip install dcm2niix)")
    return exe


def command(method: str, src: Path, dst: Path) -> list[str]:
    if method.startswith("dd"):
        extra = ["--no-compress"] if method == "dd_nii" else []
        return [sys.executable, "-m", "dicomdecode", "convert", "-q", *extra, str(src), str(dst)]
    z = "y" if method == "d2n_gz" else "n"
    return [dcm2niix(), "-z", z, "-b", "y", "-f", "%s_%p", "-o", str(dst), str(src)]


def nifti_files(folder: Path) -> list[Path]:
    """The images a run wrote (not the records convert keeps under .dicomdecode/)."""
    return [p for p in folder.iterdir() if p.name.endswith((".nii", ".nii.gz"))]


def run_once(cmd: list[str], dst: Path) -> dict[str, float]:
    """One whole-process run: wall, CPU (self + waited descendants), peak RSS, image size."""
    dst.mkdir(parents=True)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} failed ({proc.returncode}): {err[-2000:]}")
    images = nifti_files(dst)
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
            "peak_rss_mb": usage.ru_maxrss / 1024,
            "bytes": float(sum(p.stat().st_size for p in images))}


def compare(ours: Path, theirs: Path) -> dict[str, object]:
    """:func:`compare_here` in a child process: a child forked later inherits this
    process's resident size as its peak RSS (Linux keeps the high-water mark across exec),
    so the gigabytes of float64 voxels compared must never live in this process."""
    proc = subprocess.run([sys.executable, __file__, "--compare", str(ours), str(theirs)],
                          capture_output=True, text=True, check=True)
    return dict(json.loads(proc.stdout))


def compare_here(ours: Path, theirs: Path) -> dict[str, object]:
    """Our images against dcm2niix's: equal voxels and affine, and both dtypes. A study
    has several images on each side: they are paired by shape and mean voxel value (the
    names differ: dcm2niix names by series number and protocol, which the study's series
    share), then compared pair by pair; the worst pair is reported."""
    import nibabel as nib
    import numpy as np

    def canonical(path: Path) -> tuple[Any, np.ndarray]:
        image = nib.as_closest_canonical(nib.load(path))
        return image, image.get_fdata()

    ours_files, theirs_files = sorted(nifti_files(ours)), sorted(nifti_files(theirs))
    if len(ours_files) != len(theirs_files):
        return {"voxels_equal": False, "max_abs_diff": None, "fraction_different": None,
                "affine_max_diff_mm": None, "ours_dtype": f"{len(ours_files)} images",
                "dcm2niix_dtype": f"{len(theirs_files)} images"}
    signatures = {}
    for path in theirs_files:
        _, data = canonical(path)
        signatures[path] = (data.shape, float(data.mean()))
    worst: dict[str, Any] = {"voxels_equal": True, "max_abs_diff": 0.0,
                             "fraction_different": 0.0, "affine_max_diff_mm": 0.0}
    dtypes: tuple[set[str], set[str]] = (set(), set())
    for path in ours_files:
        image, data = canonical(path)
        candidates = [p for p in signatures if signatures[p][0] == data.shape]
        if not candidates:
            worst.update(voxels_equal=False, max_abs_diff=None, fraction_different=None)
            continue
        mean = float(data.mean())
        match = min(candidates, key=lambda p: abs(signatures[p][1] - mean))
        del signatures[match]
        theirs_image, theirs_data = canonical(match)
        diff = np.abs(data - theirs_data)
        worst["voxels_equal"] = bool(worst["voxels_equal"] and not diff.any())
        if worst["max_abs_diff"] is not None:
            worst["max_abs_diff"] = max(worst["max_abs_diff"], float(diff.max()))
            worst["fraction_different"] = max(worst["fraction_different"],
                                              float(np.mean(diff != 0)))
        worst["affine_max_diff_mm"] = max(worst["affine_max_diff_mm"], float(
            np.abs(image.affine - theirs_image.affine).max()))
        dtypes[0].add(str(nib.load(path).get_data_dtype()))
        dtypes[1].add(str(nib.load(match).get_data_dtype()))
    worst["ours_dtype"] = "+".join(sorted(dtypes[0]))
    worst["dcm2niix_dtype"] = "+".join(sorted(dtypes[1]))
    return worst


def bench_syntax(src: Path, repeats: int, scratch: Path, warmup: int = 1
                 ) -> dict[str, object]:
    runs: dict[str, list[dict[str, float]]] = {m: [] for m in METHODS}
    last = warmup + repeats - 1
    for r in range(warmup + repeats):  # the warm-up rounds fill the page cache, not counted
        for m in METHODS:
            dst = scratch / f"{m}_{r}"
            res = run_once(command(m, src, dst), dst)
            if r >= warmup:
                runs[m].append(res)
            if r < last:
                shutil.rmtree(dst)
    check = {"gz": compare(scratch / f"dd_gz_{last}", scratch / f"d2n_gz_{last}"),
             "nii": compare(scratch / f"dd_nii_{last}", scratch / f"d2n_nii_{last}")}
    for m in METHODS:
        shutil.rmtree(scratch / f"{m}_{last}", ignore_errors=True)
    med = {m: {k: statistics.median(x[k] for x in runs[m]) for k in runs[m][0]}
           for m in METHODS}
    ratio = {kind: statistics.median(a["wall"] / b["wall"] for a, b in
                                     zip(runs[f"dd_{kind}"], runs[f"d2n_{kind}"], strict=True))
             for kind in ("gz", "nii")}
    return {"runs": runs, "median": med, "ratio_wall": ratio, "check": check}


def _load_average() -> str:
    """The 1-minute load average now (which the report records: a busy machine slows
    both tools, but not always equally)."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:  # pragma: no cover - not on every platform
        return "unknown"


def _agreement(gz: dict[str, object], nii: dict[str, object]) -> str:
    """'True' when both outputs equal dcm2niix's voxels, else the largest difference and
    how many voxels differ (lossy JPEG: IDCTs may differ by 1, see the README)."""
    if gz["voxels_equal"] and nii["voxels_equal"]:
        return "True"
    worst = max(gz, nii, key=lambda c: float(c["max_abs_diff"] or 0))  # type: ignore[arg-type]
    return (f"max diff {worst['max_abs_diff']:g} in "
            f"{100 * float(worst['fraction_different'] or 0):.2f}%")


def report(results: dict[str, dict], repeats: int) -> str:
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# convert vs dcm2niix, whole process ({when})", "",
             f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
             f"{repeats} paired rounds per series (A B C D alternating, after uncounted "
             "warm-up rounds), medians; dcm2niix is the pip package's binary. 300 x 512x512 CT slices per series (bench/make_series.py). "
             f"Load average when it started: {_load_average()} (2 cores: above about 1, "
             "other jobs shared the machine; read ratios, taken pair by pair, before "
             "absolute seconds).", "",
             "| series | ours .nii.gz s | dcm2niix -z y s | ratio | ours .nii s | "
             "dcm2niix -z n s | ratio | size gz ours/theirs | peak RSS MB ours/theirs | "
             "voxels equal | dtype ours/theirs |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for syntax, res in results.items():
        med, ratio, chk = res["median"], res["ratio_wall"], res["check"]["gz"]
        lines.append(
            f"| {syntax} | {med['dd_gz']['wall']:.2f} | {med['d2n_gz']['wall']:.2f} | "
            f"{ratio['gz']:.2f}x | {med['dd_nii']['wall']:.2f} | {med['d2n_nii']['wall']:.2f} | "
            f"{ratio['nii']:.2f}x | {med['dd_gz']['bytes'] / med['d2n_gz']['bytes']:.3f} | "
            f"{med['dd_gz']['peak_rss_mb']:.0f} / {med['d2n_gz']['peak_rss_mb']:.0f} | "
            f"{_agreement(chk, res['check']['nii'])} | "
            f"{chk['ours_dtype']} / {chk['dcm2niix_dtype']} |")
    lines += ["", "CPU seconds (user+system, medians): "
              + "; ".join(f"{s}: ours {r['median']['dd_gz']['cpu']:.2f} vs "
                          f"{r['median']['d2n_gz']['cpu']:.2f} (gz)"
                          for s, r in results.items()), ""]
    return "\n".join(lines)


def main() -> None:
    if sys.argv[1:2] == ["--compare"]:  # the child of compare()
        print(json.dumps(compare_here(Path(sys.argv[2]), Path(sys.argv[3]))))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--syntaxes", nargs="+", default=list(SYNTAXES),
                    choices=(*SYNTAXES, STUDY),
                    help=f"series to run (default: {' '.join(SYNTAXES)}); '{STUDY}' is the "
                         "multi-series study of make_series.py --study")
    ap.add_argument("--slices", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1, help="uncounted rounds first (default 1)")
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    results: dict[str, dict] = {}
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M")
    name = f"convert_{stamp}{'_' + args.tag if args.tag else ''}"
    text = ""
    with tempfile.TemporaryDirectory(prefix="bench_convert_") as tmp:
        for syntax in args.syntaxes:
            src = WORK / f"{syntax}_{args.slices}"
            if not (WORK / f".{syntax}_{args.slices}.complete").exists():
                print(f"{syntax}: no series at {src} (run bench/make_series.py)", file=sys.stderr)
                continue
            scratch = Path(tmp) / syntax
            results[syntax] = bench_syntax(src, args.repeats, scratch, args.warmup)
            med = results[syntax]["median"]
            print(f"{syntax}: " + ", ".join(f"{m} {med[m]['wall']:.2f}s" for m in METHODS)
                  + f" ratio gz {results[syntax]['ratio_wall']['gz']:.2f}", file=sys.stderr)
            # after every series, so an interrupted run keeps what it measured
            text = report(results, args.repeats)
            write_results(name, text, {"repeats": args.repeats, "slices": args.slices,
                                       "results": results})
    print(text)


if __name__ == "__main__":
    main()
