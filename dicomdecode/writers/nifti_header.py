"""The 348-byte NIfTI-1 header (plus the 4-byte extension flag), built with numpy alone.

Why not nibabel here: ``import nibabel`` costs about 0.7 s (its ``nifti1`` module imports
pydicom, whose ``pixels`` package imports every decoder plugin), more than dcm2niix's whole
run on a 300-slice CT, so a ``convert`` that imported it could never be faster than
dcm2niix. The header is a fixed little-endian struct, so it is written here field by field
with the same values nibabel's ``Nifti1Image`` + ``set_qform`` / ``set_sform`` give (the
qform by the same rule: polar decomposition of the direction matrix, then the quaternion as
the dominant eigenvector of Bar-Itzhack's symmetric matrix). nibabel stays the reader, and
the independent reference in the tests (the header written here is compared with the one
nibabel builds, byte by byte, and nibabel reads every file back); ``Volume.to_nifti()``
still returns a nibabel image.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: NIfTI-1 header layout (nifti1.h), little-endian, 348 bytes.
HEADER_DTYPE = np.dtype([
    ("sizeof_hdr", "<i4"), ("data_type", "S10"), ("db_name", "S18"), ("extents", "<i4"),
    ("session_error", "<i2"), ("regular", "S1"), ("dim_info", "u1"), ("dim", "<i2", (8,)),
    ("intent_p1", "<f4"), ("intent_p2", "<f4"), ("intent_p3", "<f4"),
    ("intent_code", "<i2"), ("datatype", "<i2"), ("bitpix", "<i2"), ("slice_start", "<i2"),
    ("pixdim", "<f4", (8,)), ("vox_offset", "<f4"), ("scl_slope", "<f4"),
    ("scl_inter", "<f4"), ("slice_end", "<i2"), ("slice_code", "u1"), ("xyzt_units", "u1"),
    ("cal_max", "<f4"), ("cal_min", "<f4"), ("slice_duration", "<f4"), ("toffset", "<f4"),
    ("glmax", "<i4"), ("glmin", "<i4"), ("descrip", "S80"), ("aux_file", "S24"),
    ("qform_code", "<i2"), ("sform_code", "<i2"), ("quatern_b", "<f4"),
    ("quatern_c", "<f4"), ("quatern_d", "<f4"), ("qoffset_x", "<f4"), ("qoffset_y", "<f4"),
    ("qoffset_z", "<f4"), ("srow_x", "<f4", (4,)), ("srow_y", "<f4", (4,)),
    ("srow_z", "<f4", (4,)), ("intent_name", "S16"), ("magic", "S4"),
])
assert HEADER_DTYPE.itemsize == 348

#: Header, then the 4 zero bytes that say "no extensions": the voxels start here.
VOX_OFFSET = 352

#: RGB24 voxels (one byte triple per voxel), as :data:`dicomdecode.nifti.RGB24`.
_RGB24 = np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1")])

#: numpy type -> NIfTI-1 datatype code (bitpix is the item size in bits).
DATATYPE_CODES: dict[np.dtype, int] = {
    np.dtype(np.uint8): 2, np.dtype(np.int16): 4, np.dtype(np.int32): 8,
    np.dtype(np.float32): 16, np.dtype(np.complex64): 32, np.dtype(np.float64): 64,
    _RGB24: 128, np.dtype(np.int8): 256, np.dtype(np.uint16): 512,
    np.dtype(np.uint32): 768, np.dtype(np.int64): 1024, np.dtype(np.uint64): 1280,
    np.dtype(np.complex128): 1792,
}

NIFTI_UNITS_MM = 2
NIFTI_UNITS_SEC = 8
XFORM_SCANNER_ANAT = 1


def datatype_code(dtype: np.dtype) -> tuple[int, int]:
    """(datatype, bitpix) of a voxel type, whatever its byte order (the stream is written
    little-endian); ValueError for a type NIfTI-1 has no code for."""
    dtype = np.dtype(dtype)
    key = dtype if dtype.names is not None else dtype.newbyteorder("=")
    try:
        return DATATYPE_CODES[key], dtype.itemsize * 8
    except KeyError:
        raise ValueError(f"NIfTI-1 has no datatype for {dtype}") from None


def quaternion(rotation: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z), w >= 0, of a proper rotation matrix: the eigenvector of
    the largest eigenvalue of Bar-Itzhack's symmetric 4x4 matrix (robust to a matrix that is
    only nearly orthogonal); the rule nibabel's ``quaternions.mat2quat`` uses, so the header
    fields round to the same float32 numbers."""
    (xx, yx, zx), (xy, yy, zy), (xz, yz, zz) = rotation
    k = np.array([
        [xx - yy - zz, 0, 0, 0],
        [yx + xy, yy - xx - zz, 0, 0],
        [zx + xz, zy + yz, zz - xx - yy, 0],
        [yz - zy, zx - xz, xy - yx, xx + yy + zz],
    ]) / 3.0
    values, vectors = np.linalg.eigh(k)  # reads the lower triangle
    q = vectors[[3, 0, 1, 2], np.argmax(values)]
    return -q if q[0] < 0 else q


