"""Remote objects as local sparse files: headers now, pixels when something needs them.

Every layer above ``read/`` works on files (the header fast path, the guard's size
checks, by-offset pixel reads, worker processes). A remote object is therefore mirrored:

* :meth:`Mirror.add_all` fetches each object's header with ranged reads, many objects in
  flight: a first block, grown until the Pixel Data element is reached
  (:func:`~dicomdecode.read.sources.prefix.header_extent`); a short tail after a
  defined-length Pixel Data value comes along. The local file is written SPARSE at the
  object's full size, so offsets and sizes are the object's own;
* :func:`ensure_complete` (called before pixels are read: assembly, data sets, decode)
  fetches the rest, once per file, in one ranged request. A fetch that fails after its
  retries leaves the file truncated to its header, so decoding it fails with a typed
  error naming the URL, like a local truncated file, and the rest goes on.

With ``DICOMDECODE_REMOTE_CACHE=<folder>`` the mirrored files are kept there, keyed by URL,
size and ETag, and later runs (another epoch, another conversion) fetch nothing again.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from dicomdecode.read.sources.base import Transfer
from dicomdecode.read.sources.fsspec_source import FsspecSource
from dicomdecode.read.sources.prefix import FIRST_BLOCK, header_extent
from dicomdecode.read.sources.redact import redact
from dicomdecode.read.sources.retry import RemoteReadError

#: a tail after Pixel Data larger than this is not fetched with the header
_MAX_TAIL = 1 << 20
#: the largest header fetched while looking for Pixel Data
MAX_HEADER = 64 << 20
#: objects fetched whole come in blocks of this size
_WHOLE_BLOCK = 16 << 20
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def concurrency() -> int:
    """Requests in flight (``DICOMDECODE_REMOTE_CONCURRENCY``, default 16)."""
    try:
        return max(1, int(os.environ.get("DICOMDECODE_REMOTE_CONCURRENCY", "16")))
    except ValueError:
        return 16


def cache_folder() -> str | None:
    """The persistent cache folder (``DICOMDECODE_REMOTE_CACHE``), or None."""
    folder = os.environ.get("DICOMDECODE_REMOTE_CACHE", "").strip()
    return os.path.abspath(os.path.expanduser(folder)) if folder else None


@dataclass
class _Entry:
    source: FsspecSource
    path: str
    have: int  # leading bytes present (header; == size once complete)
    tail_from: int | None  # bytes from here to the end are present too
    owner: Mirror
    lock: threading.Lock = field(default_factory=threading.Lock)


#: local mirror path -> entry, for files whose pixels are not fetched yet (per process)
_PENDING: dict[str, _Entry] = {}
_PENDING_LOCK = threading.Lock()


def _safe_name(url: str) -> str:
    base = url.rstrip("/").rsplit("/", 1)[-1]
    return _UNSAFE.sub("_", base).strip("._")[:80] or "object"


def _done_marker(path: str) -> str:
    return path + ".complete"


class Mirror:
    """Remote objects mirrored into `folder` (or the cache), with their transfer count."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.cache = cache_folder()
        self.transfer = Transfer()
        #: redacted URL -> reason, for objects whose header or pixels could not be fetched
        self.failed: dict[str, str] = {}
        self._lock = threading.Lock()

    def _local_path(self, source: FsspecSource, index: int) -> str:
        if self.cache is None or hasattr(source, "write_header"):  # DICOMweb: not cached
            return os.path.join(self.folder, f"{index:06d}_{_safe_name(source.url)}")
        etag = str(getattr(source, "etag", "") or "")
        key = hashlib.sha256(f"{redact(source.url)}\0{source.size()}\0{etag}".encode()
                             ).hexdigest()[:24]
        folder = os.path.join(self.cache, key[:2])
        os.makedirs(folder, exist_ok=True)
        return os.path.join(folder, f"{key}_{_safe_name(source.url)}")

    def add_all(self, sources: Sequence[FsspecSource], first_index: int = 0
                ) -> list[str | None]:
        """Mirror the headers of `sources`; their local paths (None where it failed)."""
        def one(item: tuple[int, FsspecSource]) -> str | None:
            index, source = item
            try:
                return self._add(source, self._local_path(source, first_index + index))
            except RemoteReadError as exc:
                with self._lock:
                    self.failed[source.name] = exc.reason
                return None

        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(concurrency(), max(len(sources), 1))) as pool:
            return list(pool.map(one, enumerate(sources)))

    def _add(self, source: FsspecSource, path: str) -> str:
        if hasattr(source, "write_header"):  # DICOMweb: a header rebuilt from metadata
            pixel_at = source.write_header(path)  # type: ignore[attr-defined]
            if pixel_at is not None:
                with _PENDING_LOCK:
                    _PENDING[path] = _Entry(source, path, pixel_at, None, self)
            return path
        size = source.size()
        if self.cache is not None and os.path.exists(_done_marker(path)) \
                and os.path.getsize(path) == size:
            return path  # cached whole: nothing to fetch
        data = source.read(0, min(size, FIRST_BLOCK))
        while True:
            extent = header_extent(data, size)
            if extent.whole:
                return self._add_whole(source, path, data, size)
            need = extent.need
            if need <= len(data):
                break
            if need > MAX_HEADER:  # a header this big is corrupt: never held in memory
                raise RemoteReadError(source.url, f"no Pixel Data element in the first "
                                      f"{MAX_HEADER >> 20} MiB: not fetched further", 1)
            data += source.read(len(data), need)
        tail = b""
        end = extent.pixel_end
        if end is not None and len(data) < end < size and size - end <= _MAX_TAIL:
            tail = source.read(end, size)
        placeholder = (len(data) < size and end is None and extent.pixel_start is not None
                       and size - extent.pixel_start >= 16)
        if placeholder:  # the value's own first bytes come back with the rest of it
            data = data[:extent.pixel_start]
        with open(path, "wb") as fh:
            fh.write(data)
            if tail:
                fh.seek(end)  # type: ignore[arg-type]
                fh.write(tail)
            elif placeholder:
                _write_placeholder(fh, len(data), size)
            fh.truncate(size)
        if len(data) >= size:
            self._mark_done(path)
        else:
            with _PENDING_LOCK:
                _PENDING[path] = _Entry(source, path, len(data), end if tail else None, self)
        return path

    def _add_whole(self, source: FsspecSource, path: str, data: bytes, size: int) -> str:
        """An object the fast walk does not cover (no preamble, big endian, deflated):
        all of it, written in blocks (never held whole in memory)."""
        with open(path, "wb") as fh:
            fh.write(data)
            done = len(data)
            while done < size:
                block = source.read(done, min(size, done + _WHOLE_BLOCK))
                fh.write(block)
                done += len(block)
        self._mark_done(path)
        return path

    def _mark_done(self, path: str) -> None:
        if self.cache is not None:
            with open(_done_marker(path), "wb"):
                pass


