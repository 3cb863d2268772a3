"""CPU seconds and size of threaded gzip of one bench volume, per library and level.

The voxels of dcm2niix's own .nii.gz of the explicit bench series (make it first:
``dcm2niix -z y -f ex -o /tmp/d2n bench/_work/explicit_300``) are compressed in one write
on 2 threads by ISA-L (``isal.igzip_threaded``) and zlib-ng (``zlib_ng.gzip_ng_threaded``);
best CPU (user+system, threads included) of 3 runs. Results: bench/results/gzip_levels.md.

Usage: python bench/gzip_levels.py [/tmp/d2n/ex.nii.gz]
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time

import isal.igzip_threaded as isal_threaded
import nibabel as nib
import numpy as np
import zlib_ng.gzip_ng_threaded as zng_threaded


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    source = sys.argv[1] if len(sys.argv) > 1 else "/tmp/d2n/ex.nii.gz"
    data = np.asarray(nib.load(source).dataobj.get_unscaled()).tobytes()
    out = os.path.join(tempfile.mkdtemp(), "x.gz")
    print("| library | level | CPU s | wall s | size MB |\n|---|---|---|---|---|")
    for name, mod, levels in (("isal", isal_threaded, (0, 1, 2, 3)),
                              ("zlib-ng", zng_threaded, (1, 2, 3, 4, 6))):
        for level in levels:
            best: tuple[float, float] | None = None
            for _ in range(3):
                c0, w0 = cpu(), time.perf_counter()
                with mod.open(out, "wb", compresslevel=level, threads=2) as fh:
                    fh.write(data)
                run = (cpu() - c0, time.perf_counter() - w0)
                best = run if best is None or run[0] < best[0] else best
            assert best is not None
            print(f"| {name} | {level} | {best[0]:.2f} | {best[1]:.2f} | "
                  f"{os.path.getsize(out) / 1e6:.1f} |", flush=True)


if __name__ == "__main__":
    main()
