"""Whole-series load benchmark: dicomdecode vs pydicom loop vs SimpleITK vs dcm2niix.

Every method runs as a fresh subprocess (interpreter start-up and imports count,
as users experience them); runs are round-robin across methods (alternating), and
the table gives the median whole-process wall time of --repeats runs per method.

Methods:
  pydicom    plain loop: walk dir, dcmread, pixel_array, sort by the projection of
             ImagePositionPatient on the slice normal, np.stack (stored values, no rescale)
  sitk       SimpleITK ImageSeriesReader: GetGDCMSeriesFileNames + Execute (+ array view)
  dcm2niix   dcm2niix -z n to a temporary directory (NIfTI + JSON sidecar)
  dd         dicomdecode.load(dir) with default workers
  dd_w1      dicomdecode.load(dir, workers=1)
  floor      the codec floor: every raw decoder that handles the syntax decodes every
             frame (already in memory) into a preallocated volume, 1 process pinned to
             1 core; the fastest decoder's median decode time is the floor. Also times
             reading all the files' bytes (warm cache) in that process.

After the timed runs each method is run once more with memory sampling: the sum of
PSS (proportional set size; shared pages counted once) over the process and all its
descendants, sampled every 10 ms ("peak tree PSS"). "peak RSS" is the largest single
process's maximum RSS from wait4 (median over the timed runs).

Usage:
  python bench/bench_load.py                                   # 300 slices, all syntaxes
  python bench/bench_load.py --slices 100 300 1000 --syntaxes explicit j2k --repeats 5
  python bench/bench_load.py --methods pydicom sitk dcm2niix floor

Needs the series from bench/make_series.py (made on demand). Writes
bench/results/load_<date>.md and .json.
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
import threading
import time
from pathlib import Path

from results_io import write_results  # noqa: E402  (bench/ is on sys.path as the script's folder)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / "_work"

ALL_METHODS = ["pydicom", "sitk", "dcm2niix", "dd", "dd_w1", "floor"]
LABELS = {
    "pydicom": "pydicom loop",
    "sitk": "SimpleITK",
    "dcm2niix": "dcm2niix",
    "dd": "dicomdecode",
    "dd_w1": "dicomdecode workers=1",
    "floor": "codec floor (1 core)",
}
NA_EXIT = 3  # child exit status meaning "method not available"
TIME_BIN = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


# =========================================================================== children
# Each child prints one JSON line on stdout as its last line.


def _emit(**kw) -> None:
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def _maybe_save(arr, save: str | None) -> None:
    if save:
        import numpy as np

        np.save(save, arr)


def child_pydicom(d: str, save: str | None) -> None:
    import numpy as np
    import pydicom

    t0 = time.perf_counter()
    items = []
    for root, _dirs, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            try:
                ds = pydicom.dcmread(p)
            except Exception:
                continue
            if "PixelData" not in ds:
                continue
            iop = np.array([float(x) for x in ds.ImageOrientationPatient])
            normal = np.cross(iop[:3], iop[3:])
            pos = float(np.dot(normal, [float(x) for x in ds.ImagePositionPatient]))
            items.append((pos, ds.pixel_array))
    items.sort(key=lambda t: t[0])
    vol = np.stack([a for _, a in items])
    dt = time.perf_counter() - t0
    _maybe_save(vol, save)
    _emit(shape=list(vol.shape), dtype=str(vol.dtype), nbytes=int(vol.nbytes), t_internal=dt)


def child_sitk(d: str, save: str | None) -> None:
    import SimpleITK as sitk

    t0 = time.perf_counter()
    reader = sitk.ImageSeriesReader()
    names = reader.GetGDCMSeriesFileNames(d)
    reader.SetFileNames(names)
    img = reader.Execute()
    arr = sitk.GetArrayViewFromImage(img)
    dt = time.perf_counter() - t0
    _maybe_save(arr, save)
    _emit(shape=list(arr.shape), dtype=str(arr.dtype), nbytes=int(arr.nbytes), t_internal=dt)


def _dd_load(d: str, workers: int | None):
    """Find dicomdecode's load; raise ImportError/AttributeError if missing."""
    import dicomdecode

    kw = {} if workers is None else {"workers": workers}
    load = getattr(dicomdecode, "load", None)
    if load is None:
        from dicomdecode import load  # type: ignore
    try:
        vols = load(d, **kw)
    except TypeError:
        vols = load([d], **kw)
    if not isinstance(vols, (list, tuple)):
        vols = [vols]
    return vols


