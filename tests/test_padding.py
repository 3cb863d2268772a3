"""Pixel Padding Value: exposed in meta always, masked to NaN only when asked."""

from __future__ import annotations

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

import dicomdecode


def _write_series(folder, stored: np.ndarray, padding: int) -> None:
    series_uid, study_uid = generate_uid(), generate_uid()
    for k, plane in enumerate(stored):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        ds.SOPInstanceUID = generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.Modality, ds.SeriesNumber = "CT", 1
        ds.ImagePositionPatient = [0, 0, 2.0 * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.5, 0.5]
        ds.Rows, ds.Columns = plane.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.PixelPaddingValue = padding
        ds["PixelPaddingValue"].VR = "SS"
        ds.PixelData = plane.astype("<i2").tobytes()
        pydicom.dcmwrite(folder / f"{k}.dcm", ds, enforce_file_format=True)


def test_padding_is_exposed_and_masked_on_request(tmp_path):
    rng = np.random.default_rng(3)
    stored = rng.integers(0, 2000, size=(4, 8, 8), dtype=np.int16)
    stored[:, :2, :] = -2000  # padding outside the scan circle
    _write_series(tmp_path, stored, -2000)

    (plain,) = dicomdecode.load(tmp_path, workers=1)
    assert plain.meta["PixelPaddingValue"] == -2000
    np.testing.assert_array_equal(plain.array, stored.astype(np.int32) - 1024)

    (masked,) = dicomdecode.load(tmp_path, workers=1, mask_padding=True)
    assert masked.array.dtype == np.float32
    expected = np.where(stored == -2000, np.nan, stored.astype(np.float32) - 1024)
    np.testing.assert_array_equal(masked.array, expected)  # NaN compare equal here
    assert masked.meta["PaddingMaskedVoxels"] == int((stored == -2000).sum())