def qform_fields(affine: np.ndarray) -> dict[str, Any]:
    """qfac, voxel sizes, quaternion (b, c, d) and offsets of the qform that is closest to
    ``affine``: the columns' lengths are the voxel sizes; a left-handed direction matrix
    gets qfac -1 and its last column negated; shear is dropped by taking the nearest
    orthogonal matrix (polar decomposition, U @ Vt of its SVD), as NIfTI's qform can only
    hold a rotation."""
    affine = np.asarray(affine, dtype=np.float64)
    rzs = affine[:3, :3]
    zooms = np.sqrt(np.sum(rzs * rzs, axis=0))
    rotation = rzs / zooms
    qfac = 1.0
    if np.linalg.det(rotation) <= 0:
        qfac = -1.0
        rotation[:, -1] *= -1
    u, _, vt = np.linalg.svd(rotation)
    q = quaternion(u @ vt)
    return {"qfac": qfac, "zooms": zooms, "bcd": q[1:], "offset": affine[:3, 3]}


def nifti1_header(shape: tuple[int, ...], dtype: np.dtype, affine: np.ndarray, *,
                  slope: float | None = None, inter: float | None = None,
                  descrip: str = "", dim_info: tuple[int, int, int] | None = None,
                  slice_code: int = 0, tr: float = 0.0) -> bytes:
    """The 352 bytes before the voxels of a single-file ``.nii``: header and empty extension
    flag.

    ``shape`` is NIfTI's (x, y, z[, t][, samples]); ``affine`` maps it to RAS and is both the
    sform and (rotation part only) the qform, codes 1 (scanner); units mm and s. ``slope`` /
    ``inter`` are scl_slope / scl_inter (NaN when None: no scaling); ``dim_info`` is
    (freq, phase, slice) axes; ``tr`` goes to pixdim[4] (seconds, 0 when unknown)."""
    if not 1 <= len(shape) <= 7:
        raise ValueError(f"NIfTI-1 holds 1 to 7 dimensions, not {len(shape)}")
    if any(not 0 <= n <= np.iinfo(np.int16).max for n in shape):
        raise ValueError(f"shape {shape} does not fit NIfTI-1's 16-bit dimensions")
    code, bitpix = datatype_code(dtype)
    h = np.zeros((), dtype=HEADER_DTYPE)
    h["sizeof_hdr"] = 348
    h["dim"] = 1
    h["dim"][0] = len(shape)
    h["dim"][1:len(shape) + 1] = shape
    h["datatype"], h["bitpix"] = code, bitpix
    q = qform_fields(affine)
    h["pixdim"] = 1.0
    h["pixdim"][0] = q["qfac"]
    h["pixdim"][1:4] = q["zooms"]
    h["pixdim"][4] = tr or 0.0
    h["quatern_b"], h["quatern_c"], h["quatern_d"] = q["bcd"]
    h["qoffset_x"], h["qoffset_y"], h["qoffset_z"] = q["offset"]
    srows = np.asarray(affine, dtype=np.float64)
    h["srow_x"], h["srow_y"], h["srow_z"] = srows[0], srows[1], srows[2]
    h["qform_code"] = h["sform_code"] = XFORM_SCANNER_ANAT
    h["vox_offset"] = VOX_OFFSET
    h["scl_slope"] = np.nan if slope is None else slope
    h["scl_inter"] = np.nan if slope is None else (0.0 if inter is None else inter)
    h["xyzt_units"] = NIFTI_UNITS_MM | NIFTI_UNITS_SEC
    h["descrip"] = descrip.encode("ascii", "replace")[:80]
    if dim_info is not None:
        freq, phase, slice_ = dim_info
        h["dim_info"] = ((freq + 1) & 3) | (((phase + 1) & 3) << 2) | (((slice_ + 1) & 3) << 4)
    h["slice_code"] = slice_code
    h["magic"] = b"n+1"
    return h.tobytes() + b"\x00" * 4


__all__ = ["HEADER_DTYPE", "VOX_OFFSET", "datatype_code", "nifti1_header", "qform_fields",
           "quaternion"]
