"""How a volume is written, as opposed to how it is decoded (:class:`dicomdecode.Options`).

One frozen, picklable value checked once where the user passes it (``convert``, the CLI,
``write_volume``), so a worker process never meets a bad level half-way through a study.
"""

from __future__ import annotations

import dataclasses
import os

#: ISA-L's levels (python-isal): 0 fastest .. 3 smallest. 2 is the default because on the
#: bench CT (bench/results/convert_*.md) it writes a .nii.gz within 5 % of dcm2niix's -z y
#: size at about a sixth of zlib level 6's time on two threads.
MIN_LEVEL, MAX_LEVEL, DEFAULT_LEVEL = 0, 3, 2


@dataclasses.dataclass(frozen=True)
class WriteOptions:
    """Output choices shared by every volume writer.

    Attributes:
        compress: NIfTI as ``.nii.gz`` (default) or ``.nii`` (dcm2niix ``-z y`` / ``-z n``).
        compress_level: gzip level for ``.nii.gz`` (ISA-L's 0..3, 3 smallest); default 2.
        compact: store each array in the smallest exact form (integer type that holds
            every value, or stored values with ``scl_slope``/``scl_inter``): ``None`` means
            the format's default, on for NIfTI (as dcm2niix), off for npy/npz/zarr, whose
            arrays then equal what :func:`dicomdecode.load` returns.
        threads: compression threads (default: the CPUs this process may use, at most 4).
    """

    compress: bool = True
    compress_level: int = DEFAULT_LEVEL
    compact: bool | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        level = self.compress_level
        if isinstance(level, bool) or not isinstance(level, int):
            raise TypeError(f"compress_level must be an integer, not {level!r}")
        if not MIN_LEVEL <= level <= MAX_LEVEL:
            raise ValueError(f"compress_level must be {MIN_LEVEL}..{MAX_LEVEL} "
                             f"(ISA-L's gzip levels; 3 is smallest), not {level}")
        if self.threads is not None and (isinstance(self.threads, bool)
                                         or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise ValueError(f"threads must be a positive integer, not {self.threads!r}")

    def compact_for(self, fmt: str) -> bool:
        """Whether ``fmt`` stores the compact form under these options."""
        return self.compact if self.compact is not None else fmt == "nifti"

    def thread_count(self) -> int:
        """Compression threads: as asked, else the usable CPUs (at most 4: gzip of one
        volume does not scale further on the disks we write to)."""
        if self.threads is not None:
            return self.threads
        try:
            cpus = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            cpus = os.cpu_count() or 1
        return max(1, min(cpus, 4))


__all__ = ["WriteOptions", "DEFAULT_LEVEL", "MIN_LEVEL", "MAX_LEVEL"]
