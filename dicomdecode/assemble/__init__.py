"""SeriesInfo + decoded frames -> Volume: order, geometry checks, affine, rescale, 4D.

``scan`` has already put the images in (volume, slice) order from headers; this module
decodes them (the stack decode of :mod:`dicomdecode.decode.stack`, so the dispatcher
picks the handler for every image), checks the geometry, builds the affine and applies
the one dtype/rescale policy of :mod:`dicomdecode.assemble.rescale`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from dicomdecode import geometry
from dicomdecode.assemble import rescale as _rs
from dicomdecode.decode.canonical import frames_shape, target_dtype
from dicomdecode.decode.stack import decode_stack
from dicomdecode.errors import InconsistentSeriesError
from dicomdecode.options import HandlerChoice, Options, PhilipsScaling, RescaleMode
from dicomdecode.read.pixel_source import pixel_source_of_image
from dicomdecode.read.sources.mirror import ensure_complete
from dicomdecode.scan.flavours import mosaic
from dicomdecode.series import ImageRef, SeriesInfo
from dicomdecode.volume import SliceInfo, Volume

PathLike = str | os.PathLike[str]


def _fail_or_warn(strict: bool, message: str, paths: Sequence[str],
                  warnings: list[str]) -> None:
    if strict:
        raise InconsistentSeriesError(message, sorted(set(paths)))
    warnings.append(message)


def _kept_indices(series: SeriesInfo, ok: Sequence[bool], failures: dict[str, str],
                  strict: bool, warnings: list[str]) -> tuple[list[int], int]:
    """Indices of images to keep after decode failures (whole volumes for 4D)."""
    n_images = len(series.images)
    n_vol = max(series.n_volumes, 1)
    if not failures:
        return list(range(n_images)), n_vol
    message = "could not decode: " + "; ".join(f"{p}: {r}" for p, r in sorted(failures.items()))
    _fail_or_warn(strict, message, list(failures), warnings)
    per_vol = n_images // n_vol
    if n_vol > 1:
        keep_vols = [v for v in range(n_vol)
                     if all(ok[v * per_vol + s] for s in range(per_vol))]
        keep = [v * per_vol + s for v in keep_vols for s in range(per_vol)]
        n_vol = len(keep_vols)
    else:
        keep = [i for i in range(n_images) if ok[i]]
    if not keep:
        raise InconsistentSeriesError(f"no image of series {series.uid} could be decoded: "
                                      f"{message}", sorted(failures))
    return keep, n_vol


def decode_images(images: Sequence[ImageRef], options: Options,
                  stack_dtype: np.dtype | None = None,
                  scales: Sequence[_rs.Scale] | None = None) -> Decoded:
    """Stored values of `images` as one stack (of `stack_dtype`, default the canonical
    dtype; with `scales`, one per image, output values rescaled as they are stored), with
    per-image handler and photometric interpretation, and path -> reason for files that
    failed. A mosaic image becomes its tiles: ``(images, tiles, rows, cols)``. The one
    decode of the assembler, also used on sub-ranges by convert's overlapped road."""
    # remote objects (mirrored headers) get their pixels now, once per file, in parallel
    fetch_failed = ensure_complete(im.path for im in images)
    stack, results = decode_stack(
        images, options, stack_dtype,
        None if scales is None else [(s.slope, s.intercept) for s in scales])
    by_path = {r.path: r for r in results}
    failures = {r.path: (f"fetch failed: {fetch_failed[r.path]}" if r.path in fetch_failed
                         else r.error) for r in results if r.error}
    first = images[0]
    if first.mosaic_slices and first.mosaic_tile:
        tiles = [mosaic.untile(stack[i], first.mosaic_slices, *first.mosaic_tile)
                 for i in range(len(images))]
        stack = np.stack(tiles)
    return Decoded(stack, [by_path[im.path].handler for im in images],
                   [by_path[im.path].photometric for im in images], failures)


def _output_dtype(series: SeriesInfo, options: Options) -> tuple[np.dtype | None, bool]:
    """The output dtype of `series` (the one policy, from its header; None for a header
    the guard refuses, which decode_stack then reports, typed), and whether the stack
    should be decoded straight into it, each frame rescaled as it is stored (CT int16 to
    int32 HU in one pass over each slice, while it is in the CPU cache, instead of a
    widening copy and a second pass over the volume). Not for stored values
    (``rescale=False``), padding masks (they need the stored values) or mosaics (their
    images are untiled after the decode)."""
    try:
        stored = target_dtype(pixel_source_of_image(series.images[0]))
    except ValueError:
        return None, False
    dtype = _rs.series_dtype(series, stored, options.rescale, options.philips_scaling)
    fuse = (options.rescale is not False and not options.mask_padding
            and not series.images[0].mosaic_slices
            and stored.kind in "iu" and dtype.kind in "iuf")
    return dtype, fuse


