"""NumPy writers: ``.npy`` (+ JSON with affine and metadata) or one ``.npz``.

The ``.npz`` holds ``array``, ``affine`` (LPS, maps (slice, row, col, 1)) and ``meta`` (a JSON
string as a 0-d unicode array), so ``numpy.load(path)`` works without ``allow_pickle``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dicomdecode.writers import atomic_path, jsonable, output_paths, volume_metadata, write_json
from dicomdecode.writers.compact import Storage, blocks, choose_storage
from dicomdecode.writers.metadata import provenance, slice_provenance
from dicomdecode.writers.settings import WriteOptions

if TYPE_CHECKING:
    from dicomdecode.volume import Volume


def compact_array(volume: Volume, options: WriteOptions | None, fmt: str
                  ) -> tuple[np.ndarray, dict[str, Any]]:
    """The array to store for ``fmt`` and the metadata that says how: ``load()``'s array
    by default; with ``options.compact`` the smallest exact integer form (stored values
    plus ``storage.SclSlope``/``SclInter`` in the metadata when the slope is fractional:
    ``array * SclSlope + SclInter`` restores the volume)."""
    arr = np.ascontiguousarray(volume.array)
    if options is None or not options.compact_for(fmt) or arr.dtype.kind not in "iuf":
        return arr, {}
    storage = choose_storage(volume, arr)
    if storage.dtype == arr.dtype and not storage.scaled:
        return arr, {"storage": storage.describe(arr.dtype)}
    out = np.concatenate(list(blocks(arr, storage))).reshape(arr.shape)
    return out, {"storage": storage.describe(arr.dtype)}


def write_npy(volume: Volume, base: Path, options: WriteOptions | None = None) -> list[Path]:
    """Write ``base.npy`` (the array), ``base.json`` (affine, spacing, metadata) and
    ``base_slices.json`` (that and the per-slice provenance). The array is ``load()``'s
    unless ``options.compact``; it is streamed block by block after the .npy header."""
    array_path, json_path, slices_path = output_paths(base, "npy")
    arr = np.ascontiguousarray(volume.array)
    storage = Storage(arr.dtype.newbyteorder("<"))
    extra: dict[str, Any] = {}
    if options is not None and options.compact_for("npy") and arr.dtype.kind in "iuf":
        storage = choose_storage(volume, arr)
        extra = {"storage": storage.describe(arr.dtype)}
    with atomic_path(array_path) as tmp, open(tmp, "wb") as fh:
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(storage.dtype)),
                  "fortran_order": False, "shape": arr.shape}
        np.lib.format.write_array_header_2_0(fh, header)
        for block in blocks(arr, storage):
            fh.write(block.reshape(-1).view(np.uint8).data)
    write_json(json_path, volume_metadata(volume, extra=extra or None))
    write_json(slices_path, provenance(volume))
    return [array_path, json_path, slices_path]


def write_npz(volume: Volume, base: Path, options: WriteOptions | None = None) -> list[Path]:
    """Write ``base.npz`` with ``array``, ``affine`` and ``meta`` (JSON text, with the
    per-slice provenance under ``slices``: one file holds everything)."""
    (path,) = output_paths(base, "npz")
    array, how = compact_array(volume, options, "npz")
    meta = json.dumps(jsonable(volume_metadata(
        volume, extra={"slices": slice_provenance(volume), **how})))
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, array=array,
                            affine=np.asarray(volume.affine, dtype=np.float64),
                            meta=np.array(meta))
    return [path]


def read_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Read back what :func:`write_npz` wrote: ``(array, affine, meta)``."""
    with np.load(path, allow_pickle=False) as z:
        return z["array"], z["affine"], json.loads(str(z["meta"]))


__all__ = ["compact_array", "write_npy", "write_npz", "read_npz"]
