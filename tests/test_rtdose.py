"""RT Dose (pydicom's shipped rtdose.dcm): multi-frame geometry from Grid Frame Offset
Vector and dose in Gy from Dose Grid Scaling, checked against the header's own numbers."""

from __future__ import annotations

import numpy as np
import pydicom
from pydicom.data import get_testdata_file

import dicomdecode


def test_rtdose_frames_are_placed_by_grid_frame_offsets():
    path = get_testdata_file("rtdose.dcm")
    ds = pydicom.dcmread(path)
    (volume,) = dicomdecode.load(path)
    origin = np.array([float(v) for v in ds.ImagePositionPatient])
    row, col = np.array(ds.ImageOrientationPatient[:3], float), np.array(
        ds.ImageOrientationPatient[3:], float)
    normal = np.cross(row, col)
    offsets = [float(v) for v in ds.GridFrameOffsetVector]
    for k, offset in enumerate(offsets):
        expected = origin + (offset - offsets[0]) * normal
        np.testing.assert_allclose(volume.affine @ [k, 0, 0, 1], [*expected, 1], atol=1e-6)
    scaled = ds.pixel_array.astype(np.float64) * float(ds.DoseGridScaling)
    np.testing.assert_allclose(volume.array, scaled.astype(np.float32), rtol=1e-6)