def _slice_positions(first: ImageRef, n_tiles: int, spacing: float,
                     normal: np.ndarray) -> list[tuple[float, float, float]]:
    """Positions of the tiles of a mosaic: first tile plus k steps along the normal."""
    p0 = np.asarray(first.position, float)
    return [tuple(float(v) for v in p0 + k * spacing * normal)  # type: ignore[misc]
            for k in range(n_tiles)]


def _geometry(series: SeriesInfo, images: list[ImageRef], n_vol: int
              ) -> tuple[geometry.StackGeometry, list[tuple[float, float, float]]]:
    """Affine and checks of the first volume; positions of every slice of one volume.

    Values too large or too small for floating point (a Pixel Spacing of 1e308 or 1e-300
    mm, positions 1e308 mm apart) can still give an affine that is not finite or not
    invertible: then no header value is trusted and the whole guess is used (axial, 1 mm,
    centred on the origin), with a warning, so every volume's affine maps voxels to finite
    millimetres and can be inverted."""
    per_vol = len(images) // n_vol
    g, positions = _header_geometry(images, per_vol)
    if geometry.affine_is_usable(g.affine):
        return g, positions
    g, positions = _guessed_geometry(images[0], per_vol, geometry.DEFAULT_ORIENTATION,
                                     None, None, None)
    g.warnings.append("the header's geometry values give no finite, invertible affine "
                      "(out of floating-point range): axial orientation, 1 mm spacing and "
                      "the origin at the stack's centre assumed")
    return g, positions


def _guessed_geometry(first: ImageRef, per_vol: int, orientation: Sequence[float],
                      pixel_spacing: Sequence[float] | None, fallback: float | None,
                      start: Sequence[float] | None
                      ) -> tuple[geometry.StackGeometry, list[tuple[float, float, float]]]:
    """dcm2niix's guess: `per_vol` slices from `start` (default: the stack centred on the
    origin) along the normal of `orientation`, `fallback` mm apart (default 1 mm)."""
    normal = geometry.slice_normal(orientation)
    col_row, col_col = geometry.in_plane_columns(orientation, pixel_spacing)
    step = float(fallback or 1.0) * normal
    origin = np.asarray(start if start is not None else
                        -((first.rows - 1) * col_row + (first.columns - 1) * col_col
                          + (per_vol - 1) * step) / 2, float)
    guessed = [(float(p[0]), float(p[1]), float(p[2]))
               for p in (origin + k * step for k in range(per_vol))]
    return geometry.stack_geometry(guessed, orientation, pixel_spacing, fallback,
                                   normal=normal), guessed


def _header_geometry(images: list[ImageRef], per_vol: int
                     ) -> tuple[geometry.StackGeometry, list[tuple[float, float, float]]]:
    """:func:`_geometry` from the header's values (or dcm2niix's guess where they are
    missing)."""
    first = images[0]
    fallback = first.spacing_between_slices or first.slice_thickness
    # any slice without them, not only the first: the scan then ordered the group by
    # Instance Number (grouping.order_group, the same rule), and no affine can be fitted
    # from the positions (fuzz seed 201: frame 2 of 3 lost its Image Position, and load
    # raised numpy's ValueError)
    missing = [k for k, im in enumerate(images[:per_vol])
               if im.position is None or im.orientation is None]
    if missing or first.position is None or first.orientation is None:  # (the latter: mypy)
        # dcm2niix's guess (an axial stack, Image Orientation 1\0\0\0\1\0, the stack centred
        # on the origin): the same voxel order and affine as its NIfTI.
        g, guessed = _guessed_geometry(first, per_vol,
                                       first.orientation or geometry.DEFAULT_ORIENTATION,
                                       first.pixel_spacing, fallback, first.position)
        which = "" if len(missing) == per_vol else \
            f" on {len(missing)} of {per_vol} slices (first: slice {missing[0]})"
        assumed = ("axial orientation assumed (as dcm2niix)" if first.orientation is None
                   else "evenly spaced from the first slice")
        g.warnings.append(f"no Image Position/Orientation (Patient){which} (absent, or not "
                          f"a usable value): slices ordered by Instance Number, {assumed}")
        if which:  # a series without any: strict mode names all its files, as before
            g.problem_slices = missing
        return g, guessed
    if first.mosaic_slices:
        normal = (np.asarray(first.mosaic_normal, float) if first.mosaic_normal
                  else geometry.slice_normal(first.orientation))
        positions = _slice_positions(first, first.mosaic_slices, float(fallback or 1.0), normal)
        g = geometry.stack_geometry(positions, first.orientation, first.pixel_spacing,
                                    fallback, normal=normal)
        return g, positions
    positions = [im.position for im in images[:per_vol]]  # type: ignore[misc]
    g = geometry.stack_geometry(positions, first.orientation, first.pixel_spacing, fallback)
    return g, positions  # type: ignore[return-value]


