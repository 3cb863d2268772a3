"""The one interface every byte source offers: a name, a size and ranged reads, plus a
thread-safe count of the requests and bytes they cost (reported by scan, load and
convert so that a user sees what a bucket or a PACS was asked for)."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(item: Any) -> bool:
    """True for a string with a scheme (``s3://``, ``https://``, ``dicomweb+http://``)."""
    return isinstance(item, str) and _SCHEME.match(item) is not None


class ByteSource(Protocol):
    """Bytes of one object, read by range (what a local file, a bucket object and an
    HTTP resource have in common)."""

    @property
    def name(self) -> str:
        """How the object is shown (a redacted URL for remote ones)."""

    def size(self) -> int:
        """Total size in bytes."""

    def read(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` (fewer only at the end of the object)."""


@dataclass
class Transfer:
    """Requests made and bytes received (thread-safe counters)."""

    requests: int = 0
    bytes: int = 0
    retries: int = 0
    failures: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, nbytes: int, *, retries: int = 0) -> None:
        with self._lock:
            self.requests += 1 + retries
            self.bytes += nbytes
            self.retries += retries

    def failed(self, attempts: int) -> None:
        with self._lock:
            self.requests += attempts
            self.retries += max(attempts - 1, 0)
            self.failures += 1

    def merge(self, other: Transfer | dict[str, int]) -> None:
        data = other.as_dict() if isinstance(other, Transfer) else other
        with self._lock:
            self.requests += data.get("requests", 0)
            self.bytes += data.get("bytes", 0)
            self.retries += data.get("retries", 0)
            self.failures += data.get("failures", 0)

    def as_dict(self) -> dict[str, int]:
        return {"requests": self.requests, "bytes": self.bytes, "retries": self.retries,
                "failures": self.failures}

    def __getstate__(self) -> dict[str, int]:
        return self.as_dict()

    def __setstate__(self, state: dict[str, int]) -> None:
        self.__init__(**state)  # type: ignore[misc]


class LocalSource:
    """A file on disk (the source every local path already is)."""

    def __init__(self, path: str) -> None:
        self.path = path

    @property
    def name(self) -> str:
        return self.path

    def size(self) -> int:
        import os

        return os.path.getsize(self.path)

    def read(self, start: int, end: int) -> bytes:
        with open(self.path, "rb") as fh:
            fh.seek(start)
            return fh.read(max(end - start, 0))


class MemorySource:
    """Bytes already in memory."""

    def __init__(self, data: bytes, name: str = "<memory>") -> None:
        self.data = data
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def size(self) -> int:
        return len(self.data)

    def read(self, start: int, end: int) -> bytes:
        return self.data[start:end]


__all__ = ["ByteSource", "LocalSource", "MemorySource", "Transfer", "is_url"]
