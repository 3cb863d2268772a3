"""NIfTI writer: ``.nii.gz`` (or ``.nii``), a BIDS sidecar as dcm2niix writes it, and the
per-slice provenance in its own file.

The layout is the one ``Volume.to_nifti()`` gives (:func:`dicomdecode.nifti.nifti_stream_layout`:
RAS, x/y/z[/t], without its voxels), so geometry has one source of truth; the header bytes
are built without nibabel (:mod:`dicomdecode.writers.nifti_header` says why: its import alone
costs more than dcm2niix's whole run), equal to the ones nibabel writes for that image; the
fields dcm2niix fills (descrip, dim_info, slice_code, TR) come from the same acquisition facts
as the sidecar (:mod:`dicomdecode.writers.metadata`).

The voxels are streamed, not handed to ``nibabel.save``: the volume's own C-order array is
NIfTI's x-fastest order (the affine describes our axes, so nothing is reoriented), and it is
cast to the compact dtype (:mod:`dicomdecode.writers.compact`) one slice block at a time
straight into a gzip stream compressed on several threads (:mod:`dicomdecode.writers.stream`).
No whole-volume copy is made; the extra memory is a few blocks.

``convert`` may hand over a volume of stored values with its plan
(:class:`~dicomdecode.writers.compact.StoredValues`): those are written as they are, with
the rescale as scl_slope/scl_inter, as dcm2niix writes them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dicomdecode.nifti import nifti_stream_layout
from dicomdecode.writers import atomic_path, output_paths, write_json
from dicomdecode.writers.compact import (
    Storage,
    StoredValues,
    blocks,
    choose_storage,
    stored_storage,
)
from dicomdecode.writers.metadata import (
    acquisition,
    bids_sidecar,
    diffusion_tables,
    nifti_header_fields,
    provenance,
)
from dicomdecode.writers.nifti_header import nifti1_header
from dicomdecode.writers.settings import WriteOptions
from dicomdecode.writers.stream import open_output

if TYPE_CHECKING:
    from dicomdecode.scan.flavours.acquisition import Acquisition
    from dicomdecode.volume import Volume

def sidecar(volume: Volume, acq: Acquisition | None = None,
            storage: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON sidecar: dcm2niix's BIDS keys (:func:`metadata.bids_sidecar`), plus, under
    ``dicomdecode``, our warnings about the volume when there are any and how the writer
    stored the voxels (``storage``: array dtype, stored dtype, scl_slope/scl_inter)."""
    out = bids_sidecar(volume, acq)
    ours: dict[str, Any] = {}
    if volume.warnings:
        ours["warnings"] = list(volume.warnings)
    if storage:
        ours["storage"] = storage
    if ours:
        out["dicomdecode"] = ours
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


def write_nifti(volume: Volume, base: Path, options: WriteOptions | None = None,
                stored: StoredValues | None = None) -> list[Path]:
    """Write ``base.nii.gz`` (``base.nii`` when ``options.compress`` is off), its sidecar
    ``base.json``, ``base_slices.json`` (the volume's geometry and per-slice provenance)
    and, for a diffusion series, ``base.bval`` / ``base.bvec``; return the paths (image
    first).

    ``stored``: ``volume.array`` holds the stored values of this plan (convert's
    stored-values road, :func:`~dicomdecode.writers.compact.plan_stored_values`); they
    are written with the plan's scl_slope/scl_inter, whatever ``options.compact``."""
    options = options or WriteOptions()
    image_path, json_path, slices_path = output_paths(base, "nifti",
                                                      compress=options.compress)
    volume = nifti_safe_dtype(usable_affine(volume))
    acq = acquisition(volume)
    layout = nifti_stream_layout(volume)
    source = layout.source
    storage = Storage(source.dtype.newbyteorder("<"))  # RGB24: its bytes, as uint8
    rgb24 = layout.dtype.names is not None
    array_dtype = volume.array.dtype
    if stored is not None:
        if rgb24 or source.dtype != stored.stored_dtype:
            raise ValueError(f"a {source.dtype} volume is not the stored values of the plan "
                             f"({stored.stored_dtype}, one sample per pixel)")
        source, storage = stored_storage(source, stored)
        array_dtype = np.dtype(stored.array_dtype)
    elif options.compact_for("nifti") and source.dtype.kind in "iuf" and not rgb24:
        storage = choose_storage(volume, source)
    header = _header(layout.shape, layout.dtype if rgb24 else storage.dtype, layout.affine,
                     storage, nifti_header_fields(volume, acq))
    with atomic_path(image_path) as tmp:
        with open_output(tmp, options, options.compress) as fh:
            fh.write(header)
            for block in blocks(source, storage):
                fh.write(block.reshape(-1).view(np.uint8).data)
    written_as = storage.describe(array_dtype)
    write_json(json_path, sidecar(volume, acq, written_as))
    slices_doc = provenance(volume)
    slices_doc["dtype"] = str(array_dtype)  # load()'s, as on the old road
    write_json(slices_path, slices_doc)
    written = [image_path, json_path, slices_path]
    tables = diffusion_tables(volume, acq)
    if tables is not None:  # diffusion: FSL b-values and vectors, as dcm2niix
        for suffix, text in zip((".bval", ".bvec"), tables, strict=True):
            path = base.with_name(base.name + suffix)
            with atomic_path(path) as tmp:
                tmp.write_text(text)
            written.append(path)
    return written


def _header(shape: tuple[int, ...], dtype: np.dtype, affine: np.ndarray, storage: Storage,
            fields: dict[str, Any]) -> bytes:
    """The header bytes: layout, storage type and scaling, and dcm2niix's fields (descrip,
    dim_info, slice_code, pixdim[4] = TR in s, 0 when none)."""
    dim_info = None
    if fields["phase"] is not None:
        dim_info = (fields["freq"], fields["phase"], fields["slice"])
    return nifti1_header(shape, dtype, affine, slope=storage.slope, inter=storage.inter,
                         descrip=fields["descrip"], dim_info=dim_info,
                         slice_code=fields["slice_code"] or 0, tr=fields["tr"] or 0.0)


__all__ = ["sidecar", "write_nifti"]