def load_series(series: SeriesInfo, *, rescale: RescaleMode = "auto", strict: bool = False,
                handlers: HandlerChoice = None, workers: int | None = None,
                philips_scaling: PhilipsScaling = "precise", invert_monochrome1: bool = False,
                mask_padding: bool = False, convert_color: bool = True,
                max_bytes: int | None = None, options: Options | None = None) -> Volume:
    """Decode and assemble one series (from :func:`dicomdecode.scan`) into a Volume.

    Args:
        series: one :class:`~dicomdecode.series.SeriesInfo` of a scan result.
        rescale, strict, handlers, workers, philips_scaling, invert_monochrome1,
        mask_padding, convert_color, max_bytes: see :class:`dicomdecode.Options` (each checked before decoding).
        options: an Options object; the keywords override it.

    Returns:
        A :class:`~dicomdecode.volume.Volume`: ``array`` (slices, rows, cols[, samples]),
        with a leading volume axis for 4D series; ``affine``; ``meta``; ``warnings``.

    Raises:
        InconsistentSeriesError: with ``strict=True``, for any problem found (naming the
            files); otherwise problems become ``Volume.warnings``. A gantry tilt is only
            a warning: the affine is sheared to match the slice positions.

    Example:
        >>> series = dicomdecode.scan("test_data/series").series[0]   # doctest: +SKIP
        >>> dicomdecode.load_series(series, rescale=False).array.dtype  # doctest: +SKIP
    """
    opts = Options.resolve(options, rescale=rescale, strict=strict, handlers=handlers,
                           workers=workers, philips_scaling=philips_scaling,
                           invert_monochrome1=invert_monochrome1, mask_padding=mask_padding,
                           convert_color=convert_color, max_bytes=max_bytes)
    return assemble_series(series, opts)


@dataclasses.dataclass
class Decoded:
    """What the decode of a series gave the assembler: the stack of stored values (one
    entry per image, in the series' order), each image's handler ("" when it failed) and
    photometric interpretation, and path -> reason for the files that failed.

    ``placeholder``: ``stack`` only stands for the voxels (a zero-stride array of the right
    shape and dtype, :func:`placeholder_stack`): convert's overlapped road, which streams
    the voxels chunk by chunk to the file, builds the Volume's metadata from it and never
    holds the whole array. Only for options under which nothing reads or changes the
    values (``rescale=False``, no padding mask, no MONOCHROME1 inversion, no mosaic) and
    with no failures: the Volume's ``array`` is then the stand-in itself."""

    stack: np.ndarray
    handlers: list[str]
    photometrics: list[str]
    failures: dict[str, str]
    placeholder: bool = False


def placeholder_stack(series: SeriesInfo) -> np.ndarray:
    """A zero-stride read-only array with the shape and dtype the stack decode of
    ``series`` gives (no memory): what :class:`Decoded` holds when the voxels go
    elsewhere. Raises ValueError for a header the guard refuses."""
    source = pixel_source_of_image(series.images[0])
    shape = frames_shape(source, len(series.images))
    return np.broadcast_to(np.zeros((), target_dtype(source)), shape)


