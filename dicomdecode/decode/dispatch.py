"""Which handler decodes what: preference, availability, user override, fallback; and
the ONE road from a file's pixel description to canonical frames (:func:`decode_into`).

The order to try comes from the transfer-syntax table (fastest correct first). A caller
can force or reorder handlers (``Options(handlers="gdcm,pylibjpeg")``, or for a whole
process ``DICOMDECODE_HANDLERS``; both checked once, in :mod:`dicomdecode.options`).
Uncompressed syntaxes are always decoded by the native handler, whatever the override,
since no codec is involved. A handler that raises is followed by the next one; if all
fail the :class:`DecodeError` lists each handler's reason.

``decode``, the stack decode of ``load``/``convert`` and the data-loader datasets all
end in :func:`decode_into`: the same checks, the same handler order, the same canonical
frames and the same handler record, whichever entry point a file came through.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from dicomdecode.decode import validate
from dicomdecode.decode.canonical import finish_frame, fit_to_container, target_dtype
from dicomdecode.decode.handlers import HANDLERS, Handler, HandlerDeclined
from dicomdecode.engine import parallel
from dicomdecode.errors import (
    DecodeError,
    DicomDecodeError,
    MissingHandlerError,
    UnsupportedTransferSyntaxError,
)
from dicomdecode.options import Options
from dicomdecode.read import transfer_syntax as ts
from dicomdecode.read.codestream import jpeg_colour
from dicomdecode.read.dataset import pixel_source, read_dataset
from dicomdecode.read.frames import read_encapsulated_frames
from dicomdecode.read.pixel_source import PixelSource

Requested = tuple[str, ...] | None  # Options.handlers: checked names, or None for default


def candidates(transfer_syntax: str, requested: Requested = None) -> list[Handler]:
    """Installed handlers for `transfer_syntax`, in the order they will be tried.

    `requested` is :attr:`Options.handlers` (already checked); None means the measured
    preference order of the transfer-syntax table."""
    row = ts.lookup(transfer_syntax)
    if row is None:
        return []
    order = list(row.handlers)
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


def check_decodable(source: PixelSource, requested: Requested = None) -> list[Handler]:
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
    found = candidates(uid, requested)
    if not found:
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


class Checked:
    """The header checks of :func:`decode_into` remembered per header layout, for the files
    of one series: handler choice and the guard's header verdict depend on the layout
    alone (syntax, size, bits, sign, colour, frames), not on the file, so a series of
    300 slices asks once, not 300 times. Only verdicts that passed are kept: a file whose
    header fails is checked (and named in the error) on its own."""

    def __init__(self, requested: Requested) -> None:
        self.requested = requested
        self._known: dict[tuple[Any, ...], list[Handler]] = {}

    def get(self, source: PixelSource, requested: Requested) -> list[Handler] | None:
        if requested != self.requested:
            return None
        return self._known.get(_layout(source))

    def remember(self, source: PixelSource, requested: Requested,
                 found: list[Handler]) -> None:
        if requested == self.requested:
            self._known[_layout(source)] = found


def _layout(source: PixelSource) -> tuple[Any, ...]:
    """Every header value :func:`check_decodable` and ``validate.check_header`` read."""
    return (source.transfer_syntax, source.rows, source.columns, source.samples_per_pixel,
            source.bits_allocated, source.bits_stored, source.pixel_representation,
            source.photometric_interpretation, source.planar_configuration,
            source.number_of_frames, source.float_pixels, source.big_endian, source.pixel_vr)


def decode_into(source: PixelSource, indices: Sequence[int], out: np.ndarray,
                options: Options, *, checked: Checked | None = None) -> tuple[str, str]:
    """Decode frames `indices` of `source` into `out` (``(len(indices), rows, cols[, s])``
    of the canonical dtype). Returns ``(handler name, photometric interpretation of the
    frames)``; raises the typed errors of :mod:`dicomdecode.errors`.

    Pixels are fetched the cheapest way that applies: native frames straight from the
    file into `out`; encapsulated frames by the recorded offset; else pydicom reads the
    file (the single fallback, :mod:`dicomdecode.read.dataset`). `checked` remembers the
    header checks for the next file of the same series.
    """
    found = checked.get(source, options.handlers) if checked is not None else None
    if found is None:
        found = _check(source, indices, options.handlers)
        if checked is not None:
            checked.remember(source, options.handlers, found)
    expected: tuple[int, ...] = (len(indices), source.rows, source.columns)
    if source.samples_per_pixel > 1:
        expected += (source.samples_per_pixel,)
    if out.shape != expected or out.dtype != target_dtype(source):
        # never cast silently (float parametric maps into integers, signed into unsigned)
        raise ValueError(f"output array is {out.shape} {out.dtype}, frames are {expected} "
                         f"{target_dtype(source)}")
    first = found[0]
    read_into = getattr(first, "read_into", None)
    if read_into is not None and read_into(source, indices, out):
        if out.dtype.kind in "iu" and source.bits_stored < out.dtype.itemsize * 8:
            for frame in out:  # (all bits stored: the bytes read are the canonical frame)
                fitted = fit_to_container(frame, source)
                if not np.shares_memory(fitted, frame):
                    frame[...] = fitted
        return first.name, source.photometric_interpretation
    if not source.has_pixels:
        # whoever attaches the pixels checks them: here, or decode_source for a source
        # that arrives with its pixels (a pydicom read), before it sized anything
        source = _with_pixels(source)
        validate.check_data(source, source.frames, source.native, indices)
    return _decode_with_fallback(found, source, indices, out, options)


def _check(source: PixelSource, indices: Sequence[int], requested: Requested
           ) -> list[Handler]:
    """The handlers for `source` once its header passed the guard; the typed error else."""
    try:
        found = check_decodable(source, requested)
    except MissingHandlerError:
        # a truncated or hostile file says so even where no codec is installed: the guard
        # judges its data first, as it does on the road where pixels arrive with the
        # description (decode(bytes)), so both roads give the guard's verdict
        with_pixels = _with_pixels(source)
        validate.check_header(with_pixels)
        validate.check_data(with_pixels, with_pixels.frames, with_pixels.native,
                            [i for i in indices if 0 <= i < with_pixels.number_of_frames])
        raise
    validate.check_header(source)
    return found


def _with_pixels(source: PixelSource) -> PixelSource:
    """`source` with its encoded frames or native bytes attached."""
    if source.has_pixels:
        return source
    if ts.is_encapsulated(source.transfer_syntax) and source.pixel_offset >= 0:
        frames = read_encapsulated_frames(source)
        if frames is not None:
            return replace(source, frames=frames)
    full = pixel_source(read_dataset(source.path), source.path)
    return replace(source, frames=full.frames, native=full.native, pixel_vr=full.pixel_vr)


def _decode_with_fallback(found: Sequence[Handler], source: PixelSource,
                          indices: Sequence[int], out: np.ndarray,
                          options: Options) -> tuple[str, str]:
    """Decode `indices` into `out` with the first handler that succeeds.

    Several frames are tried with the first handler together (threads, one call); if it
    fails on any, EACH frame goes through the handler order on its own, so a frame gets
    the pixels it gets when asked for alone (a data loader's item): one frame corrupt
    must not move the good frames to another decoder (lossy JPEG decoders differ in the
    last bit), and two roads must not give two answers (issue 20: 6,601 pixels)."""
    if len(indices) > 1:
        try:
            return _decode_frames_with_fallback(found[:1], source, indices, out, options)
        except DicomDecodeError:
            pass
        names, colours = [], []
        for position, index in enumerate(indices):
            name, colour = _decode_frames_with_fallback(
                found, source, [index], out[position:position + 1], options)
            names.append(name)
            colours.append(colour)
        return "+".join(dict.fromkeys(names)), colours[0]
    return _decode_frames_with_fallback(found, source, indices, out, options)


def _decode_frames_with_fallback(found: Sequence[Handler], source: PixelSource,
                                 indices: Sequence[int], out: np.ndarray,
                                 options: Options) -> tuple[str, str]:
    failures: list[tuple[str, str]] = []
    declined = 0
    for handler in found:
        if handler.may_abort and options.handlers is None and len(failures) > declined:
            # another decoder already found this data corrupt: a codec known to abort the
            # process on corrupt data is not handed it (asked for by name, it still is)
            failures.append((handler.name, "not tried: it can abort the process on data "
                                            "another decoder found corrupt"))
            declined += 1
            continue
        try:
            colour = _decode_with(handler, source, indices, options, out)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # a codec may raise anything, even a Rust panic
            failures.append((handler.name, f"{type(exc).__name__}: {exc}"))
            declined += isinstance(exc, HandlerDeclined)
            continue
        return handler.name, colour
    reasons = "; ".join(f"{name}: {reason}" for name, reason in failures)
    row = ts.lookup(source.transfer_syntax)
    absent = [n for n in (row.handlers if row else ()) if not HANDLERS[n].is_available()]
    if declined == len(failures) and absent and options.handlers is None:
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


# frames of one file worth spreading over threads (below, the pool costs more than it saves)
_THREADED_MIN_FRAMES = 4


def _decode_with(handler: Handler, source: PixelSource, indices: Sequence[int],
                 options: Options, out: np.ndarray) -> str:
    """Decode `indices` with `handler` into `out`; the frames' photometric interpretation.

    A multi-frame file whose codec releases the GIL decodes its frames on threads (each
    into its own slot of `out`); any frame's error propagates as from the loop."""
    lossy_jpeg_colour = (source.samples_per_pixel == 3
                         and ts.TRANSFER_SYNTAXES[source.transfer_syntax].family == "jpeg")

    def one(position: int) -> str:
        index = indices[position]
        raw = handler.decode_frame(source, index)
        if lossy_jpeg_colour:
            raw = replace(raw, colour_space=stored_jpeg_colour(source, source.frames[index]))
        frame, colour = finish_frame(raw, source, options.convert_color)
        out[position] = frame
        return colour

    count = 1
    if handler.releases_gil and len(indices) >= _THREADED_MIN_FRAMES:
        count = parallel.resolve_workers(options.workers, len(indices), threads=True)
    colours = parallel.map_threaded(one, range(len(indices)), count)
    return colours[0] if colours else source.photometric_interpretation


def stored_jpeg_colour(source: PixelSource, frame: bytes) -> str:
    """The colour space of a lossy JPEG frame's decoded components.

    Every JPEG handler hands back the components as stored (no colour transform in the
    codec). Whether they are YCbCr or RGB is what the codestream declares (JFIF, Adobe
    APP14, component ids: :func:`~dicomdecode.read.codestream.jpeg_colour`), as libjpeg,
    GDCM and dcmtk decide it; the header's Photometric Interpretation only where the
    codestream declares nothing. Header values that already say YCbCr keep their more
    precise name (YBR_FULL_422)."""
    header = source.photometric_interpretation
    declared = jpeg_colour(frame)
    if declared is None or (declared == "YBR_FULL" and header.startswith("YBR")):
        return header
    return declared
