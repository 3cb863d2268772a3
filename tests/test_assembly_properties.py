"""Property tests: synthetic series in any orientation, spacing and file order.

Each synthetic slice is filled with its own generation index, so after loading we know
which slice landed at which array index without trusting the library. The DICOM
standard's formula then says where each voxel must be; the affine must agree.
"""

from __future__ import annotations

import os
import random
import tempfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from dicomdecode import load


def rotation(q: tuple[float, float, float, float]) -> np.ndarray:
    """Rotation matrix from a (not necessarily unit) quaternion."""
    w, x, y, z = np.asarray(q) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def write_slice(path: str, *, study: str, series: str, index: int, ipp: list[float],
                iop: list[float], spacing: tuple[float, float], rows: int, cols: int,
                instance: int) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(path, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "MR", 1, instance
    ds.ImagePositionPatient = [f"{v:.6f}" for v in ipp]
    ds.ImageOrientationPatient = [f"{v:.8f}" for v in iop]
    ds.PixelSpacing = [f"{spacing[0]:.4f}", f"{spacing[1]:.4f}"]
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = np.full((rows, cols), index, dtype="<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    q=st.tuples(*[st.floats(-1, 1) for _ in range(4)]).filter(
        lambda q: np.linalg.norm(q) > 0.2),
    n=st.integers(1, 6),
    gap=st.floats(0.5, 8.0),
    spacing=st.tuples(st.floats(0.3, 4.0), st.floats(0.3, 4.0)),
    origin=st.tuples(*[st.floats(-200, 200) for _ in range(3)]),
    shape=st.tuples(st.integers(2, 5), st.integers(2, 5)),
    seed=st.integers(0, 2**31),
)
def test_affine_maps_every_slice_index_to_its_position(q, n, gap, spacing, origin, shape,
                                                       seed) -> None:
    rot = rotation(q)
    iop = np.round(np.concatenate([rot[:, 0], rot[:, 1]]), 8)
    normal = np.cross(iop[:3], iop[3:])
    positions = [np.round(np.asarray(origin) + k * gap * normal, 6) for k in range(n)]
    study, series = generate_uid(), generate_uid()
    rng = random.Random(seed)
    order = list(range(n))
    rng.shuffle(order)  # file names and instance numbers say nothing about geometry
    with tempfile.TemporaryDirectory() as tmp:
        for j, k in enumerate(order):
            write_slice(os.path.join(tmp, f"f{rng.randrange(10**9)}_{j}"), study=study,
                        series=series, index=k + 1, ipp=list(positions[k]), iop=list(iop),
                        spacing=spacing, rows=shape[0], cols=shape[1],
                        instance=rng.randrange(1, 1000))
        (vol,) = load(tmp)
    assert vol.array.shape == (n, *shape)
    for i in range(n):
        k = int(vol.array[i, 0, 0]) - 1  # which generated slice is at index i
        assert np.all(vol.array[i] == k + 1)
        ds_pos = positions[k]
        np.testing.assert_allclose(vol.affine @ [i, 0, 0, 1], [*ds_pos, 1], atol=1e-5)
        # DICOM PS3.3 C.7.6.2.1.1: pixel (r, c) = IPP + c*RowCos*dCol + r*ColCos*dRow
        r, c = shape[0] - 1, shape[1] - 1
        expected = ds_pos + c * iop[:3] * float(f"{spacing[1]:.4f}") \
            + r * iop[3:] * float(f"{spacing[0]:.4f}")
        np.testing.assert_allclose((vol.affine @ [i, r, c, 1])[:3], expected, atol=1e-5)
    # slices run along +normal (ascending projection), whatever the file order
    if n > 1:
        proj = [vol.affine[:3, 3] @ normal + i * (vol.affine[:3, 0] @ normal) for i in range(n)]
        assert np.all(np.diff(proj) > 0)
