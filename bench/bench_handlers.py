"""Per-handler decode speed: ms per 512x512 slice, for each transfer syntax.

For one file per syntax (the middle slice of each bench/_work/<syntax>_300 series,
512x512 int16 CT, and bench/_work/rgb_jpeg_baseline.dcm, 512x512 8-bit RGB, for
JPEG baseline) this times:

  dicomdecode  dicomdecode.decode.decode(path, handlers=[name]) for every installed
               handler that supports the syntax (the whole call: read, parse, decode,
               canonical normalisation), and decode(path) with the default choice
  raw codec    the codec library's own call on the frame already in memory
               (bench/rawcodecs.py: the call a handler makes)
  pydicom      pydicom.dcmread(path).pixel_array with its default plugin order

Each number is the median of --runs timed calls (after 2 warm-up calls), in one
process pinned to one core (--no-pin to disable). Results are checked: every
handler's array must equal the explicit-VR reference slice (lossless syntaxes) or
be within the stated tolerance (JPEG baseline, vs the first handler's result).

Usage:
  python bench/bench_handlers.py                 # all syntaxes, 30 runs
  python bench/bench_handlers.py --runs 100 --syntaxes jpegls j2k
  python bench/bench_handlers.py --files some.dcm other.dcm   # extra files
Writes bench/results/handlers_<date>.md and .json.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
if str(REPO) not in sys.path:
    sys.path.insert(1, str(REPO))

import make_series  # noqa: E402
import rawcodecs  # noqa: E402
from results_io import write_results  # noqa: E402  (bench/ is on sys.path as the script's folder)

# raw codec that a dicomdecode handler uses for a syntax
HANDLER_CODEC = {
    "native": {rawcodecs.RLE: "dicomdecode-rle", "*": "memcpy"},
    "gdcm": {"*": "gdcm"},
    "charls": {"*": "charls"},
    "imagecodecs": {"*": "imagecodecs"},
    "libjpeg": {"*": "libjpeg"},
    "pylibjpeg": {
        rawcodecs.RLE: "pylibjpeg-rle",
        **{u: "openjpeg" for u in rawcodecs.J2K_SYNTAXES | rawcodecs.HTJ2K_SYNTAXES},
    },
}
JPEG_BASELINE_TOL = 3  # max abs difference allowed between handlers (lossy)


def timeit(fn, runs: int, warmup: int = 2) -> tuple[float, float]:
    """Median and min seconds per call over `runs` calls."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), min(ts)


def _dd_handlers():
    try:
        from dicomdecode.decode import decode
        from dicomdecode.decode.handlers import HANDLERS
    except Exception as exc:  # dicomdecode missing or broken: raw codecs still run
        return None, {}, f"{type(exc).__name__}: {exc}"
    return decode, HANDLERS, ""


def bench_file(label: str, path: Path, runs: int, ref: np.ndarray | None,
               lossy: bool) -> list[dict]:
    pix, frames = rawcodecs.read_frames(path)
    src = frames[0]
    rows: list[dict] = []
    out = np.empty(pix.shape, dtype=pix.dtype)

    # raw codecs
    raw: dict[str, tuple[float, float]] = {}
    for name in rawcodecs.decoders_for(pix.ts):
        try:
            raw[name] = timeit(lambda n=name: rawcodecs.decode_into(n, src, pix, out), runs)
        except Exception as exc:
            print(f"  {label} raw {name}: {exc}", file=sys.stderr)

    # pydicom default
    import pydicom

    try:
        pyd = timeit(lambda: pydicom.dcmread(path).pixel_array, runs)
    except Exception:
        pyd = None

    decode, handlers, why = _dd_handlers()
    first_arr = None
    if decode is not None:
        try:
            d = decode(path)
            default = d.handler
            dflt_t = timeit(lambda: decode(path), runs)
        except Exception as exc:
            default, dflt_t = f"error: {exc}", None
        for hname, h in handlers.items():
            try:
                if not h.supports(pix.ts):
                    continue
            except Exception:
                continue
            codec = HANDLER_CODEC.get(hname, {}).get(pix.ts) or \
                HANDLER_CODEC.get(hname, {}).get("*")
            row = {"syntax": label, "ts": pix.ts, "handler": hname, "codec": codec,
                   "raw_ms": raw[codec][0] * 1e3 if codec in raw else None,
                   "default": hname == default,
                   "default_ms": dflt_t[0] * 1e3 if (dflt_t and hname == default) else None,
                   "pydicom_ms": pyd[0] * 1e3 if pyd else None}
            try:
                res = decode(path, handlers=[hname])
                arr = res.array
                if res.handler != hname:
                    row["note"] = f"decoded by {res.handler}"
                t = timeit(lambda hn=hname: decode(path, handlers=[hn]), runs)
                row["dd_ms"], row["dd_min_ms"] = t[0] * 1e3, t[1] * 1e3
                a = arr.reshape(arr.shape[1:]) if arr.shape[0] == 1 else arr
                if lossy:
                    parts = []
                    if ref is not None and ref.shape == a.shape:
                        d0 = np.abs(a.astype(np.int32) - ref)
                        parts.append(f"vs original: max {int(d0.max())}, mean {d0.mean():.2f}")
                    if first_arr is None:
                        first_arr = a
                    else:
                        diff = int(np.abs(a.astype(np.int32) - first_arr).max())
                        parts.append(f"vs first handler: max {diff}"
                                     + (" OK" if diff <= JPEG_BASELINE_TOL else " > tolerance"))
                    row["check"] = "; ".join(parts) or "lossy"

                elif ref is not None:
                    row["check"] = "identical" if (a.dtype == ref.dtype and
                                                   np.array_equal(a, ref)) else "DIFFERENT"
            except Exception as exc:
                row["dd_ms"] = None
                row["error"] = f"{type(exc).__name__}: {str(exc)[:160]}"
            rows.append(row)
    # raw codecs that no dicomdecode handler row covered
    covered = {r["codec"] for r in rows}
    for name, t in raw.items():
        if name not in covered:
            rows.append({"syntax": label, "ts": pix.ts, "handler": f"({name} only)",
                         "codec": name, "raw_ms": t[0] * 1e3, "dd_ms": None,
                         "pydicom_ms": pyd[0] * 1e3 if pyd else None,
                         "note": why or "no dicomdecode handler uses this codec"})
    return rows