def child_dd(d: str, save: str | None, workers: int | None) -> None:
    t0 = time.perf_counter()
    try:
        vols = _dd_load(d, workers)
    except (ImportError, AttributeError) as exc:
        _emit(error=f"n/a: {type(exc).__name__}: {exc}")
        sys.exit(NA_EXIT)
    dt = time.perf_counter() - t0
    vol = vols[0].array
    _maybe_save(vol, save)
    _emit(shape=list(vol.shape), dtype=str(vol.dtype), nbytes=int(vol.nbytes), t_internal=dt,
          n_volumes=len(vols))


def child_floor(d: str, reps: int) -> None:
    """Codec floor: decode all frames (in memory) with each raw codec, 1 core."""
    import numpy as np

    sys.path.insert(0, str(HERE))
    import rawcodecs

    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    except (AttributeError, OSError):
        pass
    paths = sorted(str(p) for p in Path(d).iterdir() if p.suffix == ".dcm")
    # time to read every file's bytes (warm cache), median of reps
    read_times = []
    for _ in range(max(3, reps)):
        t0 = time.perf_counter()
        total = 0
        for p in paths:
            with open(p, "rb") as f:
                total += len(f.read())
        read_times.append(time.perf_counter() - t0)
    frames = []
    pix = None
    for p in paths:
        pix, fr = rawcodecs.read_frames(p)
        frames.extend(fr)
    out = np.empty((len(frames),) + pix.shape, dtype=pix.dtype)
    out.fill(0)  # fault the pages in first: the floor is decode time only
    res = {}
    for name in rawcodecs.decoders_for(pix.ts):
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            for i, src in enumerate(frames):
                rawcodecs.decode_into(name, src, pix, out[i])
            times.append(time.perf_counter() - t0)
        res[name] = statistics.median(times)
    _emit(codecs=res, read=statistics.median(read_times), bytes_read=total,
          shape=list(out.shape), dtype=str(out.dtype), nbytes=int(out.nbytes))


def child_main(args) -> None:
    m = args.child
    if m == "pydicom":
        child_pydicom(args.dir, args.save)
    elif m == "sitk":
        child_sitk(args.dir, args.save)
    elif m == "dd":
        child_dd(args.dir, args.save, None)
    elif m == "dd_w1":
        child_dd(args.dir, args.save, 1)
    elif m == "floor":
        child_floor(args.dir, args.floor_reps)
    else:
        raise SystemExit(f"unknown child method {m}")


# =========================================================================== parent


