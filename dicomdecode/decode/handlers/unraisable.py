"""Errors a codec reported but did not raise: turned back into an exception for its caller.

Cython helpers declared ``noexcept nogil`` cannot propagate a Python exception: Cython
prints "Exception ignored in: ..." through :data:`sys.unraisablehook` and the helper
returns as if it had succeeded. imagecodecs' ``_htj2k._copy_from_codestream`` is one: when
OpenJPH throws on a corrupt code block (``RuntimeError: ojph error``), ``htj2k_decode``
returns its output array as far as it got, the rest zeros (fuzz seed 101: 43 of 10,000
mutants of HTJ2K files came back all-zero, with no error). A decoder that "succeeds" with
missing pixels is the worst outcome this library can produce, so :func:`reported_errors`
collects what such a codec reports while the calling thread decodes, and the handler
raises.

The hook is installed only while a decode runs and chains to whatever hook was there
before (pytest's, an application's); unraisable errors that do not come from ``origin``
or from another thread pass through untouched. Cython writes the unraisable error from
the thread that ran the helper, so a thread-local tells the decodes of a series apart.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_lock = threading.Lock()
_local = threading.local()
_active = 0
_previous: Callable[[Any], object] | None = None


def _hook(unraisable: Any) -> None:
    watch: tuple[str, list[BaseException]] | None = getattr(_local, "watch", None)
    where = unraisable.object
    if (watch is not None and isinstance(where, str) and where.startswith(watch[0])
            and unraisable.exc_value is not None):
        watch[1].append(unraisable.exc_value)
        return
    (_previous or sys.__unraisablehook__)(unraisable)


@contextmanager
def reported_errors(origin: str) -> Iterator[list[BaseException]]:
    """The exceptions code named ``origin...`` (a module prefix such as
    ``"imagecodecs."``) reported as unraisable in this thread during the ``with`` block."""
    global _active, _previous
    caught: list[BaseException] = []
    with _lock:
        if sys.unraisablehook is not _hook:
            _previous = sys.unraisablehook
            sys.unraisablehook = _hook
        _active += 1
    _local.watch = (origin, caught)
    try:
        yield caught
    finally:
        _local.watch = None
        with _lock:
            _active -= 1
            if _active == 0 and sys.unraisablehook is _hook:
                sys.unraisablehook = _previous or sys.__unraisablehook__
                _previous = None
