"""One exception tree for everything dicomdecode raises on bad input.

Every error carries the file it is about (``.path``) and says what is wrong in its
message, so one line of a batch log is enough to act on it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence


class DicomDecodeError(Exception):
    """Base class: catch this to catch every dicomdecode input error."""

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None) -> None:
        self.path = os.fspath(path) if path is not None else None
        self.reason = message
        super().__init__(f"{self.path}: {message}" if self.path else message)


class NotDicomError(DicomDecodeError):
    """The file is not DICOM (no preamble/DICM and no parseable dataset)."""


class NoPixelDataError(DicomDecodeError):
    """The file is DICOM but holds no image (SR, RTSTRUCT, presentation state...)."""


class UnsupportedTransferSyntaxError(DicomDecodeError):
    """No handler in dicomdecode decodes this syntax at all (video, JPIP, ...)."""

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None,
                 uid: str = "", name: str = "") -> None:
        self.uid = uid
        self.name = name
        super().__init__(message, path)


class MissingHandlerError(DicomDecodeError):
    """A handler exists for this syntax, but none of its libraries is installed."""

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None,
                 uid: str = "", install: str = "") -> None:
        self.uid = uid
        self.install = install
        super().__init__(message, path)


class DecodeError(DicomDecodeError):
    """Decoding failed: corrupt or truncated data, or every handler gave up.

    ``.failures`` holds ``(handler name, reason)`` for each handler tried.
    """

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None,
                 failures: Sequence[tuple[str, str]] = ()) -> None:
        self.failures = list(failures)
        super().__init__(message, path)


class ResourceLimitError(DicomDecodeError):
    """Decoding would need more memory (or frames, or time) than the configured budget.

    Raised BEFORE anything is allocated, from header values checked against the data, so
    a header claiming a billion frames costs nothing. ``.needed`` and ``.limit`` are bytes.
    """

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None,
                 needed: int = 0, limit: int = 0) -> None:
        self.needed = needed
        self.limit = limit
        super().__init__(message, path)


class InconsistentSeriesError(DicomDecodeError):
    """A series cannot be one volume (gaps, duplicates, mixed sizes) in strict mode.

    ``.paths`` lists the files involved.
    """

    def __init__(self, message: str, paths: Sequence[str | os.PathLike[str]] = ()) -> None:
        self.paths = [os.fspath(p) for p in paths]
        super().__init__(message, self.paths[0] if len(self.paths) == 1 else None)


class StaleIndexError(DicomDecodeError):
    """A saved index no longer matches the files on disk (changed or missing)."""


__all__ = [
    "DicomDecodeError",
    "NotDicomError",
    "NoPixelDataError",
    "UnsupportedTransferSyntaxError",
    "MissingHandlerError",
    "DecodeError",
    "ResourceLimitError",
    "InconsistentSeriesError",
    "StaleIndexError",
]
