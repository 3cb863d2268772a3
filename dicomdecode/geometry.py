"""Slice geometry: the slice normal, geometric ordering, spacing checks, the affine, tilt.

Everything here is pure numpy on header values (Image Orientation/Position (Patient),
Pixel Spacing), so it can be tested without any pixel data. Coordinates are DICOM
patient coordinates (LPS, mm). The affine maps an array index ``(slice, row, col, 1)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

#: Positions closer than this along the normal (mm) are the same slice position.
POSITION_TOLERANCE_MM = 0.01
#: Relative deviation of one slice gap from the mean gap that counts as irregular.
SPACING_TOLERANCE = 0.01
#: Angle (degrees) between the slice step and the normal above which we call it tilt.
TILT_TOLERANCE_DEG = 0.01


#: Orientation assumed when a series has none (dcm2niix's guess: axial, rows along x).
DEFAULT_ORIENTATION: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def row_col_cosines(orientation: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Split Image Orientation (Patient) into (row cosine, column cosine) unit vectors.

    The row cosine is the direction of increasing column index (along a row).
    """
    iop = np.asarray(orientation, dtype=np.float64)
    return iop[:3], iop[3:6]


def slice_normal(orientation: Sequence[float]) -> np.ndarray:
    """Unit normal of the image plane: row cosine x column cosine."""
    r, c = row_col_cosines(orientation)
    n = np.cross(r, c)
    norm = np.linalg.norm(n)
    return n / norm if norm > 0 else n


#: Below this, |row x column| of the unit cosines spans no plane (parallel, ~0.6 degrees).
DEGENERATE_NORMAL = 0.01


def usable_orientation(orientation: Sequence[float] | None) -> tuple[float, ...] | None:
    """`orientation` (six finite floats) when its two cosines span a plane, else None.

    Zero-length or parallel direction cosines define no slice normal: every position
    would project to the same distance and the stack would fall apart into one volume
    per slice. Such a value is as good as absent, and the assembler's rule for a series
    without orientation applies (dcm2niix's axial guess, with a warning). A cosine that
    is merely not unit or not orthogonal still defines the plane: it is kept and warned
    about (:func:`orientation_problem`). Plain floats, not NumPy: this runs per file."""
    if orientation is None or len(orientation) != 6:
        return None
    rx, ry, rz, cx, cy, cz = orientation
    r_norm = math.sqrt(rx * rx + ry * ry + rz * rz)
    c_norm = math.sqrt(cx * cx + cy * cy + cz * cz)
    if not r_norm > 1e-6 or not c_norm > 1e-6:  # also false for NaN
        return None
    nx, ny, nz = ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx
    if not math.sqrt(nx * nx + ny * ny + nz * nz) / (r_norm * c_norm) > DEGENERATE_NORMAL:
        return None
    return tuple(orientation)


def affine_is_usable(affine: np.ndarray) -> bool:
    """Every entry finite, and the 3x3 part invertible with a finite determinant."""
    if not np.isfinite(affine).all():
        return False
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        det = float(np.linalg.det(np.asarray(affine, float)[:3, :3]))
    return math.isfinite(det) and det != 0.0


def orientation_problem(orientation: Sequence[float], tol: float = 1e-3) -> str | None:
    """Say what is wrong with an orientation (not unit, not orthogonal), or None."""
    r, c = row_col_cosines(orientation)
    if abs(np.linalg.norm(r) - 1) > tol or abs(np.linalg.norm(c) - 1) > tol:
        return f"Image Orientation (Patient) {list(orientation)} has non-unit direction cosines"
    if abs(float(np.dot(r, c))) > tol:
        return (f"Image Orientation (Patient) {list(orientation)} is not orthogonal "
                f"(dot product {float(np.dot(r, c)):.4g})")
    return None


def same_orientation(a: Sequence[float], b: Sequence[float], tol: float = 1e-3) -> bool:
    """True when two orientations are equal within ``tol`` per cosine."""
    if tol >= 0 and a == b and all(type(v) is float and math.isfinite(v) for v in a):
        return True  # the same finite floats (every slice of a series): no arrays needed
    return bool(np.max(np.abs(np.asarray(a, float) - np.asarray(b, float))) <= tol)


def project(positions: Sequence[Sequence[float]], normal: np.ndarray) -> np.ndarray:
    """Distance of each position along the normal (mm)."""
    return np.asarray(positions, dtype=np.float64).reshape(-1, 3) @ normal


