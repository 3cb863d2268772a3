"""``load``: every series under some paths, each as one Volume; and :func:`iter_volumes`,
the one "scan, then load every series" loop that ``load``, ``convert``, ``preview`` and
the MONAI reader share.

Options are checked here, once, before any file is touched (:class:`Options`).
"""

from __future__ import annotations

import os
import warnings as _warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from dicomdecode.assemble import assemble_series
from dicomdecode.errors import DicomDecodeError, InconsistentSeriesError
from dicomdecode.options import HandlerChoice, Options, PhilipsScaling, RescaleMode
from dicomdecode.scan import ScanResult, SeriesInfo, scan
from dicomdecode.volume import Volume

PathLike = str | os.PathLike[str]


def as_path_list(paths: PathLike | Sequence[PathLike]) -> list[str]:
    """`paths` as a list of strings; FileNotFoundError for any that does not exist."""
    items = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    names = [os.fspath(p) for p in items]
    missing = [n for n in names if not os.path.exists(n)]
    if missing:
        raise FileNotFoundError(f"no such file or folder: {', '.join(map(repr, missing))}")
    return names


@dataclass
class SeriesOutcome:
    """One series of a scan, and its Volume or the typed error that stopped it."""

    series: SeriesInfo
    volume: Volume | None
    error: DicomDecodeError | None


def iter_volumes(result: ScanResult, options: Options) -> Iterator[SeriesOutcome]:
    """Assemble every series of `result` in turn; one that fails never stops the rest
    (with ``options.strict`` its error is raised)."""
    for series in result.series:
        try:
            yield SeriesOutcome(series, assemble_series(series, options), None)
        except DicomDecodeError as exc:
            if options.strict:
                raise
            yield SeriesOutcome(series, None, exc)


def load(paths: PathLike | Sequence[PathLike], *, rescale: RescaleMode = "auto",
         strict: bool = False, handlers: HandlerChoice = None, workers: int | None = None,
         philips_scaling: PhilipsScaling = "precise", invert_monochrome1: bool = False,
         mask_padding: bool = False, convert_color: bool = True,
         max_bytes: int | None = None, options: Options | None = None) -> list[Volume]:
    """Scan `paths` (files and folders, recursively) and assemble every series found.

    Args:
        paths: a file, a folder, or a list of them.
        rescale: ``"auto"`` (default: Rescale Slope/Intercept applied, smallest exact
            dtype from the header), ``True`` (float32) or ``False`` (stored values).
        strict: raise on any inconsistency instead of putting it in ``Volume.warnings``.
        handlers: decoders to try, in order, e.g. ``"gdcm,pylibjpeg"``.
        workers: processes to use (default ``DICOMDECODE_WORKERS`` or every CPU).
        philips_scaling: ``"precise"`` (default, as dcm2niix) or ``"display"``.
        invert_monochrome1: mirror MONOCHROME1 values (higher = brighter).
        mask_padding: Pixel Padding Value voxels become NaN (float32).
        convert_color: YCbCr as RGB (default) or as stored.
        max_bytes: memory budget per series (default: DICOMDECODE_MAX_BYTES or half the
            available memory); a larger series raises ResourceLimitError.
        options: an :class:`~dicomdecode.options.Options`; the keywords above override it.

    Returns:
        One :class:`~dicomdecode.volume.Volume` per series, in scan order. A series that
        cannot be assembled is left out with a warning naming it (``strict`` raises).
        Files that hold no image are listed in each Volume's ``meta["SkippedFiles"]``;
        files named explicitly in `paths` that hold no image are also warned about.

    Raises:
        FileNotFoundError: a path does not exist (before anything is read).
        ValueError: an unknown option value, naming the valid ones.
        InconsistentSeriesError: with ``strict=True``.

    Example:
        >>> vols = dicomdecode.load("test_data/series", rescale=False)  # doctest: +SKIP
        >>> [v.array.shape for v in vols]                                # doctest: +SKIP
    """
    opts = Options.resolve(options, rescale=rescale, strict=strict, handlers=handlers,
                           workers=workers, philips_scaling=philips_scaling,
                           invert_monochrome1=invert_monochrome1, mask_padding=mask_padding,
                           convert_color=convert_color, max_bytes=max_bytes)
    names = as_path_list(paths)
    result = scan(names, workers=opts.workers)
    _warn_explicit_skips(names, result)
    volumes: list[Volume] = []
    failed: list[tuple[str, str]] = []
    for outcome in iter_volumes(result, opts):
        if outcome.volume is not None:
            volumes.append(outcome.volume)
            continue
        failed.append((outcome.series.uid, str(outcome.error)))
        _warnings.warn(f"series {outcome.series.uid} could not be loaded: {outcome.error}",
                       stacklevel=2)
    if opts.strict and result.skipped:
        unreadable = [s for s in result.skipped if s.kind == "unreadable"]
        if unreadable:
            raise InconsistentSeriesError(
                "unreadable files: " + "; ".join(f"{s.path}: {s.reason}" for s in unreadable),
                [s.path for s in unreadable])
    for v in volumes:
        v.meta["SkippedFiles"] = [(s.path, s.reason) for s in result.skipped]
        v.meta["FailedSeries"] = failed
    return volumes


def _warn_explicit_skips(names: list[str], result: ScanResult) -> None:
    """A file the user named that yields no image deserves a word, not a silent []."""
    explicit = {os.path.abspath(n) for n in names if os.path.isfile(n)}
    for skip in result.skipped:
        if os.path.abspath(skip.path) in explicit:
            _warnings.warn(f"{skip.path}: no image loaded: {skip.reason}", stacklevel=3)
    if not result.series and not explicit:
        _warnings.warn(f"no DICOM image series found under {', '.join(names)} "
                       f"({len(result.skipped)} file(s) skipped)", stacklevel=3)


__all__ = ["load", "iter_volumes", "SeriesOutcome", "as_path_list"]
