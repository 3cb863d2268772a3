"""One file in, canonical frames out: the public ``decode`` / ``decode_file`` calls.

``decode(path)`` is the stack decode of a series of one: the file is described by the
reading layer (:func:`dicomdecode.read.describe.describe_file`), then decoded through
the same :func:`dicomdecode.decode.dispatch.decode_into` as every image of ``load``,
``convert`` and the data-loader datasets, so the same file gives the same pixels, dtype,
handler record and errors on every road.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, TypeAlias

import numpy as np

from dicomdecode.decode import validate
from dicomdecode.decode.canonical import frames_shape, target_dtype
from dicomdecode.decode.dispatch import decode_into
from dicomdecode.engine import allocator
from dicomdecode.errors import DecodeError, DicomDecodeError
from dicomdecode.options import HandlerChoice, Options
from dicomdecode.read.dataset import has_pixel_data, pixel_source
from dicomdecode.read.describe import describe_file
from dicomdecode.read.inputs import dataset_of, name_of
from dicomdecode.read.pixel_source import PixelSource
from dicomdecode.read.sources.base import is_url

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

PathLike = str | os.PathLike[str]
#: what ``decode`` reads: a path, bytes, a binary file object (``.read()``) or a pydicom
#: Dataset (see :mod:`dicomdecode.read.inputs`)
Source: TypeAlias = "PathLike | bytes | bytearray | memoryview | BinaryIO | Dataset"


@dataclass
class Decoded:
    """Canonical frames of one file and how they were obtained.

    ``array`` is ``(frames, rows, cols[, samples])`` with the dtype Bits Allocated and
    Pixel Representation give (uint8 ... int32, float32/64 for float pixel data);
    ``photometric_interpretation`` is the colour space of ``array`` (RGB after a YCbCr
    conversion); ``handler`` the decoder that produced it.
    """

    array: np.ndarray
    photometric_interpretation: str
    handler: str
    transfer_syntax: str
    path: str


def decode(
    path: Source,
    *,
    handlers: HandlerChoice = None,
    frames: Sequence[int] | None = None,
    convert_color: bool = True,
    dataset: Dataset | None = None,
    out: np.ndarray | None = None,
    options: Options | None = None,
    storage_options: dict[str, Any] | None = None,
) -> Decoded:
    """Decode one file's pixel data into canonical frames.

    Args:
        path: the DICOM file: a path, or its bytes, a binary file object or a pydicom
            Dataset (read in memory, nothing written; messages name it by its ``.name``
            or ``filename``, else ``"<memory>"``).
        handlers: decoders to try, in order (``"gdcm,pylibjpeg"`` or a list); default
            ``DICOMDECODE_HANDLERS`` or the measured preference order.
        frames: 0-based frame indices to decode (default: all).
        convert_color: YCbCr data as RGB (default) or as stored.
        dataset: an already-read pydicom Dataset of that file, used for its pixel data.
        out: an array to decode into, shaped and typed like the result.
        options: an :class:`~dicomdecode.options.Options`; the keywords above override it.
        storage_options: for a URL `path` (``s3://bucket/key.dcm``, any fsspec URL):
            the filesystem's options (credentials, endpoint).

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: an unknown option value (before the file is read).
        IndexError: a frame index outside the file's frames.
        NotDicomError, NoPixelDataError, DecodeError, MissingHandlerError,
        UnsupportedTransferSyntaxError: the typed errors of :mod:`dicomdecode.errors`,
        each naming the file.

    Example:
        >>> frames = dicomdecode.decode("test_data/u8_mono__rle.dcm").array  # doctest: +SKIP
    """
    opts = Options.resolve(options, handlers=handlers, convert_color=convert_color)
    if is_url(path):
        return _decode_url(str(path), frames, opts, out, storage_options)
    if not isinstance(path, str | os.PathLike):
        name = name_of(path)
        return decode_source(pixel_source(dataset_of(path, name), name), frames, opts, out=out)
    name = os.fspath(path)
    if dataset is not None and has_pixel_data(dataset):
        source = pixel_source(dataset, name)
    else:
        if not os.path.exists(name):
            raise FileNotFoundError(f"no such file: {name!r}")
        source = describe_file(name)
    return decode_source(source, frames, opts, out=out)


def _decode_url(url: str, frames: Sequence[int] | None, opts: Options,
                out: np.ndarray | None, storage_options: dict[str, Any] | None) -> Decoded:
    """decode() of one remote object: mirrored, completed, decoded; errors name the URL."""
    from dicomdecode.read.inputs import stage
    from dicomdecode.read.sources.mirror import ensure_complete

    staged, staging = stage([url], storage_options)
    assert staging is not None
    try:
        if len(staged) != 1:
            failed = "; ".join(f"{u}: {r}" for u, r in staging.failed)
            raise FileNotFoundError(failed or f"{staging.display(url)}: expected one object, "
                                    f"found {len(staged)}")
        failed_fetch = ensure_complete(staged)
        if failed_fetch:
            raise DecodeError(f"fetch failed: {failed_fetch[staged[0]]}", staged[0])
        decoded = decode_source(describe_file(staged[0]), frames, opts, out=out)
        return dataclasses.replace(decoded, path=staging.display(decoded.path))
    except DicomDecodeError as exc:
        staging.rename_error(exc)
        raise
    finally:
        staging.cleanup()


def decode_source(source: PixelSource, frames: Sequence[int] | None, options: Options, *,
                  out: np.ndarray | None = None) -> Decoded:
    """Decode frames of an already described file (``decode`` after its header read).

    For callers that keep descriptions around, such as the data-loader datasets, which
    describe every image once from a scan (:func:`dicomdecode.read.pixel_source.
    pixel_source_of_image`) and then decode one frame per item. `options` must come
    from :meth:`Options.resolve`.
    """
    # the header is judged before anything is sized by it (a billion frames costs nothing)
    validate.check_header(source)
    if source.has_pixels:  # checked before anything is sized by the header
        n = source.number_of_frames
        requested = range(n) if frames is None else [i for i in frames if 0 <= i < n]
        validate.check_data(source, source.frames, source.native, requested)
    else:
        try:
            file_size = os.path.getsize(source.path)
        except OSError as exc:
            raise FileNotFoundError(f"cannot read {source.path!r}: {exc}") from exc
        validate.check_frame_capacity(source, file_size, source.pixel_offset)
    count = source.number_of_frames if frames is None else len(frames)
    if out is None:
        nbytes = int(np.prod(frames_shape(source, count), dtype=np.int64)) * target_dtype(
            source).itemsize
        validate.check_budget(nbytes, source.path, validate.memory_budget(options.max_bytes))
    indices = list(range(source.number_of_frames)) if frames is None else list(frames)
    bad = [i for i in indices if not 0 <= i < source.number_of_frames]
    if bad:
        raise IndexError(f"{source.path}: frame(s) {bad} out of range (file has "
                         f"{source.number_of_frames})")
    if out is None:
        out = allocator.allocate(frames_shape(source, len(indices)), target_dtype(source),
                                 source.path)
    handler, colour = decode_into(source, indices, out, options)
    return Decoded(out, colour, handler, source.transfer_syntax, source.path)


def decode_file(path: Source, *, handlers: HandlerChoice = None,
                options: Options | None = None) -> np.ndarray:
    """The canonical frames of `path`: ``(frames, rows, cols[, samples])``.

    Same arguments, errors and values as :func:`decode` (of which it returns ``.array``):
    the dtype follows Bits Allocated and Pixel Representation, values are stored values
    (no rescale), YCbCr comes back as RGB.
    """
    return decode(path, handlers=handlers, options=options).array


__all__ = ["Decoded", "decode", "decode_file", "decode_source", "frames_shape"]
