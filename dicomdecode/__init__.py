"""dicomdecode: DICOM files, compressed or not, from any vendor, into correct NumPy volumes.

Public API (imported lazily, so ``import dicomdecode`` stays cheap in data-loader workers):

- ``decode_file(path)`` / ``decode(path)``: one file's pixels as canonical frames (a path,
  bytes, a binary file object or a pydicom Dataset)
- ``available_handlers()``: transfer syntax UID -> installed handler names, preferred first
- ``scan(paths)``, ``load_series(series)``, ``load(paths)``: series discovery and assembly
- ``Volume``: an assembled series with its affine (``to_nifti``, ``to_sitk``, ``to_vtk``)
- ``dicomdecode.compat.combine_slices``: dicom-numpy's call, decoded by dicomdecode
- the exceptions of :mod:`dicomdecode.errors`
"""

from __future__ import annotations

import importlib
import sys
import types
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

# Everything else is imported on first use: `dicomdecode --version` and data-loader workers
# should not pay for numpy, pydicom and the codecs they may never touch.
_LAZY = {
    "decode": "dicomdecode.decode",
    "decode_file": "dicomdecode.decode",
    "Decoded": "dicomdecode.decode",
    "scan": "dicomdecode.scan",
    "ScanResult": "dicomdecode.scan",
    "SeriesInfo": "dicomdecode.scan",
    "available_handlers": "dicomdecode.decode.dispatch",
    "load_series": "dicomdecode.assemble",
    "load": "dicomdecode.api",
    "Options": "dicomdecode.options",
    "Volume": "dicomdecode.volume",
    "SliceInfo": "dicomdecode.volume",
    "build_index": "dicomdecode.apps.index",
    "convert": "dicomdecode.apps.convert",
}


#: names that are both a submodule and the function in it: the function wins
_SHADOWED = ("decode", "scan")


def __getattr__(name: str) -> Any:
    if name == "decode_frames":  # the name DESIGN.md uses for decode_file
        name = "decode_file"
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dicomdecode' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


class _Package(types.ModuleType):
    """Importing the submodule ``dicomdecode.decode`` (or ``.scan``) binds it as an
    attribute of the package; keep the function of the same name there instead, so that
    ``dicomdecode.decode(...)`` is the function whichever was imported first. (Reach the
    modules with ``from dicomdecode.scan import ScanResult`` and the like.)"""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, "decode_frames"})


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
    *(n for n in _LAZY if n not in ("decode", "decode_file", "Decoded", "scan", "ScanResult",
                                    "SeriesInfo")),
]
