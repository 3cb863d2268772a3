"""Tilt correction and even resampling against an analytic reference.

A volume whose voxel values are a linear function of their patient position is sampled on
a sheared (gantry-tilted) grid with uneven gaps. Linear interpolation reproduces a linear
function exactly, so every voxel of a resampled copy must equal that function at the
position the copy's affine gives the voxel: geometry and values checked together, with no
reference computed by the code under test. (dcm2niix's own copies are compared in
test_dcm2niix_oracle.py.)
"""

from __future__ import annotations

import numpy as np
import pytest

from dicomdecode import Options
from dicomdecode.assemble.resample import (
    equalize_spacing,
    even_grid,
    resampled_copy,
    tilt_correct,
)
from dicomdecode.volume import SliceInfo, Volume

ROWS, COLS = 40, 32
PS = 0.5  # mm, rows and columns
TILT = np.radians(15.0)
GRADIENT = np.array([0.3, -1.7, 2.9])  # value = GRADIENT . position + 100


def _value(points: np.ndarray) -> np.ndarray:
    return points @ GRADIENT + 100.0


def _world(affine: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)
    return idx @ affine[:3, :3].T + affine[:3, 3]


def _tilted_volume(z_positions: list[float], tilt: float = TILT) -> Volume:
    """Axial-ish slices (rows tilted by `tilt` about x) stepping along z, like a tilted CT."""
    row_dir = np.array([0.0, np.cos(tilt), -np.sin(tilt)])  # column cosine: rows grow along it
    col_dir = np.array([1.0, 0.0, 0.0])
    p0 = np.array([-8.0, -10.0, 20.0])
    positions = [p0 + np.array([0, 0, z]) for z in z_positions]
    data = np.empty((len(positions), ROWS, COLS), np.float32)
    slices = []
    for s, p in enumerate(positions):
        aff = np.eye(4)
        aff[:3, 1], aff[:3, 2], aff[:3, 3] = row_dir * PS, col_dir * PS, p
        data[s] = _value(_world(aff, (1, ROWS, COLS))[0])
        slices.append(SliceInfo(path=f"{s}.dcm", sop_instance_uid=str(s), frame=0,
                                position=tuple(p), slope=1.0, intercept=0.0,
                                transfer_syntax="", handler=""))
    affine = np.eye(4)
    affine[:3, 0] = (positions[-1] - positions[0]) / (len(positions) - 1)
    affine[:3, 1], affine[:3, 2], affine[:3, 3] = row_dir * PS, col_dir * PS, positions[0]
    gaps = np.diff(z_positions)
    warnings = ["gantry tilt of 15 degrees"]
    if np.ptp(gaps) > 1e-6:
        warnings.append("irregular slice spacing")
    return Volume(array=data, affine=affine, slices=slices, warnings=warnings,
                  meta={"GantryTiltDegrees": 15.0})


def _assert_linear_field(volume: Volume, fill: float) -> None:
    """Every non-padding voxel equals the field at its affine position, except at most one
    edge row per slice: dcm2niix repeats a slice's first row into the row before it (a
    voxel up to one row outside the image), and so do we, to match its copies."""
    expected = _value(_world(volume.affine, volume.array.shape))
    real = volume.array != fill
    assert real.mean() > 0.5  # most of the copy is image, not padding
    wrong = real & ~np.isclose(volume.array, expected, atol=2e-3, rtol=0)
    rows_wrong = wrong.any(axis=2).sum(axis=1)
    assert rows_wrong.max() <= 1, rows_wrong


def test_tilt_correct_puts_every_voxel_where_its_affine_says() -> None:
    volume = _tilted_volume([0.0, 2.0, 4.0, 6.0, 8.0, 10.0])
    fill = float(volume.array.min())
    out = tilt_correct(volume)
    # orthogonal grid: slice axis along the plane normal
    normal = np.cross(volume.affine[:3, 2], volume.affine[:3, 1])
    assert abs(abs(out.affine[:3, 0] @ normal) / np.linalg.norm(out.affine[:3, 0])
               / np.linalg.norm(normal) - 1) < 1e-9
    assert out.array.shape[1] > ROWS  # grown by the shift
    _assert_linear_field(out, fill)


def test_equalize_spacing_uses_dcm2niix_grid_and_interpolates_exactly() -> None:
    z = [0.0, 1.0, 2.0, 3.0, 7.0, 11.0, 15.0]
    volume = _tilted_volume(z, tilt=0.0)  # tilt and _Eq together: see the dcm2niix test
    out = equalize_spacing(volume)
    step, count = even_grid(np.array(z))
    assert out.array.shape[0] == count
    assert np.linalg.norm(out.affine[:3, 0]) == pytest.approx(step)
    _assert_linear_field(out, float(volume.array.min()) - 1)  # no padding: every voxel
    assert len(out.slices) == 0  # interpolated slices have no source file


def test_even_grid_follows_dcm2niix_fence_post_and_cap() -> None:
    # smallest gap 1; reaches the last slice less half its gap: ceil((10 - 2.5) / 1) = 8
    assert even_grid(np.array([0.0, 1.0, 5.0, 10.0])) == (1.0, 8)
    # more than twice the slices: capped at 2n, step widened to span the stack
    step, count = even_grid(np.array([0.0, 0.1, 50.0]))
    assert count == 6 and step == pytest.approx(10.0)
    assert even_grid(np.array([0.0, 1.0])) is None  # fewer than 3 slices
    assert even_grid(np.array([0.0, 1.0, 1.0, 2.0])) is None  # repeated position


def test_resampled_copy_names_follow_dcm2niix_and_only_when_needed() -> None:
    tilted_uneven = _tilted_volume([0.0, 1.0, 2.0, 5.0, 8.0])
    assert resampled_copy(tilted_uneven, True, True)[0] == "_Tilt_Eq"
    assert resampled_copy(tilted_uneven, True, False)[0] == "_Tilt"
    assert resampled_copy(tilted_uneven, False, True)[0] == "_Eq"
    assert resampled_copy(tilted_uneven, False, False) is None
    even = _tilted_volume([0.0, 2.0, 4.0])
    even.meta["GantryTiltDegrees"] = 0.0
    assert resampled_copy(even, True, True) is None


def test_options_check_the_resample_flags() -> None:
    assert Options(tilt_correct=True, equalize_spacing=True).tilt_correct is True
    with pytest.raises(ValueError, match="tilt_correct"):
        Options(tilt_correct="yes")  # type: ignore[arg-type]