def cluster_positions(distances: Sequence[float] | np.ndarray,
                      tol: float = POSITION_TOLERANCE_MM) -> list[list[int]]:
    """Group indices whose distance along the normal is equal within ``tol``.

    Returns the groups in ascending distance; indices inside a group keep input order.
    """
    d = np.asarray(distances, dtype=np.float64)
    order = np.argsort(d, kind="stable")
    groups: list[list[int]] = []
    last = None
    for i in order:
        if last is None or d[i] - last > tol:
            groups.append([int(i)])
        else:
            groups[-1].append(int(i))
        last = d[i]
    return groups


@dataclass
class StackGeometry:
    """Affine of one ordered stack of slices and what the checks found."""

    affine: np.ndarray
    warnings: list[str] = field(default_factory=list)
    #: Indices (into the stack) of slices involved in a problem, for error messages.
    problem_slices: list[int] = field(default_factory=list)
    tilt_deg: float = 0.0
    worst_spacing_deviation_mm: float = 0.0
    slice_spacing_mm: float = 0.0


def in_plane_columns(orientation: Sequence[float],
                     pixel_spacing: Sequence[float] | None) -> tuple[np.ndarray, np.ndarray]:
    """Affine columns for the row index and the column index.

    Pixel Spacing is (row spacing, column spacing): moving one row goes along the
    column cosine by the row spacing, one column along the row cosine by the column spacing.
    """
    r, c = row_col_cosines(orientation)
    # missing or zero Pixel Spacing: 1 mm, as dcm2niix (never a singular affine)
    ps = (1.0, 1.0) if not pixel_spacing or min(float(v) for v in pixel_spacing) <= 0 \
        else (float(pixel_spacing[0]), float(pixel_spacing[1]))
    return c * ps[0], r * ps[1]


def stack_geometry(positions: Sequence[Sequence[float]], orientation: Sequence[float],
                   pixel_spacing: Sequence[float] | None,
                   fallback_spacing: float | None = None,
                   normal: np.ndarray | None = None) -> StackGeometry:
    """Affine for slices already in geometric order, plus spacing/tilt/gap checks.

    The slice column of the affine is the mean step between consecutive positions
    ``(last - first) / (n - 1)``, so a gantry-tilted stack gets a sheared affine that
    maps every slice index onto its Image Position (Patient). A single slice uses the
    normal times ``fallback_spacing`` (Spacing Between Slices or Slice Thickness).
    """
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    n_vec = slice_normal(orientation) if normal is None else np.asarray(normal, float)
    col_row, col_col = in_plane_columns(orientation, pixel_spacing)
    warnings: list[str] = []
    problems: list[int] = []
    tilt = 0.0
    worst = 0.0
    if len(pos) > 1:
        step = (pos[-1] - pos[0]) / (len(pos) - 1)
        gaps = np.diff(pos @ n_vec)
        mean_gap = float(np.mean(gaps))
        dev = np.abs(gaps - mean_gap)
        worst = float(dev.max())
        if worst > max(SPACING_TOLERANCE * abs(mean_gap), 1e-3):
            bad = [int(i) for i in np.nonzero(dev > SPACING_TOLERANCE * abs(mean_gap))[0]]
            problems.extend(sorted({j for i in bad for j in (i, i + 1)}))
            kind = "irregular slice spacing"
            if np.any(gaps > 1.5 * np.median(gaps)):
                kind += " (missing slices?)"
            warnings.append(
                f"{kind}: gaps {gaps.min():.4g}..{gaps.max():.4g} mm, mean {mean_gap:.4g} mm, "
                f"worst deviation {worst:.4g} mm")
        cos_angle = abs(float(np.dot(step, n_vec))) / max(float(np.linalg.norm(step)), 1e-12)
        tilt = float(np.degrees(np.arccos(min(1.0, cos_angle))))
        if tilt > TILT_TOLERANCE_DEG:
            warnings.append(f"gantry tilt of {tilt:.3g} degrees: slices are sheared, "
                            f"the affine is sheared to match their positions")
        spacing = float(np.linalg.norm(step))
    else:
        spacing = float(fallback_spacing) if fallback_spacing else 1.0
        step = n_vec * spacing
    affine = np.eye(4)
    affine[:3, 0] = step
    affine[:3, 1] = col_row
    affine[:3, 2] = col_col
    affine[:3, 3] = pos[0]
    return StackGeometry(affine=affine, warnings=warnings, problem_slices=problems,
                         tilt_deg=tilt, worst_spacing_deviation_mm=worst,
                         slice_spacing_mm=spacing)
