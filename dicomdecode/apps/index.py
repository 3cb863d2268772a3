"""A saved scan: scan a folder once, reuse it in every data-loader worker and later run.

Scanning reads every header; a training job with N workers and E epochs must not do that
N x E times. ``build_index`` scans once and writes a JSON file holding the
:class:`~dicomdecode.scan.ScanResult` plus, for every file a series uses, its size and
``mtime_ns``. ``load_index`` reads it back without touching the DICOM files except for one
``os.stat`` each, so an index that no longer matches the disk (a file rewritten, truncated
or deleted) raises :class:`~dicomdecode.errors.StaleIndexError` naming the file instead of
silently yielding wrong or missing slices.

JSON rather than Parquet: no extra dependency, human-readable, and the payload is small
(one header summary per image).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicomdecode.errors import StaleIndexError

if TYPE_CHECKING:
    from dicomdecode.scan import ScanResult

FORMAT = "dicomdecode-index"
#: 2: skips are {"kind", "path", "detail", "duplicate_of"} (1: {"path", "reason"}; still read)
VERSION = 2

PathArg = str | os.PathLike[str]


@dataclass(frozen=True)
class FileStamp:
    """What identifies one file's content cheaply: size and modification time (ns)."""

    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: PathArg) -> FileStamp:
        st = os.stat(path)
        return cls(int(st.st_size), int(st.st_mtime_ns))


@dataclass
class Index:
    """A loaded index: the scan result and the stamp of every file its series use."""

    scan: ScanResult
    files: dict[str, FileStamp]
    path: str | None = None

    def check(self, paths: Iterable[str] | None = None) -> None:
        """Raise StaleIndexError for the first listed file that changed or vanished.

        ``paths=None`` checks every file in the index.
        """
        for p in self.files if paths is None else paths:
            check_stamp(p, self.files.get(p), self.path)


def check_stamp(path: str, expected: FileStamp | None, index_path: str | None = None) -> None:
    """Compare one file against its recorded stamp; raise StaleIndexError on mismatch."""
    if expected is None:
        return
    where = f" (index {index_path})" if index_path else ""
    try:
        now = FileStamp.of(path)
    except FileNotFoundError:
        raise StaleIndexError(
            f"file listed in the index is missing{where}; rebuild it with "
            "`dicomdecode index SRC INDEX`", path) from None
    except OSError as exc:
        raise StaleIndexError(f"cannot stat file listed in the index{where}: {exc}",
                              path) from None
    if now != expected:
        raise StaleIndexError(
            f"file changed since the index was built{where} (size {expected.size} -> "
            f"{now.size}, mtime_ns {expected.mtime_ns} -> {now.mtime_ns}); rebuild it with "
            "`dicomdecode index SRC INDEX`", path)


def series_files(scan: ScanResult) -> list[str]:
    """Every file the series of a scan read pixels from, in first-seen order, no duplicates."""
    seen: dict[str, None] = {}
    for series in scan.series:
        for ref in series.images:
            seen.setdefault(os.fspath(ref.path), None)
        for f in getattr(series, "files", ()) or ():
            seen.setdefault(os.fspath(f), None)
    return list(seen)


def stamp_files(paths: Iterable[str]) -> dict[str, FileStamp]:
    """Stamp each file now (raises StaleIndexError if one already vanished)."""
    out: dict[str, FileStamp] = {}
    for p in paths:
        try:
            out[p] = FileStamp.of(p)
        except OSError as exc:
            raise StaleIndexError(f"file vanished while indexing: {exc}", p) from None
    return out


def index_to_dict(scan: ScanResult, files: Mapping[str, FileStamp],
                  sources: Iterable[str] = ()) -> dict[str, Any]:
    """The JSON-ready form of an index."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "sources": list(sources),
        "files": {p: [s.size, s.mtime_ns] for p, s in files.items()},
        "scan": scan.to_dict(),
    }


def _absolute_sources(src: PathArg | Iterable[PathArg]) -> list[str]:
    if isinstance(src, str | os.PathLike):
        items: list[PathArg] = [src]
    else:
        items = list(src)
    return [os.path.abspath(os.fspath(p)) for p in items]


def build_index(src: PathArg | Iterable[PathArg], out: PathArg, *,
                workers: int | None = None) -> ScanResult:
    """Scan ``src`` (a folder, file, or several) once and save the index to ``out``.

    Paths are made absolute first so the index works from any working directory and in
    worker processes. The file is written atomically (temp file + rename), so a reader
    never sees half an index. Returns the scan result.
    """
    from dicomdecode.scan import scan

    sources = _absolute_sources(src)
    result = scan(sources, workers=workers)
    save_index(result, out, sources=sources)
    return result


def save_index(scan: ScanResult, out: PathArg, *, sources: Iterable[str] = ()) -> Index:
    """Save an existing scan result as an index, stamping its files as they are now."""
    files = stamp_files(series_files(scan))
    payload = index_to_dict(scan, files, sources)
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=out_path.name + ".", suffix=".tmp",
                               dir=str(out_path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, separators=(",", ":"))
        os.replace(tmp, out_path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return Index(scan, files, os.fspath(out_path))


def is_index_file(path: PathArg) -> bool:
    """True when ``path`` is a file that starts like a JSON index (not a DICOM file)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(256).lstrip()
    except OSError:
        return False
    return head.startswith(b"{") and FORMAT.encode() in head


def read_index(path: PathArg, *, verify: bool = True) -> Index:
    """Load an index with its file stamps; ``verify`` checks every file against disk."""
    from dicomdecode.scan import ScanResult

    p = os.fspath(path)
    try:
        with open(p, encoding="utf-8") as fh:
            payload = json.load(fh)
    except (OSError, ValueError) as exc:
        raise StaleIndexError(f"cannot read index: {exc}", p) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise StaleIndexError("not a dicomdecode index file", p)
    if int(payload.get("version", 0)) > VERSION:
        raise StaleIndexError(
            f"index format version {payload.get('version')} is newer than this dicomdecode "
            f"understands ({VERSION}); upgrade dicomdecode or rebuild the index", p)
    files = {k: FileStamp(int(v[0]), int(v[1])) for k, v in payload["files"].items()}
    index = Index(ScanResult.from_dict(payload["scan"]), files, p)
    if verify:
        index.check()
    return index


def load_index(path: PathArg, *, verify: bool = True) -> ScanResult:
    """The ScanResult saved in an index; raises StaleIndexError naming a changed file."""
    return read_index(path, verify=verify).scan


def main_index(src: PathArg | Iterable[PathArg], out: PathArg,
               workers: int | None = None) -> int:
    """Body of ``dicomdecode index SRC INDEX``: build, print a one-line summary, exit code."""
    result = build_index(src, out, workers=workers)
    n_images = sum(len(s.images) for s in result.series)
    print(f"{out}: {len(result.series)} series, {n_images} images, "
          f"{len(result.skipped)} skipped")
    return 0


__all__ = [
    "FileStamp",
    "Index",
    "build_index",
    "save_index",
    "read_index",
    "load_index",
    "is_index_file",
    "main_index",
    "series_files",
]