def fmt(x, nd=2):
    return "n/a" if x is None else f"{x:.{nd}f}"


def markdown(rows: list[dict]) -> str:
    head = ["syntax", "handler (codec)", "dicomdecode decode() ms", "raw codec ms",
            "overhead ms", "pydicom pixel_array ms", "default?", "check"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    by_syntax: dict[str, list[dict]] = {}
    for r in rows:
        by_syntax.setdefault(r["syntax"], []).append(r)
    for syn, rs in by_syntax.items():
        rs.sort(key=lambda r: (r.get("dd_ms") is None, r.get("dd_ms") or r.get("raw_ms") or 1e9))
        for r in rs:
            over = (r["dd_ms"] - r["raw_ms"]) if (r.get("dd_ms") is not None and
                                                  r.get("raw_ms") is not None) else None
            check = r.get("check") or r.get("error") or r.get("note") or ""
            if r.get("note") and r.get("check"):
                check += f"; {r['note']}"
            lines.append("| " + " | ".join([
                syn, f"{r['handler']} ({r.get('codec')})", fmt(r.get("dd_ms")),
                fmt(r.get("raw_ms")), fmt(over), fmt(r.get("pydicom_ms")),
                "yes" if r.get("default") else "", check]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--syntaxes", nargs="+",
                    default=["explicit", "rle", "jpegsv1", "jpegls", "j2k", "htj2k", "jpeg"],
                    help="'jpeg' is the 8-bit RGB JPEG baseline file")
    ap.add_argument("--files", nargs="*", default=[], help="extra DICOM files to time")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--no-pin", action="store_true", help="do not pin to one core")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)

    if not args.no_pin:
        try:
            os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
        except (AttributeError, OSError):
            pass
    series = [s for s in args.syntaxes if s != "jpeg"]
    dirs = make_series.make(300, series, quiet=True)
    mid = 150
    exp = make_series.make(300, ["explicit"], quiet=True)["explicit"]
    pix, fr = rawcodecs.read_frames(exp / f"slice_{mid:04d}.dcm")
    ref = np.frombuffer(fr[0], dtype=pix.dtype).reshape(pix.shape)
    jobs: list[tuple[str, Path, np.ndarray | None, bool]] = []
    for s in series:
        if s in dirs:
            jobs.append((s, dirs[s] / f"slice_{mid:04d}.dcm", ref, False))
    if "jpeg" in args.syntaxes:
        p = make_series.make_rgb_jpeg_baseline()
        if p:
            rpix, rfr = rawcodecs.read_frames(p.parent / "rgb_explicit.dcm")
            rgb_ref = np.frombuffer(rfr[0], dtype=rpix.dtype).reshape(rpix.shape)
            jobs.append(("jpeg baseline RGB 8-bit", p, rgb_ref, True))
    for f in args.files:
        jobs.append((Path(f).name, Path(f), None, False))

    rows: list[dict] = []
    for label, path, r, lossy in jobs:
        print(f"timing {label} ({path.name}) ...", file=sys.stderr, flush=True)
        rows.extend(bench_file(label, path, args.runs, r, lossy))

    stamp = _dt.datetime.now()
    cmd = "python bench/bench_handlers.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = (f"# Handler decode speed {stamp.isoformat(timespec='seconds')}\n\n"
            f"`{cmd}`: ms per 512x512 slice (int16 CT; 8-bit RGB for JPEG baseline), "
            f"median of {args.runs} calls, one process"
            f"{'' if args.no_pin else ' pinned to one core'}, {platform.machine()}, "
            f"load average {os.getloadavg()[0]:.1f}. dicomdecode = the whole "
            "decode(path, handlers=[name]) call (read + parse + decode + normalise); raw = "
            "the codec call on the frame already in memory.\n\n" + markdown(rows) + "\n")
    print(text)
    if not args.no_write:
        write_results(f"handlers_{stamp.strftime('%Y%m%d-%H%M')}", text,
                      {"command": cmd, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