def _write_placeholder(fh: BinaryIO, start: int, size: int) -> None:
    """Until its pixels come, an encapsulated value's hole holds ONE item spanning it and
    the sequence delimiter at the end of the file, so a header reader that must find the
    end of the undefined-length value (pydicom, for vendor files) finds it where the file
    ends instead of reading zeros as elements. The real bytes overwrite both."""
    fh.seek(start)
    fh.write(b"\xfe\xff\x00\xe0" + (size - start - 16).to_bytes(4, "little"))
    fh.seek(size - 8)
    fh.write(b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")


def _complete(entry: _Entry) -> str | None:
    """Fetch the missing bytes of one mirrored file; None, or why it failed."""
    with entry.lock:
        if _PENDING.get(entry.path) is not entry:
            return None  # another thread did it
        remote_file = hasattr(entry.source, "complete_into")
        size = 0 if remote_file else entry.source.size()
        stop = entry.tail_from if entry.tail_from is not None else size
        try:  # one request for the usual file; blocks for big ones (never all in memory)
            if remote_file:  # DICOMweb: its frames, or the whole instance
                entry.source.complete_into(entry.path, entry.have)  # type: ignore[attr-defined]
                stop = entry.have  # nothing left to read by range
            with open(entry.path, "r+b") as fh:
                fh.seek(entry.have)
                done = entry.have
                while done < stop:
                    block = entry.source.read(done, min(stop, done + _WHOLE_BLOCK))
                    fh.write(block)
                    done += len(block)
        except RemoteReadError as exc:
            reason = exc.reason
            os.truncate(entry.path, entry.have)  # a truncated file: a typed decode error
            with _PENDING_LOCK:
                _PENDING.pop(entry.path, None)
            with entry.owner._lock:
                entry.owner.failed[entry.source.name] = reason
            return reason
        entry.owner._mark_done(entry.path)
        with _PENDING_LOCK:
            _PENDING.pop(entry.path, None)
        return None


def ensure_complete(paths: Iterable[str]) -> dict[str, str]:
    """Fetch the pixels of every mirrored file among `paths` that lacks them (once per
    file, many in flight); local files cost one dict lookup each. Returns {path: reason}
    for the files whose fetch failed (they are left truncated)."""
    if not _PENDING:
        return {}
    with _PENDING_LOCK:
        entries = [_PENDING[p] for p in dict.fromkeys(paths) if p in _PENDING]
    if not entries:
        return {}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(concurrency(), len(entries))) as pool:
        reasons = list(pool.map(_complete, entries))
    return {e.path: r for e, r in zip(entries, reasons, strict=True) if r is not None}


def forget(folder: str) -> None:
    """Drop the pending entries of the mirror into `folder` (its files are being removed;
    cached ones stay on disk, header-only, and are fetched again by a later run)."""
    prefix = os.path.join(folder, "")
    with _PENDING_LOCK:
        for path in [p for p, e in _PENDING.items()
                     if p.startswith(prefix) or e.owner.folder == folder]:
            del _PENDING[path]


__all__ = ["Mirror", "cache_folder", "concurrency", "ensure_complete", "forget"]