def _children_of(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    out.extend(int(x) for x in f.read().split())
            except OSError:
                pass
    except OSError:
        pass
    return out


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeSampler(threading.Thread):
    """Samples the summed PSS of a process tree; .peak_kb after stop()."""

    def __init__(self, pid: int, interval: float = 0.01):
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak_kb = pid, interval, 0
        self._stop_evt = threading.Event()

    def run(self) -> None:
        while not self._stop_evt.is_set():
            pids, stack = [], [self.pid]
            while stack:
                p = stack.pop()
                pids.append(p)
                stack.extend(_children_of(p))
            total = sum(_pss_kb(p) for p in pids)
            self.peak_kb = max(self.peak_kb, total)
            self._stop_evt.wait(self.interval)

    def stop(self) -> None:
        self._stop_evt.set()
        self.join()


def build_cmd(method: str, d: Path, outdir: str | None, save: str | None,
              floor_reps: int) -> list[str]:
    if method == "dcm2niix":
        return [shutil.which("dcm2niix") or "dcm2niix", "-z", "n", "-f", "vol",
                "-o", outdir, str(d)]
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", method, "--dir", str(d)]
    if save:
        cmd += ["--save", save]
    if method == "floor":
        cmd += ["--floor-reps", str(floor_reps)]
    return cmd


def run_once(method: str, d: Path, *, sample_mem: bool = False, save: str | None = None,
             floor_reps: int = 3) -> dict:
    tmp = tempfile.mkdtemp(prefix="dd_bench_", dir=WORK) if method == "dcm2niix" else None
    cmd = build_cmd(method, d, tmp, save, floor_reps)
    # /usr/bin/time forks the command from a small process, so its max RSS is the
    # command's own (wait4 on a child spawned from this big parent would report the
    # parent's high-water mark inherited through vfork/exec).
    timef = None
    if TIME_BIN:
        fd, timef = tempfile.mkstemp(prefix="dd_time_", dir=WORK)
        os.close(fd)
        cmd = [TIME_BIN, "-f", "%U %S %M", "-o", timef] + cmd
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            cwd=str(REPO))
    sampler = None
    if sample_mem:
        sampler = TreeSampler(proc.pid)
        sampler.start()
    # read pipes in threads so a chatty child never blocks
    bufs: dict[str, bytes] = {}

    def _drain(name, stream):
        bufs[name] = stream.read()

    th = [threading.Thread(target=_drain, args=(n, s)) for n, s in
          (("out", proc.stdout), ("err", proc.stderr))]
    for t in th:
        t.start()
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    for t in th:
        t.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    maxrss_kb = ru.ru_maxrss
    cpu = ru.ru_utime + ru.ru_stime
    if timef:
        try:
            # last line "user sys maxrss_kb" (a "Command exited ..." line may precede it)
            u, sy, m = Path(timef).read_text().strip().splitlines()[-1].split()
            maxrss_kb, cpu = int(m), float(u) + float(sy)
        except (OSError, ValueError, IndexError):
            pass
        os.remove(timef)
    res: dict = {"wall": wall, "cpu": cpu, "maxrss_mb": maxrss_kb / 1024.0,
                 "rc": proc.returncode}
    if sampler:
        sampler.stop()
        res["pss_peak_mb"] = sampler.peak_kb / 1024.0
    out = bufs.get("out", b"").decode(errors="replace").strip().splitlines()
    err = bufs.get("err", b"").decode(errors="replace").strip()
    if method == "dcm2niix":
        niis = list(Path(tmp).glob("*.nii"))
        if proc.returncode == 0 and niis:
            import nibabel as nib

            img = nib.load(str(niis[0]))
            shape = img.shape
            nbytes = int(img.dataobj.dtype.itemsize)
            for s in shape:
                nbytes *= int(s)
            res.update(shape=list(shape), dtype=str(img.get_data_dtype()), nbytes=nbytes,
                       n_nifti=len(niis))
            if save:
                import numpy as np

                np.save(save, np.asarray(img.dataobj))
        else:
            res["error"] = f"dcm2niix rc={proc.returncode}: {err[-300:] or out[-3:]}"
        shutil.rmtree(tmp, ignore_errors=True)
        return res
    info = {}
    if out:
        try:
            info = json.loads(out[-1])
        except json.JSONDecodeError:
            info = {}
    res.update(info)
    if proc.returncode == NA_EXIT:
        res["error"] = info.get("error", "n/a")
    elif proc.returncode != 0:
        res["error"] = f"rc={proc.returncode}: {err[-600:]}"
    return res


def check_outputs(saved: dict[str, str], intercept: int = -1024) -> dict[str, str]:
    """Compare each method's saved volume to the pydicom loop (stored values)."""
    import numpy as np

    if "pydicom" not in saved or not os.path.exists(saved["pydicom"]):
        return {}
    ref = np.load(saved["pydicom"], mmap_mode="r")
    ref_hu = None
    verdict = {}
    for m, p in saved.items():
        if m == "pydicom" or not os.path.exists(p):
            continue
        a = np.load(p, mmap_mode="r")
        cands = [a]
        if a.ndim == 3 and a.shape != ref.shape:  # NIfTI (x, y, z) -> (z, y, x), flips
            t = np.transpose(a, (2, 1, 0))
            cands = [t[::sz, ::sy, ::sx] for sz in (1, -1) for sy in (1, -1) for sx in (1, -1)]
        ok = "DIFFERENT"
        for c in cands:
            if c.shape != ref.shape:
                continue
            if np.array_equal(c, ref):
                ok = "identical (stored values)"
                break
            if ref_hu is None:
                ref_hu = ref.astype(np.int32) + intercept
            if np.array_equal(c, ref_hu):
                ok = "identical (HU = stored + intercept)"
                break
        verdict[m] = f"{ok}; {a.dtype}"
    return verdict


def fmt(x, nd=2) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, str):
        return x
    return f"{x:.{nd}f}"


