"""Build the compiled core (Cython pure-Python mode) when it can be built.

Everything else is in pyproject.toml. :mod:`dicomdecode.read.walkcore` is a plain Python
file; here Cython compiles it to a C extension (fontTools' cu2qu does the same). Where
there is no C compiler, or Cython or the build fails, this warns and installs the pure
Python package: the same file then runs interpreted (slower, same results), and
``dicomdecode info`` says so. ``DICOMDECODE_NO_COMPILE=1`` skips the build on purpose.
"""

from __future__ import annotations

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

# plain Python files compiled as they are: walkcore is written for it (C types, nogil);
# header.py (the FastHeader value view) is ordinary Python that Cython speeds up ~1.5x;
# rlecore is the DICOM RLE decoder (C byte loops, nogil; issue 19); widen is the integer
# rescale of a frame into the stack (one C loop, nogil)
COMPILED_MODULES = ["dicomdecode/read/walkcore.py", "dicomdecode/read/header.py",
                    "dicomdecode/read/rlecore.py", "dicomdecode/decode/widen.py"]
# The rest of the per-file path (issue 19, second round): ordinary Python that Cython
# compiles as it is, with annotation typing off (a `float` hint must not become a C double
# that refuses None, nor a `dict` hint refuse a defaultdict), so compiled and interpreted
# mean the same. The profile of load/scan of 300 files put each among the per-file costs.
PLAIN_MODULES = ["dicomdecode/scan/values.py", "dicomdecode/scan/flavours/base.py",
                 "dicomdecode/scan/flavours/__init__.py",
                 "dicomdecode/scan/flavours/classic.py", "dicomdecode/scan/walk.py",
                 "dicomdecode/read/pixel_source.py", "dicomdecode/decode/stack.py",
                 "dicomdecode/decode/dispatch.py", "dicomdecode/read/frames.py"]


class OptionalBuildExt(build_ext):
    """A build_ext whose failure (no compiler, a compile error) is a warning, not an error.

    The modules compile in parallel, one per core (``-j``): the C files Cython writes are
    large, and a serial build of them took over a minute of every fresh install."""

    def finalize_options(self) -> None:
        super().finalize_options()
        if not self.parallel:
            self.parallel = os.cpu_count() or 1

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any build failure falls back
            _warn(exc)

    def build_extension(self, ext) -> None:  # type: ignore[no-untyped-def]
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            _warn(exc)


def _warn(exc: BaseException) -> None:
    sys.stderr.write(f"WARNING: dicomdecode's compiled core was not built ({exc}); "
                     "installing the pure-Python package (slower, same results)\n")


def _extensions() -> list:
    if os.environ.get("DICOMDECODE_NO_COMPILE") == "1":
        return []
    try:
        from Cython.Build import cythonize
    except ImportError as exc:
        _warn(exc)
        return []
    try:
        return (cythonize(COMPILED_MODULES, language_level=3, quiet=True,
                          compiler_directives={"binding": False})
                + cythonize(PLAIN_MODULES, language_level=3, quiet=True,
                            compiler_directives={"binding": False,
                                                 "annotation_typing": False}))
    except Exception as exc:  # noqa: BLE001 - a Cython error falls back too
        _warn(exc)
        return []


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