def assemble_series(series: SeriesInfo, options: Options,
                    decoded: Decoded | None = None) -> Volume:
    """:func:`load_series` with checked options (the form every entry point calls).

    ``decoded``: the decode already done by the caller (convert's overlapped road, which
    decodes by chunks itself); by default the series is decoded here."""
    strict = options.strict
    warnings: list[str] = []
    if series.warnings:
        _fail_or_warn(strict, f"series {series.uid}: " + "; ".join(series.warnings),
                      series.issue_paths or series.files, warnings)
    first = series.images[0]
    if first.orientation is not None:
        problem = geometry.orientation_problem(first.orientation)
        if problem:
            _fail_or_warn(strict, problem, [first.path], warnings)
    # The dtype comes from the header of the WHOLE series (not the data, not a subset), so
    # every entry point and every subset of slices gets the same dtype.
    dtype, fuse = _output_dtype(series, options)
    all_scales, convention = _rs.image_scales(series.images, options.philips_scaling)
    if decoded is None:
        decoded = decode_images(series.images, options, dtype if fuse else None,
                                all_scales if fuse else None)
    stack, handler_names = decoded.stack, decoded.handlers
    photometrics, failures = decoded.photometrics, decoded.failures
    ok = [bool(h) for h in handler_names]
    keep, n_vol = _kept_indices(series, ok, failures, strict, warnings)
    images = [series.images[i] for i in keep]
    if len(keep) != len(series.images):
        stack = stack[keep]
        handler_names = [handler_names[i] for i in keep]
        photometrics = [photometrics[i] for i in keep]

    geo, positions = _geometry(series, images, n_vol)
    for w in geo.warnings:
        if "tilt" in w:
            warnings.append(w)
        else:
            bad = [images[i].path for i in geo.problem_slices if i < len(images)]
            _fail_or_warn(strict, f"series {series.uid}: {w}", bad or series.files, warnings)

    rescale_mode = options.rescale
    scales = [all_scales[i] for i in keep]
    assert dtype is not None  # a refused header raised in decode_stack
    padding = _padding_mask(stack, series.meta) if options.mask_padding else None
    if padding is not None:
        dtype = np.dtype(np.float32)  # NaN needs a float array, rescaled or not
        rescale_mode = rescale_mode is not False
    data = stack if fuse else _rs.apply_stack(stack, scales, dtype, rescale_mode,
                                              images[0].path if images else series.uid)
    if padding is not None:
        data[padding] = np.nan
    if first.mosaic_slices:
        vol = data  # one image per volume already holds all slices
    else:
        per_vol = len(images) // n_vol
        vol = data.reshape(n_vol, per_vol, *data.shape[1:])
    photometric = photometrics[0]
    meta = _volume_meta(series, convention, rescale_mode, dtype, geo, photometric, n_vol)
    meta["PaddingMaskedVoxels"] = int(padding.sum()) if padding is not None else None
    # structured: path -> why it is not in the volume (read by convert's report)
    meta["FailedFiles"] = dict(sorted(failures.items()))
    if photometric == "MONOCHROME1" and options.invert_monochrome1:
        vol = _invert(vol)
        meta["MONOCHROME1Inverted"] = True
    if n_vol == 1:
        vol = vol[0]
    slices = _slice_infos(images, handler_names, scales, positions, n_vol, rescale_mode)
    array = vol if decoded.placeholder else np.ascontiguousarray(vol)
    return Volume(array=array, affine=geo.affine, meta=meta,
                  slices=slices, warnings=warnings)


def _padding_mask(stack: np.ndarray, meta: dict[str, Any]) -> np.ndarray | None:
    """Stored values that are padding (PS3.3 C.7.5.1.1.2), or None without a padding value."""
    value = meta.get("PixelPaddingValue")
    if value is None or isinstance(value, list) or stack.dtype.kind not in "ui":
        return None
    limit = meta.get("PixelPaddingRangeLimit")
    if isinstance(limit, int | float):
        low, high = sorted((value, limit))
        return (stack >= low) & (stack <= high)
    return stack == value


def _invert(vol: np.ndarray) -> np.ndarray:
    """MONOCHROME1 -> MONOCHROME2 by mirroring values within the array's range."""
    lo, hi = vol.min(), vol.max()
    return (hi - vol + lo).astype(vol.dtype)


def _volume_meta(series: SeriesInfo, convention: str, mode: Any, dtype: np.dtype,
                 geo: geometry.StackGeometry, photometric: str, n_vol: int) -> dict[str, Any]:
    meta = dict(series.meta)
    meta.update({
        "SeriesUID": series.uid,
        "Kind": series.kind,
        "NumberOfVolumes": n_vol,
        "Rescale": mode,
        "RescaleConvention": convention if mode is not False else "none (stored values)",
        "PhilipsScaling": convention if convention.startswith("philips") else None,
        "dtype": str(np.dtype(dtype)),
        "PhotometricInterpretation": photometric,
        "MONOCHROME1": photometric == "MONOCHROME1",
        "PixelPaddingValue": series.meta.get("PixelPaddingValue"),
        "GantryTiltDegrees": geo.tilt_deg,
        "SliceSpacing": geo.slice_spacing_mm,
        "WorstSpacingDeviation": geo.worst_spacing_deviation_mm,
    })
    return meta


def _slice_infos(images: list[ImageRef], handler_names: list[str], scales: list[_rs.Scale],
                 positions: list[tuple[float, float, float]], n_vol: int,
                 mode: Any) -> list[SliceInfo]:
    out: list[SliceInfo] = []
    per_vol = len(images) // max(n_vol, 1)
    for i, (im, handler, sc) in enumerate(zip(images, handler_names, scales, strict=True)):
        tiles = positions if im.mosaic_slices else [positions[i % per_vol]]
        for pos in tiles:
            out.append(SliceInfo(path=im.path, sop_instance_uid=im.sop_instance_uid,
                                 frame=im.frame, position=tuple(pos),  # type: ignore[arg-type]
                                 slope=sc.slope, intercept=sc.intercept,
                                 transfer_syntax=im.transfer_syntax, handler=handler))
    return out


__all__ = ["Decoded", "assemble_series", "decode_images", "load_series", "placeholder_stack"]
