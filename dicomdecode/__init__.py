"""dicomdecode: DICOM files, compressed or not, from any vendor, into correct NumPy volumes.

Public API (imported lazily, so ``import dicomdecode`` stays cheap in data-loader workers):

- ``decode_file(path)`` / ``decode(path)``: one file's pixels as canonical frames
- ``available_handlers()``: transfer syntax UID -> installed handler names, preferred first
- ``scan(paths)``, ``load_series(series)``, ``load(paths)``: series discovery and assembly
- ``Volume``: an assembled series with its affine
- the exceptions of :mod:`dicomdecode.errors`
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import (
    DecodeError,
    DicomDecodeError,
    InconsistentSeriesError,
    MissingHandlerError,
    NoPixelDataError,
    NotDicomError,
    ResourceLimitError,
    StaleIndexError,
    UnsupportedTransferSyntaxError,
)

__version__ = "0.1.0"

# `decode` and `scan` are both a module and the function in it: bind the functions eagerly,
# so `dicomdecode.decode(...)` is the function even after the module has been imported.
# (Reach the modules with `from dicomdecode.scan import ScanResult` and the like.)
from .decode import Decoded, decode, decode_file  # noqa: E402

decode_frames = decode_file  # the name DESIGN.md uses for the same call
from .scan import ScanResult, SeriesInfo, scan  # noqa: E402

_LAZY = {
    "available_handlers": "dicomdecode.decode.dispatch",
    "load_series": "dicomdecode.assemble",
    "load": "dicomdecode.api",
    "Options": "dicomdecode.options",
    "Volume": "dicomdecode.volume",
    "SliceInfo": "dicomdecode.volume",
    "build_index": "dicomdecode.apps.index",
    "convert": "dicomdecode.apps.convert",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dicomdecode' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))


__all__ = [
    "Decoded",
    "ScanResult",
    "SeriesInfo",
    "decode",
    "decode_file",
    "decode_frames",
    "scan",
    "DecodeError",
    "DicomDecodeError",
    "InconsistentSeriesError",
    "MissingHandlerError",
    "NoPixelDataError",
    "NotDicomError",
    "ResourceLimitError",
    "StaleIndexError",
    "UnsupportedTransferSyntaxError",
    *_LAZY,
]
