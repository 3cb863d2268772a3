"""Bounded retries with exponential backoff for one remote request.

A request that fails (a 5xx, a reset connection, a timeout, a truncated body) is tried
again up to ``DICOMDECODE_REMOTE_RETRIES`` times (default 4), waiting 0.1 s, 0.2 s,
0.4 s ... (capped at 5 s); then :class:`RemoteReadError` carries the redacted URL and the
last reason. Missing objects and refused credentials are not retried: asking again
cannot help."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from dicomdecode.read.sources.redact import redact, redact_text

T = TypeVar("T")

#: errors that retrying cannot cure
_FINAL = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError,
          ValueError, TypeError)


class RemoteReadError(OSError):
    """A remote read that failed after its retries (message: redacted URL and reason)."""

    def __init__(self, url: str, reason: str, attempts: int) -> None:
        self.url = redact(url)
        self.reason = redact_text(reason)
        self.attempts = attempts
        super().__init__(f"{self.url}: {self.reason} (after {attempts} attempt(s))")


def retries() -> int:
    """Retries after the first attempt (``DICOMDECODE_REMOTE_RETRIES``, default 4)."""
    try:
        return max(0, int(os.environ.get("DICOMDECODE_REMOTE_RETRIES", "4")))
    except ValueError:
        return 4


def timeout() -> float:
    """Seconds one request may take (``DICOMDECODE_REMOTE_TIMEOUT``, default 30)."""
    try:
        return max(0.1, float(os.environ.get("DICOMDECODE_REMOTE_TIMEOUT", "30")))
    except ValueError:
        return 30.0


def with_retries(url: str, request: Callable[[], T]) -> tuple[T, int]:
    """``request()`` retried with backoff; returns (its value, retries used).

    Raises RemoteReadError (never the underlying exception, whose text may hold a
    signed URL) once the retries are spent or for an error retrying cannot cure."""
    allowed = retries()
    delay = 0.1
    for attempt in range(allowed + 1):
        try:
            return request(), attempt
        except _FINAL as exc:
            raise RemoteReadError(url, f"{type(exc).__name__}: {exc}", attempt + 1) from None
        except Exception as exc:  # network libraries raise many kinds: all are retried
            if attempt == allowed:
                raise RemoteReadError(url, f"{type(exc).__name__}: {exc}",
                                      attempt + 1) from None
        time.sleep(delay)
        delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable")


class Counter(Protocol):
    """What :func:`counted` reports to (:class:`~dicomdecode.read.sources.base.Transfer`)."""

    def add(self, nbytes: int, *, retries: int = 0) -> None: ...

    def failed(self, attempts: int) -> None: ...


def counted(url: str, request: Callable[[], T], transfer: Counter,
            size: Callable[[T], int] = lambda _value: 0) -> T:
    """:func:`with_retries`, with every attempt and the bytes received (``size(value)``)
    counted on `transfer`, failed attempts included: the one way a source makes a request."""
    try:
        value, used = with_retries(url, request)
    except RemoteReadError as exc:
        transfer.failed(exc.attempts)
        raise
    transfer.add(size(value), retries=used)
    return value


__all__ = ["Counter", "RemoteReadError", "counted", "retries", "timeout", "with_retries"]