def summarize(results: dict, methods: list[str], ncores: int) -> tuple[str, dict]:
    """results[N][syntax][method] -> run dicts. Returns markdown and summary json."""
    lines = []
    summary: dict = {}
    for n, by_syntax in results.items():
        summary[n] = {}
        lines.append(f"\n### {n} slices of 512x512 int16 CT, whole-process median wall seconds\n")
        head = ["syntax"]
        for m in methods:
            if m != "floor":
                head.append(LABELS[m])
        if "floor" in methods:
            head += ["codec floor, 1 core (fastest)", "read files", "goal 1.15x(floor/cores+read)"]
        if "dd" in methods:
            head += ["dd vs pydicom", "dd vs SimpleITK", "dd vs dcm2niix", "dd / goal"]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for syn, by_m in by_syntax.items():
            s: dict = {}
            for m in methods:
                runs = by_m.get(m, [])
                good = [r for r in runs if "error" not in r]
                if m == "floor":
                    if good:
                        codecs = {}
                        for r in good:
                            for c, t in r["codecs"].items():
                                codecs.setdefault(c, []).append(t)
                        med = {c: statistics.median(v) for c, v in codecs.items()}
                        best = min(med, key=med.get)
                        read = statistics.median(r["read"] for r in good)
                        s["floor"] = {"codecs": med, "best": best, "best_s": med[best],
                                      "read_s": read,
                                      "goal_s": 1.15 * (med[best] / ncores + read),
                                      "wall_median": statistics.median(r["wall"] for r in good)}
                    else:
                        s["floor"] = {"error": runs[0].get("error") if runs else "not run"}
                    continue
                if good:
                    s[m] = {
                        "median": statistics.median(r["wall"] for r in good),
                        "min": min(r["wall"] for r in good),
                        "runs": [r["wall"] for r in good],
                        "cpu_median": statistics.median(r["cpu"] for r in good),
                        "maxrss_mb": statistics.median(r["maxrss_mb"] for r in good),
                        "shape": good[0].get("shape"), "dtype": good[0].get("dtype"),
                        "nbytes": good[0].get("nbytes"),
                    }
                else:
                    s[m] = {"error": (runs[0].get("error") if runs else "not run")}
            for m, mem in by_m.get("_mem", {}).items():
                if m in s and "median" in s[m]:
                    s[m]["pss_peak_mb"] = mem.get("pss_peak_mb")
            if "_check" in by_m:
                for m, v in by_m["_check"].items():
                    if m in s:
                        s[m]["check"] = v
            summary[n][syn] = s

            def med(m, s=s):
                return s.get(m, {}).get("median")

            row = [syn]
            for m in methods:
                if m != "floor":
                    row.append(fmt(med(m)))
            if "floor" in methods:
                f = s.get("floor", {})
                if "best_s" in f:
                    row += [f"{f['best_s']:.2f} ({f['best']})", fmt(f["read_s"]),
                            fmt(f["goal_s"])]
                else:
                    row += ["n/a", "n/a", "n/a"]
            if "dd" in methods:
                dd = med("dd")
                for other in ("pydicom", "sitk", "dcm2niix"):
                    o = med(other)
                    row.append(f"{o / dd:.2f}x" if dd and o else "n/a")
                g = s.get("floor", {}).get("goal_s")
                row.append(f"{dd / g:.2f}" if dd and g else "n/a")
            lines.append("| " + " | ".join(row) + " |")

        # memory table
        lines.append(f"\n### {n} slices: peak RSS (largest process) / peak tree PSS (all processes), MB (output volume MB, dtype)\n")
        head = ["syntax"]
        mm = [m for m in methods if m != "floor"]
        head += [LABELS[m] for m in mm]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for syn, s in summary[n].items():
            row = [syn]
            for m in mm:
                nb = s.get(m, {}).get("nbytes")
                dt = s.get(m, {}).get("dtype") or ""
                out = f" ({nb / 1e6:.0f} {dt})" if nb else ""
                row.append(f"{fmt(s.get(m, {}).get('maxrss_mb'), 0)} / "
                           f"{fmt(s.get(m, {}).get('pss_peak_mb'), 0)}{out}")
            lines.append("| " + " | ".join(row) + " |")
        # CPU seconds (user+sys of the process and its children): less sensitive to
        # other load on the machine than wall time
        lines.append(f"\n### {n} slices: CPU seconds (user+sys, all processes), median\n")
        head = ["syntax"] + [LABELS[m] for m in mm]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for syn, s in summary[n].items():
            lines.append("| " + " | ".join(
                [syn] + [fmt(s.get(m, {}).get("cpu_median")) for m in mm]) + " |")
        # floor details + checks + errors
        det = []
        for syn, s in summary[n].items():
            f = s.get("floor", {})
            if "codecs" in f:
                det.append(f"- {syn} floor per codec (s, 1 core, all frames): " + ", ".join(
                    f"{c} {t:.3f}" for c, t in sorted(f["codecs"].items(), key=lambda x: x[1])))
            for m in mm:
                if "check" in s.get(m, {}):
                    det.append(f"- {syn} {LABELS[m]}: {s[m]['check']}, shape {s[m].get('shape')}")
                if "error" in s.get(m, {}):
                    det.append(f"- {syn} {LABELS[m]}: {s[m]['error']}")
        if det:
            lines.append("")
            lines.extend(det)
    return "\n".join(lines), summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    ap.add_argument("--save", help=argparse.SUPPRESS)
    ap.add_argument("--floor-reps", type=int, default=1, help="decode passes per floor run")
    ap.add_argument("--slices", type=int, nargs="+", default=[300])
    ap.add_argument("--syntaxes", nargs="+",
                    default=["explicit", "rle", "jpegsv1", "jpegls", "j2k", "htj2k"])
    ap.add_argument("--methods", nargs="+", default=ALL_METHODS, choices=ALL_METHODS)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-mem", action="store_true", help="skip the memory-sampling run")
    ap.add_argument("--no-check", action="store_true",
                    help="skip the output comparison run")
    ap.add_argument("--tag", default="", help="suffix for the results file names")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)

    if args.child:
        child_main(args)
        return 0

    sys.path.insert(0, str(HERE))
    import make_series

    ncores = len(os.sched_getaffinity(0))
    results: dict = {}
    t_start = time.time()
    load_start = os.getloadavg()
    for n in args.slices:
        dirs = make_series.make(n, args.syntaxes, quiet=False)
        results[n] = {}
        for syn in args.syntaxes:
            if syn not in dirs:
                continue
            d = dirs[syn]
            # warm the page cache
            for p in d.iterdir():
                with open(p, "rb") as f:
                    while f.read(1 << 22):
                        pass
            by_m: dict = {m: [] for m in args.methods}
            na: set[str] = set()
            for rep in range(args.repeats):  # round-robin: alternate methods each round
                order = args.methods if rep % 2 == 0 else list(reversed(args.methods))
                for m in order:
                    if m in na:
                        continue
                    r = run_once(m, d, floor_reps=args.floor_reps)
                    by_m[m].append(r)
                    if "error" in r:
                        na.add(m)  # don't keep retrying a missing method
                    tag = r.get("error", f"{r['wall']:.3f}s cpu {r['cpu']:.2f}s "
                                         f"rss {r['maxrss_mb']:.0f}MB")
                    print(f"  [{n} {syn} rep {rep + 1}/{args.repeats}] {m}: {tag}",
                          file=sys.stderr, flush=True)
            if not args.no_mem or not args.no_check:
                mem, saved = {}, {}
                for m in args.methods:
                    if m in na or m == "floor":
                        continue
                    save = None
                    if not args.no_check:
                        save = str(WORK / f"_check_{m}.npy")
                    r = run_once(m, d, sample_mem=not args.no_mem, save=save)
                    if "error" not in r:
                        mem[m] = r
                        if save:
                            saved[m] = save
                by_m["_mem"] = mem
                if saved:
                    by_m["_check"] = check_outputs(saved)
                    for p in saved.values():
                        try:
                            os.remove(p)
                        except OSError:
                            pass
            results[n][syn] = by_m

    md, summary = summarize(results, args.methods, ncores)
    env = {
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpu": platform.processor() or platform.machine(),
        "cores_available": ncores,
        "python": platform.python_version(),
        "command": "python bench/bench_load.py " + " ".join(argv if argv is not None
                                                           else sys.argv[1:]),
        "repeats": args.repeats,
        "elapsed_s": round(time.time() - t_start, 1),
        "loadavg_start": load_start,
        "loadavg_end": os.getloadavg(),
    }
    try:
        import importlib.metadata as im

        env["versions"] = {p: im.version(p) for p in (
            "pydicom", "numpy", "simpleitk", "dcm2niix", "pylibjpeg", "pylibjpeg-libjpeg",
            "pylibjpeg-openjpeg", "pylibjpeg-rle", "python-gdcm", "pyjpegls")
            if _has_dist(im, p)}
        env["dicomdecode_commit"] = subprocess.run(
            ["git", "-C", str(REPO), "log", "-1", "--format=%h %s"], capture_output=True,
            text=True).stdout.strip()
    except Exception:
        pass
    header = (f"# Load benchmark {env['date']}\n\n"
              f"`{env['command']}` on {ncores} cores ({env['cpu']}), Python {env['python']}, "
              f"repo at {env.get('dicomdecode_commit', '?')}; load average at start/end "
              f"{load_start[0]:.1f}/{env['loadavg_end'][0]:.1f}. Medians of {args.repeats} "
              "alternating runs, each a fresh process. Ratios are speed-ups "
              "(other method's time / dicomdecode's).\n")
    text = header + md + "\n"
    print(text)
    if not args.no_write:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M")
        write_results(f"load_{stamp}{('_' + args.tag) if args.tag else ''}", text,
                      {"env": env, "summary": {str(k): v for k, v in summary.items()}})
    return 0


def _has_dist(im, name: str) -> bool:
    try:
        im.version(name)
        return True
    except Exception:
        return False


if __name__ == "__main__":
    sys.exit(main())
