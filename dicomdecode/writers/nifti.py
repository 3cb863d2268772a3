"""NIfTI writer: ``.nii.gz`` via nibabel plus a JSON sidecar of key metadata.

The image comes from ``Volume.to_nifti()`` (RAS, x/y/z[/t]) so geometry has one source of
truth. The sidecar uses BIDS-style names where they exist (times in seconds, as BIDS and
dcm2niix write them) and keeps the full provenance under ``dicomdecode``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nibabel as nib
import numpy as np

from dicomdecode.writers import atomic_path, jsonable, output_paths, volume_metadata, write_json

if TYPE_CHECKING:
    from dicomdecode.volume import Volume

# DICOM keyword -> (sidecar key, factor): ms -> s for times, like BIDS.
_SIDECAR_KEYS: dict[str, tuple[str, float | None]] = {
    "Modality": ("Modality", None),
    "Manufacturer": ("Manufacturer", None),
    "ManufacturerModelName": ("ManufacturersModelName", None),
    "MagneticFieldStrength": ("MagneticFieldStrength", None),
    "SeriesDescription": ("SeriesDescription", None),
    "ProtocolName": ("ProtocolName", None),
    "SeriesNumber": ("SeriesNumber", None),
    "SeriesInstanceUID": ("SeriesInstanceUID", None),
    "StudyInstanceUID": ("StudyInstanceUID", None),
    "ImageType": ("ImageType", None),
    "BodyPartExamined": ("BodyPartExamined", None),
    "SliceThickness": ("SliceThickness", None),
    "SpacingBetweenSlices": ("SpacingBetweenSlices", None),
    "EchoTime": ("EchoTime", 0.001),
    "RepetitionTime": ("RepetitionTime", 0.001),
    "InversionTime": ("InversionTime", 0.001),
    "FlipAngle": ("FlipAngle", None),
    "EchoNumbers": ("EchoNumber", None),
    "KVP": ("KVP", None),
    "ConvolutionKernel": ("ConvolutionKernel", None),
    "PhotometricInterpretation": ("PhotometricInterpretation", None),
}


def sidecar(volume: Volume) -> dict[str, Any]:
    """Key metadata of ``volume`` for the JSON sidecar (BIDS names; provenance nested)."""
    meta = volume.meta or {}
    out: dict[str, Any] = {}
    for keyword, (key, factor) in _SIDECAR_KEYS.items():
        value = meta.get(keyword)
        if value in (None, ""):
            continue
        value = jsonable(value)
        if factor is not None:
            try:
                value = round(float(value) * factor, 9)
            except (TypeError, ValueError):
                pass
        out[key] = value
    out["VoxelSpacing"] = [round(v, 6) for v in volume.spacing]
    out["dicomdecode"] = volume_metadata(volume)
    return out


def usable_affine(volume: Volume) -> Volume:
    """``volume`` itself, or a copy whose singular affine (images without geometry, e.g.
    secondary capture) is completed to an invertible one, as NIfTI needs; says so in
    ``warnings``. Non-zero columns are kept; missing directions become orthogonal unit
    vectors (1 mm)."""
    m = np.asarray(volume.affine, dtype=float)[:3, :3]
    if np.isfinite(m).all() and abs(np.linalg.det(m)) > 1e-9:
        return volume
    m = np.nan_to_num(m)
    u, s, vt = np.linalg.svd(m)
    s = np.where(s > 1e-9, s, 1.0)
    affine = np.array(volume.affine, dtype=float)
    affine[:3, :3] = u @ np.diag(s) @ vt
    affine[:3, 3] = np.nan_to_num(affine[:3, 3])
    note = ("no usable geometry in the header (singular affine): "
            "unit spacing and orthogonal axes assumed for NIfTI")
    return dataclasses.replace(volume, affine=affine, warnings=[*volume.warnings, note])


def nifti_safe_dtype(volume: Volume) -> Volume:
    """``volume``, or a copy with 64-bit integers narrowed to a type NIfTI readers accept
    (nibabel refuses int64/uint64 by default): int32/uint32 when every value fits exactly,
    else float64 (noted in ``warnings``)."""
    arr = volume.array
    if arr.dtype not in (np.int64, np.uint64):
        return volume
    lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
    for candidate in (np.uint8, np.int16, np.uint16, np.int32, np.uint32):
        info = np.iinfo(candidate)
        if info.min <= lo and hi <= info.max:
            return dataclasses.replace(volume, array=arr.astype(candidate))
    note = f"{arr.dtype} values beyond 32 bits stored as float64 in NIfTI"
    return dataclasses.replace(volume, array=arr.astype(np.float64),
                               warnings=[*volume.warnings, note])


def write_nifti(volume: Volume, base: Path) -> list[Path]:
    """Write ``base.nii.gz`` and ``base.json``; return both paths (image first)."""
    image_path, json_path = output_paths(base, "nifti")
    volume = nifti_safe_dtype(usable_affine(volume))
    img = volume.to_nifti()
    with atomic_path(image_path) as tmp:
        nib.save(img, str(tmp))
    write_json(json_path, sidecar(volume))
    return [image_path, json_path]


__all__ = ["write_nifti", "sidecar"]
