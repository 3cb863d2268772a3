"""Walking paths and reading headers: files in, image records or a structured Skip out.

Header-only: pixels are never decoded. The fast header view (``read/header.py``) is tried
first; files it does not cover (vendor private elements, enhanced objects) or whose values
it cannot answer for are read with pydicom, the single fallback. Every file ends up as
records of images or as one :class:`~dicomdecode.series.Skip`. Big folders are read by a
process pool (``engine/parallel.py``); the result does not depend on it.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, cast

from dicomdecode.engine import parallel
from dicomdecode.read import transfer_syntax as ts
from dicomdecode.read.dataset import drop_unreadable
from dicomdecode.read.header import FastHeader, NeedsFullParse, may_be_dicom, read_fast_header
from dicomdecode.read.inputs import is_in_memory, is_path, stage
from dicomdecode.scan.dedupe import dedupe
from dicomdecode.scan.flavours import images_from_header, series_meta, vendor_of
from dicomdecode.scan.grouping import Record, group_images
from dicomdecode.scan.values import as_list, opt_int
from dicomdecode.series import ScanResult, Skip

PathLike = str | os.PathLike[str]

_NO_PIXEL_SOP_PREFIXES = ("1.2.840.10008.5.1.4.1.1.88.",)  # structured reports
_DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
_NOT_DICOM = "not DICOM (no DICM prefix and no DICOM attributes)"


def iter_files(paths: PathLike | Sequence[PathLike]) -> Iterator[str]:
    """Every regular file under the given files/folders, recursively, sorted, once each."""
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    seen: set[str] = set()
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            found: list[str] = []
            for root, dirs, files in os.walk(p):
                dirs.sort()
                found.extend(os.path.join(root, f) for f in files)
            candidates: Iterable[str] = sorted(found)
        else:
            candidates = [p]
        for f in candidates:
            if f not in seen:
                seen.add(f)
                yield f


#: Values larger than this are not loaded while scanning (pixel data is only located).
_DEFER_BYTES = 64 * 1024


def read_header(path: str) -> Any | Skip:
    """Header of one file with large values (pixel data) deferred, or why it is skipped.

    One read: large elements are located but not loaded, so we learn whether Pixel Data
    is present without a second pass and without decoding anything.
    """
    from pydicom.errors import InvalidDicomError  # here: the fast view needs no pydicom

    from dicomdecode.read.dataset import dcmread

    if not os.path.isfile(path):
        return Skip("not_a_file", path, "not a file or does not exist")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = dcmread(path, defer_size=_DEFER_BYTES)
    except InvalidDicomError:
        try:  # no preamble: accept only when it parses into something DICOM-like
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = dcmread(path, defer_size=_DEFER_BYTES, force=True)
        except Exception as exc:
            return Skip("not_dicom", path, f"not DICOM: {exc}")
        if "SOPClassUID" not in ds and "Rows" not in ds:
            return Skip("not_dicom", path, _NOT_DICOM)
    except Exception as exc:  # truncated or corrupt header
        return Skip("unreadable", path, f"unreadable DICOM header: {type(exc).__name__}: {exc}")
    return ds


def _has_pixel_data(ds: Any) -> bool:
    return any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))


def _sop_class(ds: Any) -> str:
    return str(ds.get("SOPClassUID", "") or getattr(ds.get("file_meta", None) or {},
                                                   "MediaStorageSOPClassUID", ""))


def _declares_image(ds: Any, sop_class: str) -> bool:
    """An object without pixels that should have had them: it has Rows, or its SOP Class
    is an Image Storage class (then the file is truncated or incomplete)."""
    if "Rows" in ds:
        return True
    if not sop_class:
        return False
    from pydicom.uid import UID  # only for files without pixels: rare, off the fast path

    return "Image Storage" in UID(sop_class).name


def classify(ds: Any, path: str) -> Skip | None:
    """Why a parsed header is skipped, or None when it is an image."""
    sop_class = _sop_class(ds)
    if sop_class == _DICOMDIR_SOP_CLASS or "DirectoryRecordSequence" in ds:
        return Skip("dicomdir", path, "DICOMDIR (a directory index, no image)")
    if sop_class.startswith(_NO_PIXEL_SOP_PREFIXES):
        detail = f"no pixel data (structured report, SOP class {sop_class})"
    elif "Rows" not in ds or "Columns" not in ds:
        modality = ds.get("Modality", "")
        detail = f"no pixel data (modality {modality or '?'}, SOP class {sop_class or '?'})"
    elif not _has_pixel_data(ds):
        return Skip("truncated", path, "no pixel data element")
    else:
        return None
    kind = "truncated" if _declares_image(ds, sop_class) else "no_pixel_data"
    return Skip(kind, path, detail)


def scan_one(path: str) -> tuple[list[Record], Skip | None]:
    """One file's images (with study, series and series-level meta), or why it is skipped.

    The fast header view is tried first; files it does not cover, or whose values it
    cannot answer for, are read again with pydicom (same results, only slower). Whatever
    a corrupt header raises (pydicom parses values lazily, at first access) skips this
    file as unreadable: one file never stops a scan."""
    try:
        return _scan_one(path)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        return [], Skip("unreadable", path,
                        f"unreadable DICOM header: {type(exc).__name__}: {exc}")


def _scan_one(path: str) -> tuple[list[Record], Skip | None]:
    fast = fast_header(path)
    if fast is not None:
        try:
            return records_from(fast, path)
        except NeedsFullParse:
            pass
    elif not may_be_dicom(path):
        return [], Skip("not_dicom", path, _NOT_DICOM)
    header = read_header(path)
    if isinstance(header, Skip):
        return [], header
    return records_from(header, path)


def fast_header(path: str) -> FastHeader | None:
    """The fast view for the plain cases; None where vendor-specific parsing is needed."""
    try:
        header = read_fast_header(path)
    except (OSError, NeedsFullParse):
        return None
    if header is None or "PerFrameFunctionalGroupsSequence" in header:
        return None
    if ts.lookup(str(getattr(header.file_meta, "TransferSyntaxUID", "") or "")) is None:
        return None  # as describe_file: pydicom works out what the header does not say
    try:
        image_type = {str(v).upper() for v in as_list(header.get("ImageType", None))}
        vendor = vendor_of(header)
    except NeedsFullParse:
        return None
    if image_type & {"MOSAIC", "VFRAME"} or vendor == "philips":
        return None  # CSA / UIH / Philips private elements: pydicom reads those
    return header


def records_from(header: Any, path: str) -> tuple[list[Record], Skip | None]:
    """The records of one parsed header, or its Skip."""
    skip = classify(header, path)
    if skip is not None:
        return [], skip
    try:
        return _records(header, path), None
    except NeedsFullParse:
        raise
    except Exception as exc:  # malformed geometry values etc.
        error: Exception = exc
    # A malformed value outside the pixel description: the decode road (which never reads
    # it) decodes the file, so the scan must too (one verdict on every road). The fast
    # view hands the file to pydicom; in a pydicom Dataset the unreadable elements are
    # dropped, with a warning naming them, and the file read again.
    if isinstance(header, FastHeader):
        raise NeedsFullParse(f"{type(error).__name__}: {error}")
    if drop_unreadable(header, path):
        try:
            return _records(header, path), None
        except NeedsFullParse:
            raise
        except Exception as exc:
            error = exc
    return [], Skip("unreadable", path,
                    f"unusable image header: {type(error).__name__}: {error}")


def _records(header: Any, path: str) -> list[Record]:
    images = images_from_header(header, path)
    study = str(header.get("StudyInstanceUID", "") or "")
    series = str(header.get("SeriesInstanceUID", "") or "") or _no_series_uid(header)
    meta = series_meta(header)
    return [(im, study, series, meta) for im in images]


def _no_series_uid(header: Any) -> str:
    """The series key of a file without Series Instance UID (a Type 1 element some
    anonymisers drop): its Series Number, as dcm2niix does (or one key for all files with
    neither). The split rules and the geometry then separate what differs, as for any
    series; before, each such file was a series of its own (a 300-slice export without
    UIDs gave 300 one-slice volumes)."""
    number = opt_int(header.get("SeriesNumber", None))
    return f"no-series-uid:{number if number is not None else 'none'}"


# Below this many files a process pool costs more than it saves: forking the workers and
# sending the records back cost ~40-60 ms of CPU (measured on explicit_300, 2 cores), more
# than 300 files' headers now take in this process (~60 ms CPU on a loaded machine).
_PARALLEL_SCAN_MIN_FILES = 1000


def _scan_chunk(paths: Sequence[str]) -> list[tuple[list[Record], Skip | None]]:
    return [scan_one(path) for path in paths]


def _scan_all(paths: list[str], workers: int | None, client: Any = None
              ) -> list[tuple[list[Record], Skip | None]]:
    """scan_one over every path, in order; spread over processes for big folders, or
    over a Dask cluster's workers when a `client` is given."""
    if client is not None:
        return _scan_on_cluster(paths, client)
    count = parallel.resolve_workers(workers, max(1, len(paths) // 50))
    if count <= 1 or len(paths) < _PARALLEL_SCAN_MIN_FILES or not parallel.fork_is_safe():
        return [scan_one(path) for path in paths]
    chunks = parallel.split_evenly(paths, count * 4)
    parts = parallel.map_ordered(_scan_chunk, chunks, count, share_memory=True)
    return [item for part in parts for item in part]


def _scan_on_cluster(paths: list[str], client: Any) -> list[tuple[list[Record], Skip | None]]:
    """scan_one over partitions of `paths` on the cluster's workers; headers come back.

    A file whose header read kills its worker every time (the cluster's allowed failures)
    is skipped as unreadable with that reason; the rest of its partition is kept."""
    from dicomdecode.engine.cluster import ClusterEngine

    results = ClusterEngine(client).map_chunks(_scan_chunk, paths)
    return [(([], Skip("unreadable", path, f"reading its header failed on the cluster: "
                                           f"{type(r).__name__}: {r}"))
             if isinstance(r, BaseException) else r)
            for path, r in zip(paths, results, strict=True)]


def scan(paths: PathLike | Sequence[Any], *, workers: int | None = None,
         client: Any = None, storage_options: dict[str, Any] | None = None) -> ScanResult:
    """Find the series under ``paths`` (folders, files, or a list of both).

    Headers only: pixels are never decoded. Big folders are read by ``workers``
    processes (default: the CPUs available); with a ``distributed.Client`` as `client`
    the headers are read by the cluster's workers, in partitions of the file list, and
    grouped here. The result does not depend on either. Every file is in a series or in
    ``skipped`` with a structured reason.

    Items of the list may also be bytes, binary file objects or pydicom Datasets: they
    are staged as files (:func:`dicomdecode.read.inputs.stage`) that live as long as the
    result (``result.staging``); skips name them by their ``.name`` or ``"<memory #N>"``.

    Items may be URLs (``s3://bucket/prefix/``, ``gs://``, ``https://``: any fsspec URL,
    with `storage_options` for its filesystem): only their headers are fetched, with
    ranged reads; pixels come when a series is loaded (:mod:`dicomdecode.read.sources`).
    The requests and bytes it cost are in ``result.staging.transfer``; an object that
    could not be fetched is skipped as unreadable with its (redacted) URL and reason.
    """
    items = [paths] if is_path(paths) or is_in_memory(paths) else list(cast(Any, paths))
    names, staging = stage(items, storage_options)
    if staging is not None and staging.remote is not None:
        client = None  # the mirrored headers are on this machine: read them here
    result = _scan_paths(names, workers, client)
    if staging is not None:
        result.skipped = [dataclasses.replace(s, path=staging.display(s.path))
                          for s in result.skipped]
        result.skipped.extend(Skip("unreadable", url, f"fetch failed: {reason}")
                              for url, reason in staging.failed)
        result.skipped.sort(key=lambda s: s.path)
        for series in result.series:  # texts only: the images keep their staged paths
            series.warnings = [staging.named(w) for w in series.warnings]
        result.staging = staging
    return result


def _scan_paths(paths: list[str], workers: int | None, client: Any = None) -> ScanResult:
    records: list[Record] = []
    skipped: list[Skip] = []
    for recs, skip in _scan_all(list(iter_files(paths)), workers, client):
        if skip is not None:
            skipped.append(skip)
        records.extend(recs)
    records, duplicates = dedupe(records, skipped)
    series = group_images(records)
    for s in series:
        if s.series_uid in duplicates:
            s.warnings.extend(duplicates[s.series_uid])
            s.issue_paths = sorted(set(s.issue_paths) | set(duplicates[s.series_uid + "\0paths"]))
    series.sort(key=lambda s: (s.study_uid, s.series_number if s.series_number is not None
                               else -1, s.uid))
    skipped.sort(key=lambda s: s.path)
    return ScanResult(series=series, skipped=skipped)
