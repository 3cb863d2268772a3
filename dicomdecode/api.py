"""``load``: every series under some paths, each as one Volume; and :func:`iter_volumes`,
the one "scan, then load every series" loop that ``load``, ``convert``, ``preview`` and
the MONAI reader share.

Options are checked here, once, before any file is touched (:class:`Options`).
"""

from __future__ import annotations

import dataclasses
import os
import warnings as _warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from dicomdecode.assemble import assemble_series
from dicomdecode.errors import DicomDecodeError, InconsistentSeriesError
from dicomdecode.options import HandlerChoice, Options, PhilipsScaling, RescaleMode
from dicomdecode.read.inputs import Staging, is_in_memory, is_path, stage
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


def load(paths: PathLike | Sequence[Any], *, rescale: RescaleMode = "auto",
         strict: bool = False, handlers: HandlerChoice = None, workers: int | None = None,
         philips_scaling: PhilipsScaling = "precise", invert_monochrome1: bool = False,
         mask_padding: bool = False, convert_color: bool = True,
         max_bytes: int | None = None, options: Options | None = None,
         storage_options: dict[str, Any] | None = None) -> list[Volume]:
    """Scan `paths` (files and folders, recursively) and assemble every series found.

    Args:
        paths: a file, a folder, or a list of them; items may also be bytes, binary
            file objects (named by their ``.name``, else ``"<memory #N>"``) or pydicom
            Datasets, staged as files for the call (see :mod:`dicomdecode.read.inputs`).
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
        storage_options: for URL items (``s3://bucket/prefix/``, ``gs://``, ``https://``,
            any fsspec URL): passed to the fsspec filesystem (credentials, endpoint);
            default: the library's own chain (environment variables, config files).
            Headers are fetched with ranged reads, pixels once per file; the requests
            and bytes are logged on the ``dicomdecode`` logger.

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
    items = [paths] if is_path(paths) or is_in_memory(paths) else list(cast(Any, paths))
    staged, staging = stage(items, storage_options)
    try:
        volumes = _load(as_path_list(staged), opts, staging.named if staging else str)
        if staging is not None and staging.remote is not None:
            _account_remote(volumes, staging)
    except DicomDecodeError as exc:
        if staging is not None:
            staging.rename_error(exc)
        raise
    finally:
        if staging is not None:
            staging.cleanup()
    if staging is not None:
        for vol in volumes:
            _show_names(vol, staging)
    return volumes


def _load(names: list[str], opts: Options, named: Callable[[str], str]) -> list[Volume]:
    """load() of paths; `named` turns staged paths in messages into the user's names."""
    result = scan(names, workers=opts.workers)
    _warn_explicit_skips(names, result, named)
    volumes: list[Volume] = []
    failed: list[tuple[str, str]] = []
    for outcome in iter_volumes(result, opts):
        if outcome.volume is not None:
            volumes.append(outcome.volume)
            continue
        failed.append((outcome.series.uid, named(str(outcome.error))))
        _warnings.warn(f"series {outcome.series.uid} could not be loaded: "
                       f"{named(str(outcome.error))}", stacklevel=3)
    if opts.strict and result.skipped:
        unreadable = [s for s in result.skipped if s.kind == "unreadable"]
        if unreadable:
            raise InconsistentSeriesError(
                named("unreadable files: " + "; ".join(f"{s.path}: {s.reason}"
                                                       for s in unreadable)),
                [named(s.path) for s in unreadable])
    for v in volumes:
        v.meta["SkippedFiles"] = [(s.path, s.reason) for s in result.skipped]
        v.meta["FailedSeries"] = failed
    return volumes


def _account_remote(volumes: list[Volume], staging: Staging) -> None:
    """Objects that could not be fetched are skipped files; the transfer is logged."""
    import logging

    failed = [(url, f"fetch failed: {reason}") for url, reason in staging.failed]
    for vol in volumes:
        vol.meta["SkippedFiles"] = sorted(set(vol.meta["SkippedFiles"]) | set(failed))
    if failed and not volumes:
        _warnings.warn("; ".join(f"{u}: {r}" for u, r in failed), stacklevel=4)
    t = staging.transfer or {}
    logging.getLogger("dicomdecode").info(
        "remote: %d request(s), %d byte(s) received, %d retried, %d failed",
        t.get("requests", 0), t.get("bytes", 0), t.get("retries", 0), t.get("failures", 0))


def _show_names(vol: Volume, staging: Staging) -> None:
    """Staged copies of in-memory items named as the user named them (the copies are gone)."""
    vol.slices = [dataclasses.replace(s, path=staging.display(s.path)) for s in vol.slices]
    vol.meta["SkippedFiles"] = [(staging.display(p), r) for p, r in vol.meta["SkippedFiles"]]
    vol.warnings = [staging.named(w) for w in vol.warnings]


def _warn_explicit_skips(names: list[str], result: ScanResult,
                         named: Callable[[str], str]) -> None:
    """A file the user named that yields no image deserves a word, not a silent []."""
    explicit = {os.path.abspath(n) for n in names if os.path.isfile(n)}
    for skip in result.skipped:
        if os.path.abspath(skip.path) in explicit:
            _warnings.warn(named(f"{skip.path}: no image loaded: {skip.reason}"), stacklevel=4)
    if not result.series and not explicit:
        _warnings.warn(named(f"no DICOM image series found under {', '.join(names)} "
                             f"({len(result.skipped)} file(s) skipped)"), stacklevel=4)


__all__ = ["load", "iter_volumes", "SeriesOutcome", "as_path_list"]
