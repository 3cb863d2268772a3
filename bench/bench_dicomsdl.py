"""Per-file cost of ``dicomdecode.load`` against dicomsdl (C++) opening each file and
returning its pixels, in one process, alternating rounds, medians (issue 19's yardstick).

dicomsdl is a bench-only comparison, never a dependency: ``pip install dicomsdl``.

    python bench/bench_dicomsdl.py ../shared/corpus/dcm_qa_nih/In/20180918GE --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def dicomsdl_open_pixels(paths: list[str]) -> int:
    import dicomsdl

    count = 0
    for path in paths:
        dataset = dicomsdl.open(path)
        dataset.pixelData()
        count += 1
    return count


def _is_part10(path: str) -> bool:
    with open(path, "rb") as fh:
        return fh.read(132)[128:] == b"DICM"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--workers", type=int, default=None, help="dicomdecode's workers")
    args = ap.parse_args()
    paths = [p for p in (os.path.join(root, name) for root, _, names in os.walk(args.folder)
                         for name in names) if _is_part10(p)]
    import dicomdecode

    def ours() -> int:
        return sum(v.array.shape[0] for v in dicomdecode.load(args.folder,
                                                              workers=args.workers))

    dicomsdl_open_pixels(paths), ours()  # warm-up: imports, page cache
    times: dict[str, list[float]] = {"dicomsdl": [], "dicomdecode": []}
    for round_ in range(args.repeats):
        order = [("dicomsdl", lambda: dicomsdl_open_pixels(paths)), ("dicomdecode", ours)]
        for name, function in order if round_ % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    n = len(paths)
    medians = {k: statistics.median(v) for k, v in times.items()}
    for name, seconds in medians.items():
        print(f"{name:12s} {seconds:.3f} s  {seconds / n * 1e6:.0f} us/file  ({n} files)")
    print(f"dicomdecode / dicomsdl per file: {medians['dicomdecode'] / medians['dicomsdl']:.2f}x")


if __name__ == "__main__":
    main()
