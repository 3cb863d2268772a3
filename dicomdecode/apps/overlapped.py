"""convert's overlapped road: a series decoded chunk by chunk while a writer thread
compresses and writes the chunks already decoded (issue 18, item 4).

On two cores, decode-then-write of a 300-slice CT spent its time in two phases that each
leave a core idle part of the time; overlapping them took 0.82x (explicit, .nii.gz) and
0.69x (JPEG-LS) of the serial time (bench/overlap_probe.py). A NIfTI file starts with its
header, so the header must be known before the first voxel: on the stored-values road
(:func:`~dicomdecode.writers.compact.plan_stored_values`) it depends on the shape, dtype,
affine and acquisition facts only, all of which come from the scan's headers. So the
series is first assembled from its headers alone (a zero-stride stand-in for the voxels,
:func:`~dicomdecode.assemble.placeholder_stack`), which gives the header; the slices are
then decoded by chunks in the final order (the same stack decode, on sub-ranges) and
streamed (:class:`~dicomdecode.writers.nifti.StoredStream`). At the end the Volume's
metadata is assembled as on the ordinary road, from what the decode reported, and the
file is kept only if that volume gives the header already written. Anything unforeseen (a
file that fails to decode, a header the guard refuses, a different header) abandons the
partial file and returns None: the caller then takes the ordinary road, which reports
as it always did (and, in-process, the isolating pool retry still follows a failure).

The whole array is never held: the Volume returned has the same zero-stride stand-in as
its ``array`` (shape and dtype right, no voxels), which is all the metadata writers read.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from dicomdecode.assemble import Decoded, assemble_series, decode_images, placeholder_stack
from dicomdecode.read.pixel_source import pixel_source_of_image
from dicomdecode.writers.compact import fits_plan, settle
from dicomdecode.writers.nifti import StoredStream

if TYPE_CHECKING:
    from dicomdecode.options import Options
    from dicomdecode.series import SeriesInfo
    from dicomdecode.volume import Volume
    from dicomdecode.writers.compact import StoredValues
    from dicomdecode.writers.settings import WriteOptions

#: fewer images than this: one chunk would be most of the series, nothing to overlap
MIN_IMAGES = 64
#: a placeholder handler name for the stand-in volume (any non-empty name: "decoded")
_PENDING = "pending"


def eligible(series: SeriesInfo) -> bool:
    """Whether ``series`` can be streamed: one volume, not a mosaic, enough images to
    overlap. Its images may be frames of multi-frame files (an enhanced CT or MR): a chunk
    then decodes the frames it holds of each file (the stack decode plans by file and
    frame), so a multi-frame series is written in chunks too, not held whole."""
    images = series.images
    return (len(images) >= MIN_IMAGES and max(series.n_volumes, 1) == 1
            and not images[0].mosaic_slices)


def _stand_in(series: SeriesInfo, options: Options, plan: StoredValues,
              handlers: list[str], photometrics: list[str]) -> Volume | None:
    """The volume of ``series`` assembled as convert assembles it (then settled as the
    stored-values road settles it), over the zero-stride stand-in; None when the plan no
    longer holds."""
    decoded = Decoded(placeholder_stack(series), handlers, photometrics, {}, placeholder=True)
    volume = assemble_series(series, options, decoded)
    if not fits_plan(volume, plan):  # settle would rescale the (stand-in) array
        return None
    return settle(volume, plan)[0]


def write_overlapped(series: SeriesInfo, base: Path, options: Options, write: WriteOptions,
                     plan: StoredValues, before_commit: Callable[[], None]
                     ) -> tuple[Volume, list[Path]] | None:
    """Decode ``series`` (``options``: stored values, ``rescale=False``) and write it as
    NIfTI to ``base`` with ``plan``, decode and write overlapped; return the volume (its
    array a zero-stride stand-in) and the paths written (image first), or None when the
    ordinary road must do it (nothing is left behind then). ``before_commit`` runs once
    everything decoded, before the file is moved into place (convert records the sources
    there). Errors of ``before_commit`` and of moving the file into place are raised."""
    if not eligible(series):
        return None
    n = len(series.images)
    try:
        photometric = pixel_source_of_image(series.images[0]).photometric_interpretation
        predicted = _stand_in(series, options, plan, [_PENDING] * n, [photometric] * n)
    except Exception:  # noqa: BLE001 - the ordinary road reports it, typed
        return None
    if predicted is None:
        return None
    try:
        stream = StoredStream(predicted, base, write, plan)
    except Exception:  # noqa: BLE001 - nothing written yet: the ordinary road decides
        return None
    try:
        decoded = _decode_into(series, options, stream)
        if decoded is None:
            return None  # abandoned
        stream.close()
    except BaseException:
        stream.abandon()
        raise
    try:
        volume = _stand_in(series, options, plan, *decoded)
    except Exception:  # noqa: BLE001 - e.g. strict mode: the ordinary road reports it
        volume = None
    if volume is None:
        stream.abandon()
        return None
    try:
        before_commit()
    except BaseException:
        stream.abandon()
        raise
    written = stream.commit(volume)
    return None if written is None else (volume, written)


def _decode_into(series: SeriesInfo, options: Options, stream: StoredStream
                 ) -> tuple[list[str], list[str]] | None:
    """Decode the series chunk by chunk into ``stream``; each image's handler and
    photometric interpretation, or None after abandoning the stream when any
    file failed (the ordinary road then decodes and reports it)."""
    images = series.images
    handlers: list[str] = []
    photometrics: list[str] = []
    for k in range(0, len(images), stream.chunk):
        try:
            part = decode_images(images[k:k + stream.chunk], options)
        except Exception:  # noqa: BLE001 - a refused header: the ordinary road reports it
            stream.abandon()
            return None
        if part.failures or not all(part.handlers):
            stream.abandon()
            return None
        handlers += part.handlers
        photometrics += part.photometrics
        stream.put(part.stack)
    return handlers, photometrics


__all__ = ["MIN_IMAGES", "eligible", "write_overlapped"]
