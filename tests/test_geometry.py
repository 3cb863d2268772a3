"""Geometry helpers against hand-computed DICOM geometry (PS3.3 C.7.6.2.1.1)."""

from __future__ import annotations

import numpy as np
import pytest

from dicomdecode import geometry
from dicomdecode.nifti import nifti_affine
from dicomdecode.scan.flavours.mosaic import corrected_position, untile

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)


def test_slice_normal_is_row_cross_column() -> None:
    assert np.allclose(geometry.slice_normal(AXIAL), [0, 0, 1])
    assert np.allclose(geometry.slice_normal(SAGITTAL), [-1, 0, 0])


def test_affine_columns_follow_the_dicom_pixel_formula() -> None:
    positions = [(10.0, 20.0, 30.0 + 2.5 * k) for k in range(4)]
    g = geometry.stack_geometry(positions, AXIAL, (0.8, 0.6))
    # pixel (r, c) of slice k = IPP_k + c * RowCos * dCol + r * ColCos * dRow
    for k, (r, c) in enumerate([(0, 0), (3, 1), (5, 7), (2, 9)]):
        want = np.asarray(positions[k]) + c * np.array([1, 0, 0]) * 0.6 \
            + r * np.array([0, 1, 0]) * 0.8
        assert np.allclose((g.affine @ [k, r, c, 1])[:3], want)
    assert g.warnings == [] and g.slice_spacing_mm == pytest.approx(2.5)


def test_missing_slice_reports_worst_deviation() -> None:
    z = [0.0, 3.0, 6.0, 12.0, 15.0]  # the 9 mm slice is missing
    g = geometry.stack_geometry([(0, 0, v) for v in z], AXIAL, (1, 1))
    assert any("missing" in w for w in g.warnings)
    gaps = np.diff(z)
    assert g.worst_spacing_deviation_mm == pytest.approx(np.max(np.abs(gaps - gaps.mean())))
    assert 2 in g.problem_slices and 3 in g.problem_slices


def test_tilted_stack_gets_sheared_affine_and_tilt_warning() -> None:
    tilt = np.radians(15)
    iop = (1.0, 0.0, 0.0, 0.0, np.cos(tilt), -np.sin(tilt))
    positions = [(0.0, 0.0, 5.0 * k) for k in range(6)]  # table moves along z only
    g = geometry.stack_geometry(positions, iop, (0.5, 0.5))
    assert any("tilt" in w for w in g.warnings)
    assert g.tilt_deg == pytest.approx(15, abs=1e-6)
    for k, p in enumerate(positions):
        assert np.allclose((g.affine @ [k, 0, 0, 1])[:3], p)


def test_cluster_positions_groups_repeats() -> None:
    groups = geometry.cluster_positions([5.0, 0.0, 5.000001, 10.0, 0.0])
    assert groups == [[1, 4], [0, 2], [3]]


def test_orientation_problems_are_named() -> None:
    assert geometry.orientation_problem(AXIAL) is None
    assert "orthogonal" in (geometry.orientation_problem((1, 0, 0, 0.5, 0.866, 0)) or "")
    assert "non-unit" in (geometry.orientation_problem((2, 0, 0, 0, 1, 0)) or "")


def test_mosaic_untile_reads_tiles_row_by_row() -> None:
    tiles = np.arange(5)[:, None, None] * np.ones((5, 2, 3), int)
    grid = np.zeros((6, 9), int)  # 3x3 tiles of 2x3, the last four empty
    for i in range(5):
        r, c = divmod(i, 3)
        grid[2 * r:2 * r + 2, 3 * c:3 * c + 3] = tiles[i]
    assert np.array_equal(untile(grid, 5, 2, 3), tiles)


def test_mosaic_position_moves_to_first_tile() -> None:
    # 4x4 mosaic of 64x64 tiles, axial, 3 mm pixels: centre shift of 96 pixels each way
    p = corrected_position([-100.0, -120.0, 7.0], list(AXIAL), (3.0, 3.0), (256, 256), (64, 64))
    assert np.allclose(p, [-100 + 96 * 3, -120 + 96 * 3, 7])


def test_nifti_affine_is_ras_with_column_first() -> None:
    lps = np.array([[0, 0, 0.7, -10], [0, 0.8, 0, 20], [2.5, 0, 0, 30], [0, 0, 0, 1.0]])
    ras = nifti_affine(lps)
    # voxel (i=col, j=row, k=slice) -> LPS via the Volume affine, then negate x and y
    for i, j, k in [(0, 0, 0), (3, 2, 1), (5, 0, 4)]:
        x, y, z = (lps @ [k, j, i, 1])[:3]
        assert np.allclose(ras @ [i, j, k, 1], [-x, -y, z, 1])
