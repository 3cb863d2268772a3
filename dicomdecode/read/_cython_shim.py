"""Stand-in for the ``cython`` module where Cython is not installed.

:mod:`dicomdecode.read.walkcore` is written in Cython's pure-Python mode: compiled, its
type declarations and decorators become C; interpreted, they must be no-ops. Cython's own
``Shadow`` module provides that when Cython is installed; this shim provides the few names
the core uses when it is not (a runtime install needs no Cython), as fontTools'
``fontTools.misc.cython`` does for cu2qu.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

compiled = False


def _identity_decorator(*_args: Any, **_kwargs: Any) -> Callable[[Any], Any]:
    def decorate(function: Any) -> Any:
        return function

    return decorate


def cfunc(function: Any) -> Any:
    return function


ccall = inline = cfunc
exceptval = boundscheck = wraparound = _identity_decorator


def cast(_type: Any, value: Any) -> Any:
    return value


class _NoGil:
    """``@cython.nogil`` on a function and ``with cython.nogil:`` around a block."""

    def __call__(self, function: Any) -> Any:
        return function

    def __enter__(self) -> None:
        return None

    def __exit__(self, *_exc: object) -> None:
        return None


nogil = _NoGil()
# C type names appear only in annotations, which are never evaluated here
# (``from __future__ import annotations``), and in cast(), which ignores them
longlong = ulonglong = Py_ssize_t = bint = uchar = p_uchar = int
schar = short = ushort = int
int = builtins.int  # noqa: A001 - ``cython.int``, read when a fused type is built


def fused_type(*_types: Any) -> Any:
    """``cython.fused_type``: only named in annotations and casts here."""
    return None


def declare(_type: Any, value: Any = None) -> Any:
    return value
