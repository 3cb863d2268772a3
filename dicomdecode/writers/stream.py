"""Output streams: a plain file, or a standard gzip stream compressed on several threads.

Single-threaded zlib at level 6 was most of ``convert``'s time (2.9 s of 3.9 s for a 300-slice
CT). ISA-L (python-isal's ``igzip_threaded``) writes the same standard gzip format (RFC 1952,
read by Python's ``gzip``, nibabel, FSL, ITK) several times faster per core and on several
threads; zlib-ng's ``gzip_ng_threaded`` was measured too and is slower at equal size
(bench/results/gzip_levels.md). Without isal, Python's own ``gzip`` module is used.
"""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

from dicomdecode.writers.settings import WriteOptions

#: stdlib gzip levels used when isal is absent, by ISA-L level (similar sizes)
_STDLIB_LEVEL = {0: 1, 1: 2, 2: 4, 3: 6}


def have_isal() -> bool:
    """Whether python-isal is importable (the fast path)."""
    try:
        import isal.igzip_threaded  # noqa: F401
    except ImportError:  # pragma: no cover - isal is a dependency
        return False
    return True


@contextlib.contextmanager
def open_gzip(path: Path, options: WriteOptions) -> Iterator[IO[bytes]]:
    """A binary file object that gzips what is written to ``path`` (closed on exit)."""
    threads = options.thread_count()
    fh: IO[bytes]
    if have_isal():
        from isal import igzip, igzip_threaded

        if threads > 1:
            fh = igzip_threaded.open(path, "wb", compresslevel=options.compress_level,
                                     threads=threads)
        else:
            fh = igzip.open(path, "wb", compresslevel=options.compress_level)
    else:  # pragma: no cover - isal is a dependency
        fh = cast(IO[bytes], gzip.open(path, "wb",
                                       compresslevel=_STDLIB_LEVEL[options.compress_level]))
    with fh:
        yield fh


@contextlib.contextmanager
def open_output(path: Path, options: WriteOptions, compress: bool) -> Iterator[IO[bytes]]:
    """``path`` opened for writing, gzipped when ``compress``."""
    if compress:
        with open_gzip(path, options) as fh:
            yield fh
    else:
        with open(path, "wb") as plain:
            yield plain


__all__ = ["have_isal", "open_gzip", "open_output"]
