"""Which handler decodes what: preference, availability, user override, fallback.

The order to try comes from the transfer-syntax table (fastest correct first). A caller
can force or reorder handlers per call (``handlers="gdcm"`` or ``["gdcm", "pylibjpeg"]``)
or for a whole process with ``DICOMDECODE_HANDLERS=gdcm,pylibjpeg``. Uncompressed syntaxes
are always decoded by the native handler, whatever the override, since no codec is
involved. A handler that raises is followed by the next one; if all fail the
:class:`DecodeError` lists each handler's reason.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from dicomdecode.decode.canonical import finish_frame, target_dtype
from dicomdecode.decode.handlers import HANDLERS, Handler, HandlerDeclined, PixelSource
from dicomdecode.errors import DecodeError, MissingHandlerError, UnsupportedTransferSyntaxError
from dicomdecode.read import transfer_syntax as ts

HandlerChoice = str | Sequence[str] | None
ENV_VAR = "DICOMDECODE_HANDLERS"


def _requested(handlers: HandlerChoice) -> list[str] | None:
    """The user's ordered handler names (argument first, then environment), or None."""
    if handlers is None:
        handlers = os.environ.get(ENV_VAR) or None
    if handlers is None:
        return None
    names = [h.strip() for h in handlers.split(",")] if isinstance(handlers, str) else list(handlers)
    names = [n for n in names if n]
    unknown = [n for n in names if n not in HANDLERS]
    if unknown:
        raise ValueError(
            f"unknown handler name(s) {unknown}; known: {sorted(HANDLERS)}"
        )
    return names


def candidates(transfer_syntax: str, handlers: HandlerChoice = None) -> list[Handler]:
    """Installed handlers for `transfer_syntax`, in the order they will be tried."""
    row = ts.lookup(transfer_syntax)
    if row is None:
        return []
    order = list(row.handlers)
    requested = _requested(handlers)
    if requested is not None and order != ["native"]:
        order = [name for name in requested if name in row.handlers]
    return [HANDLERS[name] for name in order if HANDLERS[name].supports(row.uid)]


def available_handlers() -> dict[str, list[str]]:
    """Transfer syntax UID -> installed handler names, preferred first."""
    return {
        uid: [h.name for h in candidates(uid)]
        for uid in ts.TRANSFER_SYNTAXES
        if candidates(uid)
    }


def handler_table() -> list[dict[str, Any]]:
    """One row per transfer syntax: what this install can decode it with (for the CLI)."""
    rows = []
    for uid, row in ts.TRANSFER_SYNTAXES.items():
        installed = [h.name for h in candidates(uid)]
        rows.append({
            "uid": uid,
            "name": row.name,
            "family": row.family,
            "lossy": row.lossy,
            "retired": row.retired,
            "handlers_installed": installed,
            "handlers_known": list(row.handlers),
            "install_hint": "" if installed or not row.handlers else _install_hint(row),
        })
    return rows


def _install_hint(row: ts.TransferSyntax) -> str:
    missing = [name for name in row.handlers if name in ts.INSTALL_EXTRA]
    return " or ".join(ts.INSTALL_EXTRA[name] for name in missing)


def check_decodable(source: PixelSource, handlers: HandlerChoice = None) -> list[Handler]:
    """The handlers to try for `source`, or the typed error saying why there are none."""
    uid = source.transfer_syntax
    row = ts.lookup(uid)
    if row is None:
        raise UnsupportedTransferSyntaxError(
            f"unknown transfer syntax UID {uid!r}: not a syntax the DICOM standard defines",
            source.path, uid=uid, name="unknown",
        )
    if not row.decodable:
        raise UnsupportedTransferSyntaxError(
            f"transfer syntax '{row.name}' ({uid}) is not supported by dicomdecode "
            f"(no handler decodes the {row.family} family)",
            source.path, uid=uid, name=row.name,
        )
    found = candidates(uid, handlers)
    if not found:
        requested = _requested(handlers)
        if requested is not None and any(HANDLERS[n].supports(uid) for n in row.handlers):
            raise MissingHandlerError(
                f"none of the requested handlers {requested} decodes '{row.name}' ({uid}); "
                f"installed handlers for it: "
                f"{[n for n in row.handlers if HANDLERS[n].supports(uid)]}",
                source.path, uid=uid, install="",
            )
        hint = _install_hint(row)
        raise MissingHandlerError(
            f"no installed handler decodes '{row.name}' ({uid}); install one with: {hint}",
            source.path, uid=uid, install=hint,
        )
    return found


def decode_source(
    source: PixelSource,
    indices: Sequence[int],
    *,
    handlers: HandlerChoice = None,
    convert_color: bool = True,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, str, str]:
    """Decode frames `indices` of `source` into canonical form.

    Returns ``(array, photometric interpretation of the array, handler name)``. With
    `out`, frames are written straight into it (shape ``(len(indices), rows, cols[, s])``).
    """
    failures: list[tuple[str, str]] = []
    declined = 0
    for handler in check_decodable(source, handlers):
        try:
            array, colour = _decode_with(handler, source, indices, convert_color, out)
        except Exception as exc:  # a codec may raise anything; the next handler may cope
            failures.append((handler.name, f"{type(exc).__name__}: {exc}"))
            declined += isinstance(exc, HandlerDeclined)
            continue
        return array, colour, handler.name
    reasons = "; ".join(f"{name}: {reason}" for name, reason in failures)
    row = ts.lookup(source.transfer_syntax)
    absent = [n for n in (row.handlers if row else ()) if not HANDLERS[n].is_available()]
    if declined == len(failures) and absent and _requested(handlers) is None:
        hint = " or ".join(ts.INSTALL_EXTRA[n] for n in absent if n in ts.INSTALL_EXTRA)
        raise MissingHandlerError(
            f"the installed handlers do not decode this '{ts.name_of(source.transfer_syntax)}' "
            f"({source.transfer_syntax}) variant ({reasons}); install another with: {hint}",
            source.path, uid=source.transfer_syntax, install=hint)
    raise DecodeError(
        f"could not decode '{ts.name_of(source.transfer_syntax)}' "
        f"({source.transfer_syntax}) pixel data: {reasons}",
        source.path, failures=failures,
    )


def _decode_with(
    handler: Handler,
    source: PixelSource,
    indices: Sequence[int],
    convert_color: bool,
    out: np.ndarray | None,
) -> tuple[np.ndarray, str]:
    shape: tuple[int, ...] = (len(indices), source.rows, source.columns)
    if source.samples_per_pixel > 1:
        shape += (source.samples_per_pixel,)
    dtype = target_dtype(source)
    if out is None:
        out = np.empty(shape, dtype=dtype)
    elif out.shape != shape or out.dtype != dtype:
        # never cast silently (float parametric maps into integers, signed into unsigned)
        raise ValueError(f"output array is {out.shape} {out.dtype}, frames are {shape} {dtype}")
    colour = source.photometric_interpretation
    for position, index in enumerate(indices):
        raw = handler.decode_frame(source, index)
        frame, colour = finish_frame(raw, source, convert_color)
        out[position] = frame
    return out, colour
