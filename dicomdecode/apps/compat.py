"""Drop-in for dicom-numpy: ``combine_slices(datasets)`` -> ``(voxels, ijk_to_xyz)``.

Code written for dicom-numpy 0.6.x (``from dicom_numpy import combine_slices``) works
unchanged with ``from dicomdecode.compat import combine_slices``: same signature and
defaults, same sort orders, same validation rules and tolerances, same exception names
(raised on the same inputs), same array axis order, memory order and dtype rules, same
float32 affine. What changes is where the pixels come from: each Dataset is decoded
through dicomdecode's one road (:func:`dicomdecode.decode`), not ``ds.pixel_array``, so
every transfer syntax a dicomdecode handler reads works without pydicom's plugins, the
pixel guard runs first, and a bad file raises a typed error naming it.

dicom-numpy's conventions, kept on purpose (they differ from :func:`dicomdecode.load`):

* axes ``(i, j, k)`` = (column, row, slice), a Fortran-ordered array, unless
  ``c_order_axes=True`` gives ``(k, j, i)`` C-ordered;
* slices sorted by position along the normal, ascending (``sort_by_instance=True``:
  Instance Number descending; ``skip_sorting=True``: as given);
* ``rescale=None`` rescales to float32 when any slice carries Rescale Slope or
  Intercept, ``True`` always, ``False`` never (the stored dtype);
* the affine maps ``(i, j, k, 1)`` to patient coordinates (LPS, mm), as float32, with
  the median slice step as k spacing (``SpacingBetweenSlices``, else 0, for one slice).

The two exceptions derive from :class:`dicomdecode.DicomDecodeError`, so either
family of ``except`` clauses catches them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from math import isclose
from typing import Any, cast

import numpy as np

from dicomdecode.decode import decode
from dicomdecode.engine.allocator import allocate
from dicomdecode.errors import DicomDecodeError

logger = logging.getLogger(__name__)

#: the DICOMDIR Media Storage SOP Class (a SOP class, not a transfer syntax)
_DICOMDIR = "1.2.840.10008.1.3.10"

#: attributes every slice must share exactly (dicom-numpy's invariant properties)
_INVARIANT = ("Modality", "SOPClassUID", "SeriesInstanceUID", "Rows", "Columns",
              "SamplesPerPixel", "PixelSpacing", "PixelRepresentation", "BitsAllocated")


class DicomImportException(DicomDecodeError):
    """The datasets cannot be combined into one volume (dicom-numpy's exception name)."""


class MissingInstanceNumberException(DicomDecodeError):
    """``sort_by_instance=True`` and a dataset has no Instance Number."""


class MissingAttributeError(DicomImportException, AttributeError, TypeError):
    """A dataset lacks an attribute the geometry needs (Image Orientation/Position
    (Patient), Pixel Spacing). dicom-numpy fails there with a bare AttributeError or,
    comparing ``None``, a TypeError: this is both, so their ``except`` clauses still
    catch it, and it names the file and the attribute."""


def _malformed() -> tuple[type[BaseException], ...]:
    from pydicom.errors import BytesLengthException

    return (ValueError, TypeError, AttributeError, IndexError, KeyError, ArithmeticError,
            BytesLengthException)


_MALFORMED = _malformed()


def _get(ds: Any, keyword: str) -> Any:
    value = getattr(ds, keyword, None)
    if value is None:
        raise MissingAttributeError(f"no {keyword}: cannot place the slice", _name(ds))
    return value


def combine_slices(datasets: Iterable[Any], rescale: bool | None = None,
                   enforce_slice_spacing: bool = True, sort_by_instance: bool = False,
                   skip_sorting: bool = False, c_order_axes: bool = False
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Stack pydicom Datasets of one series into ``(voxels, ijk_to_xyz)``, as dicom-numpy.

    Args:
        datasets: pydicom Datasets of one series, in any order and any transfer syntax
            (DICOMDIR datasets are ignored); read with ``stop_before_pixels=True`` they
            are decoded from their file.
        rescale: ``None`` (float32 rescaled when any slice has Rescale Slope/Intercept),
            ``True`` (always float32 rescaled) or ``False`` (stored values and dtype).
        enforce_slice_spacing: raise when the slice steps differ by more than 10 %
            (missing slices); steps differing by more than 1e-5 are logged.
        sort_by_instance: order by Instance Number, descending.
        skip_sorting: keep the given order (overrides `sort_by_instance`).
        c_order_axes: ``(k, j, i)`` C-ordered instead of ``(i, j, k)`` Fortran-ordered.

    Returns:
        The voxels and the 4x4 float32 affine from ``(i, j, k, 1)`` to patient LPS mm.

    Raises:
        DicomImportException: no image dataset, slices that differ in an invariant
            attribute or orientation, non-orthonormal cosines, missing slices.
        MissingInstanceNumberException: `sort_by_instance` without Instance Numbers.
        MissingAttributeError: a dataset lacks Image Orientation/Position (Patient) or
            Pixel Spacing (a DicomImportException that is also the AttributeError /
            TypeError dicom-numpy lets through there).
        DecodeError, MissingHandlerError, ...: a slice's pixels cannot be decoded (the
            errors of :func:`dicomdecode.decode`, naming the file).

    Example:
        >>> voxels, ijk_to_xyz = combine_slices([pydicom.dcmread(f) for f in files])  # doctest: +SKIP
    """
    slices = [ds for ds in datasets if not _is_dicomdir(ds)]
    if not slices:
        raise DicomImportException("Must provide at least one image DICOM dataset")
    return _combine(slices, rescale, enforce_slice_spacing, sort_by_instance, skip_sorting,
                    c_order_axes)


def _combine(slices: list[Any], rescale: bool | None, enforce_slice_spacing: bool,
             sort_by_instance: bool, skip_sorting: bool, c_order_axes: bool
             ) -> tuple[np.ndarray, np.ndarray]:
    try:
        if skip_sorting:
            ordered = slices
        elif sort_by_instance:
            ordered = sort_by_instance_number(slices)
        else:
            ordered = sort_by_slice_position(slices)
        _validate_uniform_grid(ordered, enforce_slice_spacing)
        affine = _ijk_to_patient_xyz(ordered)
    except DicomDecodeError:
        raise
    except _MALFORMED as exc:
        # a geometry value of the wrong kind or length (Pixel Spacing 'abc', a 2-value
        # orientation, a 1-byte US): no usable attribute, so the slice cannot be placed;
        # a typed error naming the file, as a missing one (issue 20, fuzz 'agree')
        raise MissingAttributeError(f"malformed geometry value: {type(exc).__name__}: {exc}",
                                    _name(slices[0])) from exc
    voxels = _merge_pixels(ordered, rescale, c_order_axes)
    return voxels, affine


def sort_by_instance_number(slice_datasets: Sequence[Any]) -> list[Any]:
    """The datasets by Instance Number, descending (the slice axis' increasing direction
    for the usual exports); no pixels needed."""
    numbers = [getattr(ds, "InstanceNumber", None) for ds in slice_datasets]
    if any(n is None for n in numbers):
        raise MissingInstanceNumberException("every dataset needs an Instance Number to "
                                             "sort by instance")
    pairs = sorted(zip(numbers, slice_datasets, strict=True), key=lambda v: int(cast(Any, v[0])),
                   reverse=True)
    return [ds for _, ds in pairs]


def sort_by_slice_position(slice_datasets: Sequence[Any]) -> list[Any]:
    """The datasets by position along the slice normal, ascending; no pixels needed."""
    positions = _slice_positions(slice_datasets)
    pairs = sorted(zip(positions, slice_datasets, strict=True), key=lambda v: v[0])
    return [ds for _, ds in pairs]


def _name(ds: Any) -> str | None:
    filename = getattr(ds, "filename", None)
    return filename if isinstance(filename, str) and filename else None


def _is_dicomdir(ds: Any) -> bool:
    return getattr(ds, "MediaStorageSOPClassUID", None) == _DICOMDIR


def _cosines(orientation: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    row = np.array(orientation[:3])
    column = np.array(orientation[3:])
    return row, column, np.cross(row, column)


def _slice_positions(datasets: Sequence[Any]) -> list[float]:
    _, _, normal = _cosines(_get(datasets[0], "ImageOrientationPatient"))
    return [np.dot(normal, _get(ds, "ImagePositionPatient")) for ds in datasets]


def _validate_uniform_grid(datasets: Sequence[Any], enforce_slice_spacing: bool) -> None:
    """dicom-numpy's checks, in its order and with its tolerances."""
    first = datasets[0]
    for keyword in _INVARIANT:
        expected = getattr(first, keyword, None)
        for ds in datasets[1:]:
            value = getattr(ds, keyword, None)
            if value != expected:
                raise DicomImportException(f'All slices must have the same value for '
                                           f'"{keyword}": {value} != {expected}', _name(ds))
    _validate_orientation(_get(first, "ImageOrientationPatient"), _name(first))
    expected = first.ImageOrientationPatient
    for ds in datasets[1:]:
        value = _get(ds, "ImageOrientationPatient")
        if not np.allclose(value, expected, atol=1e-5):
            raise DicomImportException(
                f'All slices must have the same value for "ImageOrientationPatient" within '
                f'"1e-05": {value} != {expected}', _name(ds))
    if enforce_slice_spacing:
        _check_missing_slices(_slice_positions(datasets))


def _validate_orientation(orientation: Sequence[Any], name: str | None) -> None:
    """Orthogonal unit cosines within 1e-4 (a warning is logged beyond 1e-8)."""
    row, column, _ = _cosines(orientation)
    checks = (
        (float(np.dot(row, column)), 0.0, f"Non-orthogonal direction cosines: {row}, {column}",
         f"Direction cosines aren't quite orthogonal: {row}, {column}"),
        (float(np.linalg.norm(row)), 1.0, f"The row direction cosine's magnitude is not 1: "
         f"{row}", f"The row direction cosine's magnitude is not quite 1: {row}"),
        (float(np.linalg.norm(column)), 1.0, f"The column direction cosine's magnitude is not "
         f"1: {column}", f"The column direction cosine's magnitude is not quite 1: {column}"),
    )
    for value, target, error, warning in checks:
        if not isclose(value, target, abs_tol=1e-4):
            raise DicomImportException(error, name)
        if not isclose(value, target, abs_tol=1e-8):
            logger.warning(warning)


def orientation_refusal(ds: Any) -> str | None:
    """Why dicom-numpy's rule (orthogonal unit direction cosines) refuses the orientation
    of `ds`, or None (also when it has none: that is a missing attribute). The pixels may
    be fine: ``dicomdecode.load`` reads such a file, warning about the orientation or,
    where it spans no plane, treating it as absent. The fuzz harness asks this to tell
    this road's geometry rule from a disagreement about pixels."""
    orientation = getattr(ds, "ImageOrientationPatient", None)
    if orientation is None:
        return None
    try:
        _validate_orientation(orientation, None)
    except DicomImportException as exc:
        return str(exc)
    except _MALFORMED:
        return None  # malformed: a MissingAttributeError where combine_slices reads it
    return None


def _check_missing_slices(positions: list[float]) -> None:
    if len(positions) <= 1:
        return
    steps = np.diff(sorted(positions))
    if not np.allclose(steps, steps[0], atol=0, rtol=1e-5):
        logger.warning(f"The slice spacing is non-uniform. Slice spacings:\n{steps}")
    if not np.allclose(steps, steps[0], atol=0, rtol=1e-1):
        raise DicomImportException("It appears there are missing slices")


def _pixels(ds: Any) -> np.ndarray:
    """One dataset's pixels in ``pixel_array``'s shape: ``(rows, cols[, samples])`` for one
    frame, ``(frames, rows, cols[, samples])`` for several; decoded by dicomdecode.

    A Dataset read without its pixels (``stop_before_pixels=True``) whose ``filename``
    is a file gets them from that file, read by offset (dicom-numpy cannot do this)."""
    name = _name(ds)
    if name and "PixelData" not in ds and os.path.isfile(name):
        frames = decode(name, dataset=ds).array
    else:
        frames = decode(ds).array
    return frames[0] if frames.shape[0] == 1 else frames


def _requires_rescaling(ds: Any) -> bool:
    return hasattr(ds, "RescaleSlope") or hasattr(ds, "RescaleIntercept")


def _merge_pixels(datasets: Sequence[Any], rescale: bool | None, c_order_axes: bool
                  ) -> np.ndarray:
    if rescale is None:
        rescale = any(_requires_rescaling(ds) for ds in datasets)
    first = _pixels(datasets[0])
    dtype = np.float32 if rescale else first.dtype
    # through the one allocation helper: a size the OS refuses is a ResourceLimitError
    # naming the file, never a bare MemoryError (the F-ordered array is the transpose of
    # a C-ordered one)
    name = _name(datasets[0]) or "<memory>"
    if c_order_axes:
        voxels = allocate((len(datasets), *first.shape), dtype, name, what="the voxels")
    else:
        voxels = allocate((len(datasets), *first.shape), dtype, name, what="the voxels").T
    for k, ds in enumerate(datasets):
        pixels = first if k == 0 else _pixels(ds)
        target = voxels[k, ...] if c_order_axes else voxels[..., k]
        if not c_order_axes:
            pixels = pixels.T
        if rescale:
            # dicom-numpy's ``pixels.astype(float32) * slope + intercept``, float32
            # throughout, computed in place: the same bits without two temporaries
            slope = np.float32(float(getattr(ds, "RescaleSlope", 1)))
            intercept = np.float32(float(getattr(ds, "RescaleIntercept", 0)))
            np.multiply(pixels, slope, out=target, dtype=np.float32)
            np.add(target, intercept, out=target)
        else:
            target[...] = pixels
    return voxels


def _slice_spacing(datasets: Sequence[Any]) -> Any:
    if len(datasets) > 1:
        return np.median(np.diff(_slice_positions(datasets)))
    return getattr(datasets[0], "SpacingBetweenSlices", 0)


def _ijk_to_patient_xyz(datasets: Sequence[Any]) -> np.ndarray:
    first = datasets[0]
    row, column, normal = _cosines(_get(first, "ImageOrientationPatient"))
    row_spacing, column_spacing = _get(first, "PixelSpacing")
    transform = np.identity(4, dtype=np.float32)
    transform[:3, 0] = row * column_spacing
    transform[:3, 1] = column * row_spacing
    transform[:3, 2] = normal * _slice_spacing(datasets)
    transform[:3, 3] = _get(first, "ImagePositionPatient")
    return transform


__all__ = ["DicomImportException", "MissingAttributeError", "MissingInstanceNumberException",
           "combine_slices", "orientation_refusal", "sort_by_instance_number",
           "sort_by_slice_position"]
