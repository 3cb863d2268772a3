"""The Volume type: one assembled series, its geometry, and where every slice came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # nibabel is a core dependency, but import it lazily for start-up time
    import nibabel
    import SimpleITK
    from vtkmodules.vtkCommonDataModel import vtkImageData


@dataclass(frozen=True)
class SliceInfo:
    """Provenance of one 2D slice (or one frame of a multi-frame file) in a Volume."""

    path: str
    sop_instance_uid: str
    frame: int  # 0-based frame index inside the file (0 for single-frame files)
    position: tuple[float, float, float]  # Image Position (Patient), LPS mm
    slope: float
    intercept: float
    transfer_syntax: str
    handler: str  # name of the handler that decoded it ("" when not decoded)


@dataclass(repr=False)
class Volume:
    """One series as an array with a 4x4 affine.

    ``array`` is C-contiguous, ``(slices, rows, cols[, samples])`` or for 4D
    ``(volumes, slices, rows, cols)``. ``affine`` maps ``(slice, row, col, 1)`` to
    patient coordinates (LPS, mm). ``slices`` follows the array order (for 4D:
    volume-major, then slice).
    """

    array: np.ndarray
    affine: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    slices: list[SliceInfo] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm along (slice, row, col): the column norms of the affine."""
        norms = np.linalg.norm(self.affine[:3, :3], axis=0)
        return (float(norms[0]), float(norms[1]), float(norms[2]))

    @property
    def origin(self) -> tuple[float, float, float]:
        """Patient position (LPS mm) of voxel (0, 0, 0)."""
        return tuple(float(v) for v in self.affine[:3, 3])  # type: ignore[return-value]

    @property
    def direction(self) -> np.ndarray:
        """3x3 unit direction cosines, columns along (slice, row, col)."""
        cols = self.affine[:3, :3]
        return cols / np.linalg.norm(cols, axis=0)

    def __repr__(self) -> str:
        """One line: what a person needs to recognise the volume (the array is not printed)."""
        spacing = "x".join(f"{v:.3g}" for v in self.spacing)
        what = " ".join(str(self.meta[k]) for k in ("Modality", "SeriesDescription")
                        if self.meta.get(k))
        shape = "x".join(map(str, self.array.shape))
        return (f"<Volume {what or 'series'} {shape} {self.array.dtype}, {spacing} mm, "
                f"{len(self.slices)} slice(s), {len(self.warnings)} warning(s)>")

    def to_nifti(self) -> nibabel.Nifti1Image:
        """Return a nibabel image in the usual NIfTI convention (x, y, z[, t]) in RAS+."""
        from dicomdecode.nifti import volume_to_nifti

        return volume_to_nifti(self)

    def to_sitk(self) -> SimpleITK.Image:
        """A SimpleITK image (x = column, y = row, z = slice), origin/spacing/direction
        in LPS as ``sitk.ImageSeriesReader`` gives them (``pip install
        "dicomdecode[sitk]"``)."""
        from dicomdecode.interop import to_sitk

        return to_sitk(self)

    def to_vtk(self) -> vtkImageData:
        """A ``vtkImageData`` with origin, spacing and direction matrix in LPS, scalars
        sharing this array's memory (``pip install "dicomdecode[vtk]"``, VTK >= 9.1)."""
        from dicomdecode.interop import to_vtk

        return to_vtk(self)
