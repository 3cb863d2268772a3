"""In-process load speed: ``dicomdecode.load`` against the plain pydicom loop, per syntax.

What a notebook or a long-running service sees: both run in this one process, after the
imports and one warm-up each, alternating (order reversed every other round), ``--repeats``
rounds; the table gives medians and the ratio pydicom / dicomdecode (> 1: dicomdecode is
faster). Every dicomdecode output is checked identical to the pydicom loop's (stored
values, or HU when the loop's values plus the intercept equal ours).

dicomdecode keeps the memory of a dropped volume for the next load
(:mod:`dicomdecode.engine.reuse`); it is handed back before each pydicom loop, so the loop
is not slowed by it. ``DICOMDECODE_NO_REUSE=1`` measures without that cache.

Also, per syntax, the two parallel engines against each other: threads (the default for a
codec that releases the GIL) and the process pool (forced by telling the stack decoder the
handler holds the GIL), to choose between them by measurement.

    python bench/bench_inprocess.py                         # every series in bench/_work
    python bench/bench_inprocess.py --syntaxes jpegls htj2k --repeats 7

Series come from ``bench/make_series.py`` (``bench/_work/<syntax>_<N>``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from results_io import write_results  # noqa: E402

WORK = HERE / "_work"
SYNTAXES = ["explicit", "rle", "jpegsv1", "jpegls", "j2k", "htj2k", "jpeg8"]


def pydicom_loop(folder: Path) -> np.ndarray:
    """The recipe people write: read every file, sort by position on the normal, stack."""
    import pydicom

    slices = []
    for name in os.listdir(folder):
        ds = pydicom.dcmread(folder / name)
        if "PixelData" not in ds:
            continue
        slices.append(ds)
    iop = np.array(slices[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    slices.sort(key=lambda ds: float(np.dot(normal, np.array(ds.ImagePositionPatient, float))))
    return np.stack([ds.pixel_array for ds in slices])


def dicomdecode_load(folder: Path, **options: object) -> np.ndarray:
    import dicomdecode

    (volume,) = dicomdecode.load(folder, **options)
    return volume.array


_SAVED: dict[str, Any] = {}


def force_processes(enabled: bool) -> None:
    """Make the stack decoder treat every handler as GIL-holding: the process pool.

    The original rule is saved and put back by hand: ``importlib.reload`` of the stack
    module (what this did before) does nothing to a compiled module, so every syntax after
    the first was measured on the pool in the "dicomdecode" column (bench runs before
    2026-12-07 15:30)."""
    from dicomdecode.decode import stack

    if enabled:
        _SAVED.setdefault("threads_suffice", stack._threads_suffice)
        stack._threads_suffice = lambda jobs, options: False  # type: ignore[assignment]
    elif "threads_suffice" in _SAVED:
        stack._threads_suffice = _SAVED.pop("threads_suffice")  # type: ignore[assignment]


def hand_back_kept_memory() -> None:
    """Unmap what dicomdecode keeps of the volumes dropped (:mod:`dicomdecode.engine.reuse`)
    before the pydicom loop runs, so the loop meets the free memory it would meet without
    that cache. Otherwise it measurably slows the loop on a VM that hands freed memory back
    to its host (free page reporting: the loop's fresh pages come from the host, not from
    our just-freed volume), which would flatter the ratio."""
    from dicomdecode.engine import reuse

    reuse.release()


def timed(function: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def same(ours: np.ndarray, reference: np.ndarray, intercept: float) -> bool:
    """Identical stored values (or HU); 8-bit data is lossy JPEG here, where two decoders
    may differ by the IDCT's rounding: within 3."""
    if ours.shape != reference.shape:
        return False
    if np.array_equal(ours, reference):
        return True
    if reference.dtype == np.uint8:
        return bool(np.abs(ours.astype(int) - reference.astype(int)).max() <= 3)
    return bool(np.array_equal(ours.astype(np.float64),
                               reference.astype(np.float64) + intercept))


def run(folder: Path, repeats: int) -> dict[str, object]:
    import pydicom

    intercept = float(pydicom.dcmread(next(folder.iterdir()), stop_before_pixels=True)
                      .get("RescaleIntercept", 0))
    methods: dict[str, Callable[[], np.ndarray]] = {
        "pydicom loop": lambda: pydicom_loop(folder),
        "dicomdecode": lambda: dicomdecode_load(folder),
        "dicomdecode workers=1": lambda: dicomdecode_load(folder, workers=1),
    }
    times: dict[str, list[float]] = {name: [] for name in methods}
    reference = methods["pydicom loop"]()
    checks = {}
    for name, method in methods.items():  # warm-up and check
        checks[name] = same(method(), reference, intercept) if name != "pydicom loop" else True
    order = list(methods)
    for round_ in range(repeats):
        for name in (order if round_ % 2 == 0 else order[::-1]):
            if name == "pydicom loop":
                hand_back_kept_memory()
            seconds, _ = timed(methods[name])
            times[name].append(seconds)
    # the process pool instead of threads (meaningful for GIL-releasing codecs only)
    force_processes(True)
    try:
        dicomdecode_load(folder)
        pool = [timed(lambda: dicomdecode_load(folder))[0] for _ in range(repeats)]
    finally:
        force_processes(False)
    medians = {name: statistics.median(values) for name, values in times.items()}
    medians["dicomdecode, process pool"] = statistics.median(pool)
    return {"medians": medians, "checks": checks}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slices", type=int, default=300)
    ap.add_argument("--syntaxes", nargs="+", default=SYNTAXES)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    import pydicom  # noqa: F401

    import dicomdecode  # noqa: F401  (imports before timing)

    rows = []
    for syntax in args.syntaxes:
        folder = WORK / f"{syntax}_{args.slices}"
        if not folder.is_dir():
            print(f"skip {syntax}: {folder} missing (bench/make_series.py)", file=sys.stderr)
            continue
        result = run(folder, args.repeats)
        med = result["medians"]
        assert isinstance(med, dict)
        row = {
            "syntax": syntax,
            **{f"{k} s": round(v, 3) for k, v in med.items()},
            "pydicom / dd": round(med["pydicom loop"] / med["dicomdecode"], 2),
            "pydicom / dd workers=1": round(med["pydicom loop"] / med["dicomdecode workers=1"],
                                            2),
            "pool / threads": round(med["dicomdecode, process pool"] / med["dicomdecode"], 2),
            "identical": all(result["checks"].values()),  # type: ignore[union-attr]
        }
        rows.append(row)
        print(row, flush=True)
    load = os.getloadavg()
    stamp = time.strftime("%Y%m%d-%H%M")
    columns = list(rows[0]) if rows else []
    text = "\n".join([
        f"# In-process load, {args.slices} slices, medians of {args.repeats} rounds "
        f"(load average {load[0]:.2f} at the end)", "",
        "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
        *("| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows), "",
    ])
    print(text)
    write_results(f"inprocess_{stamp}{'_' + args.tag if args.tag else ''}", text,
                  {"slices": args.slices, "repeats": args.repeats, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
