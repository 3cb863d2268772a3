"""Volume -> SimpleITK and VTK images with the same voxels and the same LPS geometry.

Both toolkits index voxels ``(x, y, z)`` = (column, row, slice) with x fastest, which is
exactly the memory order of the Volume's C-contiguous ``(slices, rows, cols)`` array: no
transpose, no copy of the voxels is needed. Their geometry is origin + spacing + a 3x3
direction matrix whose columns are the x, y, z axes in patient LPS mm, so the Volume's
affine columns are only reordered (slice, row, col) -> (col, row, slice).

Colour volumes (``SamplesPerPixel`` > 1, samples last) become multi-component images;
4D volumes ``(volumes, slices, rows, cols)`` are refused (both toolkits' 3D readers give
one volume; pass ``vol.array[t]`` through a Volume of your own for one time point).

The libraries are imported here, on first use: ``pip install "dicomdecode[sitk]"`` /
``"dicomdecode[vtk]"``; without them an ImportError says which extra to install.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from dicomdecode.volume import Volume


def _spatial(volume: Volume) -> tuple[np.ndarray, int]:
    """The C-contiguous array and its samples per voxel; ValueError for 4D."""
    arr = np.ascontiguousarray(volume.array)
    samples = int(volume.meta.get("SamplesPerPixel", 1) or 1)
    colour = samples > 1 and arr.ndim == 4 and arr.shape[-1] == samples
    if arr.ndim - (1 if colour else 0) != 3:
        raise ValueError(f"a {arr.ndim}-D array {arr.shape} is not one 3D volume: convert "
                         "one time point at a time (volume.array[t])")
    return arr, samples if colour else 1


def geometry_xyz(volume: Volume) -> tuple[tuple[float, float, float],
                                          tuple[float, float, float], np.ndarray]:
    """(origin, spacing, direction) in the toolkits' (x, y, z) = (col, row, slice) order:
    LPS mm; `direction` is 3x3 with the unit x, y, z axes as columns."""
    cols = np.asarray(volume.affine, dtype=float)[:3, [2, 1, 0]]
    spacing = np.linalg.norm(cols, axis=0)
    direction = cols / np.where(spacing > 0, spacing, 1.0)
    origin = tuple(float(v) for v in np.asarray(volume.affine, dtype=float)[:3, 3])
    return (origin, (float(spacing[0]), float(spacing[1]), float(spacing[2])),  # type: ignore[return-value]
            direction)


def to_sitk(volume: Volume) -> Any:
    """A ``SimpleITK.Image`` (x = column, y = row, z = slice) with LPS origin, spacing
    and direction, as ``sitk.ImageSeriesReader`` would give for the same files."""
    arr, samples = _spatial(volume)
    try:
        import SimpleITK as sitk
    except ImportError as exc:  # pragma: no cover - exercised only without SimpleITK
        raise ImportError('Volume.to_sitk needs SimpleITK: pip install "dicomdecode[sitk]"'
                          ) from exc
    image = sitk.GetImageFromArray(arr, isVector=samples > 1)
    origin, spacing, direction = geometry_xyz(volume)
    image.SetOrigin(origin)
    image.SetSpacing(spacing)
    image.SetDirection(tuple(float(v) for v in direction.ravel()))  # row-major 3x3
    return image


def to_vtk(volume: Volume) -> Any:
    """A ``vtkImageData`` with origin, spacing and direction matrix (VTK >= 9.1); the
    point scalars share the Volume's memory when the array is C-contiguous (the array
    is kept alive by the VTK array), else they hold a contiguous copy."""
    arr, samples = _spatial(volume)
    try:
        from vtkmodules.util import numpy_support
        from vtkmodules.vtkCommonDataModel import vtkImageData
    except ImportError as exc:  # pragma: no cover - exercised only without VTK
        raise ImportError('Volume.to_vtk needs VTK >= 9.1: pip install "dicomdecode[vtk]"'
                          ) from exc
    image = vtkImageData()
    if not hasattr(image, "SetDirectionMatrix"):  # pragma: no cover - VTK < 9.1
        raise ImportError('Volume.to_vtk needs VTK >= 9.1 (image direction): '
                          'pip install "dicomdecode[vtk]"')
    slices, rows, columns = arr.shape[:3]
    image.SetDimensions(columns, rows, slices)
    origin, spacing, direction = geometry_xyz(volume)
    image.SetOrigin(origin)
    image.SetSpacing(spacing)
    image.SetDirectionMatrix(tuple(float(v) for v in direction.ravel()))
    flat = arr.reshape(-1, samples) if samples > 1 else arr.reshape(-1)
    scalars = numpy_support.numpy_to_vtk(flat, deep=False)
    scalars.SetName("scalars")
    image.GetPointData().SetScalars(scalars)
    return image


__all__ = ["geometry_xyz", "to_sitk", "to_vtk"]
